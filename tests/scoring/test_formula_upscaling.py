"""docs/scoring.md#upscaling-score and the seed's upscaling tables: S_L, S_pre, S_F, VMAF gate."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import ScoringConfig, final_score, length_score, pieapp_to_quality, upscaling_score

CFG = ScoringConfig(_env_file=None)

# Seed 003, "Performance Analysis Table" (7 rows).
LENGTH_TABLE = [(5, 0.3105), (10, 0.4155), (20, 0.5275), (40, 0.6434), (80, 0.7614), (160, 0.8804), (320, 1.0000)]
# Seed 003, "Performance Tier Analysis" S_pre -> S_F (11 rows).
SF_TABLE = [
    (0.30, 0.0248), (0.36, 0.0376), (0.42, 0.0572), (0.48, 0.0870), (0.54, 0.1322), (0.60, 0.2010),
    (0.66, 0.3055), (0.72, 0.4643), (0.78, 0.7058), (0.84, 1.0728), (0.90, 1.6307),
]


@pytest.mark.parametrize(("length", "expected"), LENGTH_TABLE)
def test_length_score_table(length: int, expected: float) -> None:
    assert length_score(length, CFG) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(("s_pre", "expected"), SF_TABLE)
def test_final_score_table(s_pre: float, expected: float) -> None:
    assert final_score(s_pre, CFG) == pytest.approx(expected, abs=1e-4)


def test_final_score_domain_ends() -> None:
    # The seed's "Mathematical Properties" claims a range [0.0025, 40.43] over S_pre in [0, 1]; the
    # formula it states (and its own 11-row table) gives 0.1*e^(+-3.49) = [0.0030, 3.27]. We follow the formula.
    assert final_score(0.0, CFG) == pytest.approx(0.0030, abs=5e-4)
    assert final_score(1.0, CFG) == pytest.approx(3.27, abs=0.01)


def test_breakdown_combines_terms() -> None:
    b = upscaling_score(0.5, 80.0, 10, CFG)
    assert b.vmaf_passed
    assert b.s_q == pytest.approx(0.600, abs=1e-3)
    assert b.s_l == pytest.approx(0.4155, abs=5e-4)
    assert b.s_pre == pytest.approx(0.5 * b.s_q + 0.5 * b.s_l)
    assert b.s_f == pytest.approx(0.1 * math.exp(6.979 * (b.s_pre - 0.5)))


def test_vmaf_gate_zeroes_quality() -> None:
    below = upscaling_score(0.0, 49.99, 5, CFG)
    at = upscaling_score(0.0, 50.0, 5, CFG)
    assert not below.vmaf_passed and below.s_q == 0.0
    assert below.s_pre == pytest.approx(0.5 * 0.3105, abs=5e-4)
    assert at.vmaf_passed and at.s_q == 1.0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"pieapp": 0.5, "vmaf": 101.0, "content_length": 5}, "VMAF"),
        ({"pieapp": 0.5, "vmaf": math.nan, "content_length": 5}, "VMAF"),
        ({"pieapp": -1.0, "vmaf": 80.0, "content_length": 5}, "PIE-APP"),
        ({"pieapp": 0.5, "vmaf": 80.0, "content_length": -5}, "content length"),
        ({"pieapp": 0.5, "vmaf": 80.0, "content_length": 321}, "exceeds"),
    ],
)
def test_rejects_bad_input(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        upscaling_score(cfg=CFG, **kwargs)


@settings(deadline=None)
@given(st.floats(0, 1), st.floats(0, 1))
def test_final_score_strictly_increasing(a: float, b: float) -> None:
    if a == b:
        return
    lo, hi = sorted((a, b))
    if hi - lo < 1e-12:
        return
    assert final_score(lo, CFG) < final_score(hi, CFG)


@settings(deadline=None)
@given(st.floats(0, 5), st.floats(0, 100), st.sampled_from([5, 10, 20, 40, 80, 160, 320]))
def test_breakdown_in_range(pieapp: float, vmaf: float, length: int) -> None:
    b = upscaling_score(pieapp, vmaf, length, CFG)
    assert 0.0 <= b.s_q <= 1.0 and 0.0 <= b.s_l <= 1.0 and 0.0 <= b.s_pre <= 1.0
    assert b.s_q == (pieapp_to_quality(pieapp, CFG) if vmaf >= 50 else 0.0)
    assert final_score(0.0, CFG) <= b.s_f <= final_score(1.0, CFG)
