"""Suite-wide settings: strict skips in CI (tests/strict_skips.py) and a fixed hypothesis profile.

Hypothesis: profile "ci" (derandomized: the same examples on every run, no deadline on a busy
machine) is loaded when `CI=true` or `VIDAIO_STRICT_SKIPS=1`; "dev" (random, the default settings)
otherwise. `HYPOTHESIS_PROFILE=name` picks one explicitly.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

from tests.strict_skips import pytest_report_header, pytest_runtest_makereport, strict  # noqa: F401 (hooks)

settings.register_profile(
    "ci", derandomize=True, deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev")
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE")
    or ("ci" if strict() or os.environ.get("CI", "").lower() in {"1", "true", "yes"} else "dev")
)
