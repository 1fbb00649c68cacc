"""Where the daemons' heavy jobs run: `local` (worker pools in the daemon, the default) or `ray`.

- `config`: `ExecutorName` and the `VIDAIO_RAY__*` section (`RaySettings`);
- `base`: the seam, `MinerExecutor` and `ScoringExecutor` (the local pools implement them);
- `factory`: picks the implementation from the settings; Ray is imported only when chosen;
- `cluster`, `ray_miner`, `ray_scoring`: the Ray implementation (import `ray`).

Kept import-free so that importing the package never imports Ray.
"""
