"""Pure CRF search: synthetic VMAF(CRF) curves, no encoding."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.compression.policy import best_scoring_crf, crf_for_size, fallback_crf
from services.compression.search import Probe, SearchResult, next_crf, search_crf


class Curve:
    """A monotone decreasing VMAF(CRF) with a call log."""

    def __init__(self, fn) -> None:
        self.fn = fn
        self.calls: list[int] = []

    def __call__(self, crf: int) -> tuple[float, int]:
        self.calls.append(crf)
        return self.fn(crf), int(1_000_000 * 2 ** (-crf / 6))


def truth(fn, target: float, lo: int, hi: int) -> int | None:
    passing = [c for c in range(lo, hi + 1) if fn(c) >= target]
    return max(passing) if passing else None


CURVES = {
    "linear": lambda c: 100.0 - 0.9 * c,
    "concave": lambda c: 100.0 - 0.012 * c**2 - 0.2 * c,
    "steep_tail": lambda c: 99.0 - 0.3 * c - 0.0004 * c**3,
    "flat_then_cliff": lambda c: 97.0 - 0.1 * c if c < 40 else 93.0 - 2.5 * (c - 40),
}


@pytest.mark.parametrize("name", sorted(CURVES))
@pytest.mark.parametrize("target", [85.0, 89.0, 93.0, 94.5])
@pytest.mark.parametrize("start", [10, 28, 45])
def test_finds_highest_passing_crf_within_probe_budget(name: str, target: float, start: int) -> None:
    fn = CURVES[name]
    curve = Curve(fn)
    result = search_crf(curve, target=target, lo=0, hi=63, start=start, max_probes=6, slope_prior=1.0)
    expected = truth(fn, target, 0, 63)
    assert len(curve.calls) <= 6
    assert len(set(curve.calls)) == len(curve.calls), "a CRF was measured twice"
    assert result.best is not None
    assert result.best.vmaf >= target
    # never claims a failing CRF; exact when converged; when the 6 probes ran out, close on
    # smooth curves (a kinked plateau-then-cliff curve is allowed to be further off)
    assert result.best.crf <= expected
    if result.converged:
        assert result.best.crf == expected
    else:
        slack = 4 if name == "flat_then_cliff" else 1
        assert expected - result.best.crf <= slack, (result.probes, expected)


def test_typical_curve_converges_exactly_in_four_probes_or_fewer() -> None:
    fn = CURVES["concave"]
    curve = Curve(fn)
    result = search_crf(curve, target=90.0, lo=10, hi=51, start=25, max_probes=6, slope_prior=1.0)
    assert result.stop_reason == "bracket"
    assert result.best is not None and result.best.crf == truth(fn, 90.0, 10, 51)
    assert len(curve.calls) <= 4


def test_never_passing_stops_at_lowest_crf() -> None:
    curve = Curve(lambda c: 70.0 - 0.5 * c)
    result = search_crf(curve, target=93.0, lo=10, hi=51, start=30, max_probes=6, slope_prior=1.0)
    assert result.best is None
    assert result.stop_reason == "never_passes"
    assert 10 in curve.calls
    assert result.lowest_failing == Probe(10, 65.0, curve(10)[1])
    assert len(curve.calls) - 1 <= 6  # (the extra call above is ours)


def test_always_passing_stops_at_highest_crf() -> None:
    curve = Curve(lambda c: 99.0 - 0.01 * c)
    result = search_crf(curve, target=85.0, lo=10, hi=51, start=20, max_probes=6, slope_prior=1.0)
    assert result.stop_reason == "always_passes"
    assert result.best is not None and result.best.crf == 51
    assert len(curve.calls) <= 6


def test_max_probes_is_a_hard_cap() -> None:
    curve = Curve(lambda c: 100.0 - 0.05 * c)  # tiny slope: extrapolation steps are capped
    result = search_crf(curve, target=97.0, lo=0, hi=63, start=0, max_probes=3, slope_prior=0.05, max_step=4)
    assert len(curve.calls) == 3
    assert result.stop_reason == "max_probes"
    assert result.best is not None and result.best.crf == max(curve.calls)


def test_should_continue_false_stops_before_measuring() -> None:
    curve = Curve(CURVES["linear"])
    result = search_crf(curve, target=90.0, lo=0, hi=51, start=20, should_continue=lambda: False)
    assert curve.calls == []
    assert result.stop_reason == "deadline" and result.best is None


def test_deadline_after_two_probes_keeps_best_so_far() -> None:
    curve = Curve(CURVES["linear"])
    budget = iter([True, True, False])
    result = search_crf(curve, target=85.0, lo=0, hi=51, start=5, should_continue=lambda: next(budget))
    assert len(curve.calls) == 2
    assert result.stop_reason == "deadline"
    assert result.best is not None and result.best.vmaf >= 85.0


def test_non_monotone_pass_above_a_failure_is_ignored() -> None:
    # passes at 30, fails at 32, passes again at 34 (noise): the answer must stay below 32
    probes = {c: Probe(c, v, 1) for c, v in ((30, 91.0), (32, 89.5), (34, 90.5))}
    assert next_crf(probes, target=90.0, lo=0, hi=51, slope_prior=1.0, max_step=12) == 31
    # once 31 is known to pass, the search is over and 34 is not the answer
    probes[31] = Probe(31, 90.2, 1)
    assert next_crf(probes, target=90.0, lo=0, hi=51, slope_prior=1.0, max_step=12) is None
    noisy = iter([90.5, 89.5, 91.0, 90.2])
    result = search_crf(lambda c: (next(noisy), 1), target=90.0, lo=0, hi=51, start=34, max_probes=6)
    # whatever order it measures in, it never answers a CRF at or above a failing one
    assert result.best is not None
    assert result.lowest_failing is not None and result.best.crf < result.lowest_failing.crf


def test_start_outside_range_is_clamped_and_bad_arguments_raise() -> None:
    curve = Curve(CURVES["linear"])
    search_crf(curve, target=80.0, lo=10, hi=40, start=99, max_probes=1)
    assert curve.calls == [40]
    with pytest.raises(ValueError, match="empty CRF range"):
        search_crf(curve, target=80.0, lo=40, hi=10, start=20)
    with pytest.raises(ValueError, match="max_probes"):
        search_crf(curve, target=80.0, lo=0, hi=10, start=5, max_probes=0)


@settings(max_examples=150, deadline=None)
@given(
    a=st.floats(min_value=90.0, max_value=100.0),
    b=st.floats(min_value=0.2, max_value=2.0),
    k=st.floats(min_value=0.0, max_value=0.02),
    target=st.floats(min_value=80.0, max_value=96.0),
    start=st.integers(min_value=0, max_value=63),
)
def test_property_result_is_always_safe_and_near_optimal(a, b, k, target, start) -> None:
    def fn(c: int) -> float:
        return a - b * c - k * c * c

    curve = Curve(fn)
    result = search_crf(curve, target=target, lo=0, hi=63, start=start, max_probes=6, slope_prior=0.8)
    expected = truth(fn, target, 0, 63)
    assert len(curve.calls) <= 6
    if expected is None:
        assert result.best is None
        return
    if result.best is not None:
        assert fn(result.best.crf) >= target
        assert result.best.crf <= expected
        if result.converged:
            assert result.best.crf == expected


def test_fallback_crf_stays_below_a_failing_probe() -> None:
    failing = SearchResult(
        target=90.0, best=None, lowest_failing=Probe(30, 86.0, 1), probes=[Probe(30, 86.0, 1)], stop_reason="deadline"
    )
    # 4 points short at 1 point/CRF -> at most 30 - 1 - 4 = 25, conservative 28 is too high
    assert fallback_crf(failing, conservative=28, lo=10, slope=1.0) == 25
    assert fallback_crf(failing, conservative=20, lo=10, slope=1.0) == 20
    assert fallback_crf(failing, conservative=20, lo=22, slope=1.0) == 22
    empty = SearchResult(target=90.0, best=None, lowest_failing=None, probes=[], stop_reason="deadline")
    assert fallback_crf(empty, conservative=24, lo=10, slope=1.0) == 24


def test_slope_estimate() -> None:
    r = SearchResult(
        target=90.0, best=None, lowest_failing=None,
        probes=[Probe(20, 95.0, 1), Probe(30, 90.0, 1)], stop_reason="bracket",
    )  # fmt: skip
    assert math.isclose(r.slope(1.0), 0.5)
    flat = SearchResult(target=90.0, best=None, lowest_failing=None, probes=[Probe(20, 95.0, 1)], stop_reason="x")
    assert flat.slope(0.7) == 0.7


def test_crf_for_size_uses_the_probes_size_curve() -> None:
    # size halves every 10 CRF in the probes: 1.5x too big needs log(1.5)/log(2)*10 = 5.85 -> 6 steps
    probes = [Probe(20, 95.0, 400_000), Probe(30, 90.0, 200_000)]
    assert crf_for_size(probes, 25, 300_000, 200_000) == 31
    # no usable probe curve: about 6 % per step
    assert crf_for_size([], 25, 106_000, 100_000) == 26
    assert crf_for_size([Probe(20, 95.0, 1000)], 25, 200_000, 100_000) == 25 + math.ceil(math.log(2) / 0.06)
    # already small enough: still one step (the caller only asks when the file is too big)
    assert crf_for_size(probes, 25, 90_000, 100_000) == 26


def test_best_scoring_crf_trades_bytes_for_vmaf_margin() -> None:
    from scoring.config import ScoringConfig

    cfg = ScoringConfig()
    # big files: the highest CRF (smallest file) wins even with less VMAF margin
    big = [(30, 800_000, 95.0), (34, 600_000, 91.0), (38, 450_000, 86.0)]
    assert best_scoring_crf(big, input_size=1_000_000, threshold=85.0, cfg=cfg) == 38
    # already tiny files: a few bytes more buy a lot of VMAF term
    tiny = [(40, 60_000, 97.0), (50, 30_000, 86.0)]
    assert best_scoring_crf(tiny, input_size=1_000_000, threshold=85.0, cfg=cfg) == 40
    with pytest.raises(ValueError, match="no candidate"):
        best_scoring_crf([], input_size=1, threshold=85.0, cfg=cfg)
