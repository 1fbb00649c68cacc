"""Fixtures for the fuzz tests: the transport tests' wallets, snapshot and HOME isolation are reused
(their helper module is imported by name, not copied)."""

import sys
from pathlib import Path

_TRANSPORT = str(Path(__file__).resolve().parents[1] / "vidaio" / "transport")
if _TRANSPORT not in sys.path:
    sys.path.insert(0, _TRANSPORT)

from transport_support import _home, snapshot, wallets  # noqa: E402, F401  (pytest fixtures)
