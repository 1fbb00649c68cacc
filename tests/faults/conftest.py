"""Fixtures for the fault-injection tests. The validator and miner tests' helpers (one-process subnet,
strategies, miner worlds and processes) are reused, not copied: their modules are imported by name."""

import sys
from pathlib import Path

for _sub in ("validator", "miner"):
    _path = str(Path(__file__).resolve().parents[1] / "vidaio" / _sub)
    if _path not in sys.path:
        sys.path.insert(0, _path)

from validator_support import _home, s3, wallet_dir  # noqa: E402, F401  (pytest fixtures)
