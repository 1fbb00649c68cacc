"""The validator daemon (issue 8). Modules, by domain:

- `config`: `ValidatorSettings` (section `VIDAIO_VALIDATOR__*`), `ValidatorConfig`, the sampling secret;
- `roster`: metagraph + capabilities (cached) -> the round plan (who gets which clip, seeded);
- `tasks`: prepared clips from synthesis, uploaded and presigned; deterministic round and task ids;
- `kinds`: what differs between compression and upscaling (`TaskKind`), the scoring jobs;
- `dispatch`: signed task requests under deadlines;
- `judge`: failure names, fetch, duplicates, validation + metrics (`scoring.evaluate`) -> `RoundResult`;
- `pool`: the bounded scoring pool (processes or threads), generic over the jobs;
- `weights`: docs/scoring.md#weights weights through the chain port, retried, every attempt stored;
- `loop`: one round, and rounds until stopped; `daemon`: build, signals, `main`.

Kept import-free: scoring worker processes import `vidaio.validator.pool` and `kinds` only.
"""
