"""Benchmarks: `python -m benchmarks.<name>`; results go to benchmarks/out/ (not committed)."""
