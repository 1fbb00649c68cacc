"""Fixtures for the transport tests (helpers live in transport_support.py, imported by name)."""

from transport_support import _home, miner, snapshot, wallets  # noqa: F401  (pytest fixtures)
