"""Pytest plugin: with `VIDAIO_STRICT_SKIPS=1` (set by `make test` when `CI=true`) a skipped test FAILS.

Skips here are machine-dependent (no tmpfs mount privilege, no ncnn runtime libraries, no node/pm2):
on a developer machine they skip with the reason; in CI the machine is expected to have them, so a
skip means the regression net went blind and must not look green. Loaded by tests/conftest.py.
"""

from __future__ import annotations

import os
from collections.abc import Generator
from typing import Any

import pytest

STRICT_ENV = "VIDAIO_STRICT_SKIPS"


def strict() -> bool:
    return os.environ.get(STRICT_ENV, "").strip().lower() in {"1", "true", "yes", "on"}


def pytest_report_header(config: pytest.Config) -> str:
    return f"{STRICT_ENV}={'1: machine-dependent skips fail' if strict() else '0: skips allowed'}"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Generator[None, Any, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if report.skipped and strict() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} would be skipped ({reason}), but {STRICT_ENV}=1 (CI): this machine must be able "
            "to run it (see scripts/setup.sh for what it needs)"
        )
