"""docs/scoring.md#compression-score and the seed's compression scenarios: C, VMAF threshold, S_f."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import ScoringConfig, compression_rate, compression_score

CFG = ScoringConfig(_env_file=None)

# Seed 003, "Performance Analysis Examples": (C, VMAF, threshold, compression term, quality term, S_f).
# The seed rounds each term before summing, so "Average" reads 0.331 + 0.033 = 0.364 (exact 0.3648).
SCENARIOS = [
    ("excellent", 0.3, 85, 70, 0.669, 0.100, 0.769),
    ("good", 0.5, 80, 70, 0.517, 0.067, 0.584),
    ("average", 0.7, 75, 70, 0.331, 0.033, 0.364),
    ("poor quality", 0.4, 65, 70, 0.0, 0.0, 0.000),
    ("no compression", 1.0, 90, 70, 0.000, 0.133, 0.133),
]


@pytest.mark.parametrize(("name", "c", "vmaf", "thr", "c_term", "q_term", "s_f"), SCENARIOS)
def test_seed_scenarios(name: str, c: float, vmaf: float, thr: float, c_term: float, q_term: float, s_f: float) -> None:
    b = compression_score(c, vmaf, thr, CFG)
    assert b.compression_term == pytest.approx(c_term, abs=1e-3), name
    assert b.quality_term == pytest.approx(q_term, abs=1e-3), name
    assert b.s_f == pytest.approx(s_f, abs=1e-3), name
    assert b.vmaf_passed == (vmaf >= thr)


def test_rate_at_or_above_one_has_no_compression_term() -> None:
    assert compression_score(1.5, 100, 70, CFG).compression_term == 0.0
    assert compression_score(1.5, 100, 70, CFG).s_f == pytest.approx(0.2)


def test_compression_rate_from_sizes() -> None:
    assert compression_rate(300, 1000) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="original size"):
        compression_rate(10, 0)
    with pytest.raises(ValueError, match="compressed size"):
        compression_rate(-1, 10)


@pytest.mark.parametrize(
    ("c", "vmaf", "thr", "match"),
    [(-0.1, 80, 70, "compression rate"), (math.nan, 80, 70, "compression rate"), (0.5, 100.5, 70, "VMAF"),
     (0.5, 80, 100, "threshold"), (0.5, 80, -1, "threshold")],
)
def test_rejects_bad_input(c: float, vmaf: float, thr: float, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        compression_score(c, vmaf, thr, CFG)


rates = st.floats(0, 3)
vmafs = st.floats(0, 100)
thresholds = st.floats(0, 99.9)


@settings(deadline=None)
@given(rates, vmafs, thresholds)
def test_score_in_unit_interval(c: float, vmaf: float, thr: float) -> None:
    assert 0.0 <= compression_score(c, vmaf, thr, CFG).s_f <= 1.0


@settings(deadline=None)
@given(rates, rates, vmafs, thresholds)
def test_non_increasing_in_rate(c1: float, c2: float, vmaf: float, thr: float) -> None:
    lo, hi = sorted((c1, c2))
    assert compression_score(hi, vmaf, thr, CFG).s_f <= compression_score(lo, vmaf, thr, CFG).s_f


@settings(deadline=None)
@given(rates, vmafs, vmafs, thresholds)
def test_non_decreasing_in_vmaf_above_threshold(c: float, v1: float, v2: float, thr: float) -> None:
    lo, hi = sorted((v1, v2))
    if lo < thr:
        return
    assert compression_score(c, lo, thr, CFG).s_f <= compression_score(c, hi, thr, CFG).s_f


@settings(deadline=None)
@given(rates, vmafs, thresholds)
def test_below_threshold_scores_zero(c: float, vmaf: float, thr: float) -> None:
    b = compression_score(c, vmaf, thr, CFG)
    assert (b.s_f == 0.0) or vmaf >= thr
