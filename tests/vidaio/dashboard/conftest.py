"""Fixtures for the dashboard tests (they live in dashboard_support.py, imported by name)."""

from dashboard_support import dashboard, seeded_db  # noqa: F401  (pytest fixtures)
