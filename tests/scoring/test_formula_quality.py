"""docs/scoring.md#metrics: PIE-APP normalisation to S_Q_pieapp."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import ScoringConfig, pieapp_to_quality

CFG = ScoringConfig(_env_file=None)


@pytest.mark.parametrize(("raw", "expected"), [(0.0, 1.0), (0.5, 0.600), (1.0, 0.314), (2.0, 0.0)])
def test_spec_table(raw: float, expected: float) -> None:
    assert pieapp_to_quality(raw, CFG) == pytest.approx(expected, abs=1e-3)


def test_values_above_cap_score_zero() -> None:
    assert pieapp_to_quality(5.0, CFG) == 0.0
    assert pieapp_to_quality(1e9, CFG) == 0.0


def test_cap_is_configurable() -> None:
    cfg = ScoringConfig(_env_file=None, pieapp_cap=4.0)
    assert pieapp_to_quality(4.0, cfg) == pytest.approx(0.0, abs=1e-12)
    assert pieapp_to_quality(2.0, cfg) > 0.0


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, -math.inf])
def test_rejects_bad_raw_scores(bad: float) -> None:
    with pytest.raises(ValueError, match="PIE-APP"):
        pieapp_to_quality(bad, CFG)


@settings(deadline=None)
@given(st.floats(0, 10), st.floats(0, 10))
def test_in_unit_interval_and_non_increasing(a: float, b: float) -> None:
    lo, hi = sorted((a, b))
    q_lo, q_hi = pieapp_to_quality(lo, CFG), pieapp_to_quality(hi, CFG)
    assert 0.0 <= q_hi <= q_lo <= 1.0
