"""Prometheus metrics of the daemons (off by default; `VIDAIO_PROMETHEUS__ENABLED=true`).

`config`: the `prometheus` settings section. `exporter`: the `/metrics` HTTP endpoint on its own
port. `miner` / `validator`: each daemon's metric families and the small hooks that feed them.
Every daemon owns its own `CollectorRegistry` (no process-global state), so tests can build
several daemons in one process.
"""
