"""Fixtures for the exploit suite. The validator tests' one-process subnet (chain file, moto S3, real
signed miners playing strategies) is reused, not copied: its helper modules are imported by name."""

import sys
from pathlib import Path

_VALIDATOR = str(Path(__file__).resolve().parents[1] / "vidaio" / "validator")
if _VALIDATOR not in sys.path:
    sys.path.insert(0, _VALIDATOR)

from validator_support import _home, s3, wallet_dir  # noqa: E402, F401  (pytest fixtures)
