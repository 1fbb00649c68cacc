"""The miner daemon: config, task handler, worker pool, run loop (docs/protocol.md)."""
