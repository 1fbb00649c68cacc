"""Fixtures for the database tests (helpers live in db_support.py, imported by name)."""

from db_support import db_cfg, migrated_template, repo, scoring_cfg  # noqa: F401  (pytest fixtures)
