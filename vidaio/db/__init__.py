"""Persistence: the validator's SQLite database (docs/operators-sql.md#tables).

- `config.DbConfig`: the `VIDAIO_DB__*` settings.
- `engine.make_engine`: the mandatory SQLite recipe (WAL, BEGIN IMMEDIATE, busy timeout, FKs).
- `models`: SQLAlchemy tables; `migrate.upgrade_to_head`: alembic, run by the daemons at start.
- `repository.Repository`: the validator's writes and reads (`record_result`, rounds, weight sets).
- `queries`: read-only reads for operator tools (`vidaio db ...`, `vidaio plot ...`).
"""
