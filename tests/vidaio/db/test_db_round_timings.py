"""rounds.timings (revision 0002): finish_round stores the round's time breakdown."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vidaio.db.engine import make_engine
from vidaio.db.models import Round
from vidaio.db.repository import Repository


def test_finish_round_stores_timings(repo: Repository) -> None:
    repo.start_round("r1", block=10, task_count=2)
    repo.start_round("r2", block=11, task_count=1)
    repo.finish_round("r1", timings={"prepare_s": 1.23456, "db_s": 0.5, "wall_s": 9.0})
    repo.finish_round("r2", status="failed", message="boom")
    engine = make_engine(repo.path, read_only=True)
    try:
        with Session(engine) as s:
            rows = {r.round_id: r for r in s.scalars(select(Round))}
    finally:
        engine.dispose()
    assert rows["r1"].timings == {"prepare_s": 1.2346, "db_s": 0.5, "wall_s": 9.0}
    assert rows["r1"].status == "finished"
    assert rows["r2"].timings is None and rows["r2"].status == "failed"
