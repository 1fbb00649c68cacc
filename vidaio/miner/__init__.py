"""The miner daemon: config, task handler, worker pool, run loop (SPEC §4, §5)."""
