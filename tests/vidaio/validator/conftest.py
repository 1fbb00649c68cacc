"""Fixtures for the validator tests (helpers live in validator_support.py, imported by name)."""

from validator_support import _home, s3, wallet_dir  # noqa: F401  (pytest fixtures)
