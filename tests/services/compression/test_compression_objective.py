"""The paid-figure objective and the objective-driven CRF search (pure: no encodes)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from scoring.compression import compression_score
from scoring.config import ScoringConfig
from scoring.history import RoundRecord, compute_multipliers
from services.compression.objective import estimate_paid
from services.compression.paid_plan import paid_plan
from services.compression.paid_search import Sample, predict, search_objective
from services.compression.settings import CompressionSettings

CFG = ScoringConfig()
INPUT = 10_000_000


def clip_model(seed: int = 1, frames: int = 120, top: float = 99.0, slope: float = 0.7, spread: float = 2.5):
    """A synthetic clip: per-frame VMAF falls linearly with CRF (frame offsets fixed), size exponentially."""
    rng = np.random.default_rng(seed)
    offsets = rng.normal(0.0, spread, frames)

    def at(crf: int) -> Sample:
        v = np.clip(top - slope * (crf - 10) + offsets - 0.002 * (crf - 10) ** 2, 0.0, 100.0)
        size = int(INPUT * 0.9 * math.exp(-0.075 * (crf - 10)))
        return Sample(crf, tuple(float(x) for x in v), size)

    return at


def test_window_of_identical_rounds_matches_the_history_rule() -> None:
    """Every draw the same: the steady-state figure is exactly S_f x the multiplier of a full window
    of that round, as `compute_multipliers` computes it."""
    per_frame = [91.0] * 50  # all draws: HM 91 -> VMAF-penalty round at threshold 89 (91 < 94)
    e = estimate_paid(per_frame, 2_000_000, INPUT, 89.0, CFG)
    s = compression_score(0.2, 91.0, 89.0, CFG).s_f
    window = [RoundRecord(score=s, vmaf=91.0, vmaf_threshold=89.0)] * CFG.history_window
    m = compute_multipliers("compression", window, CFG)
    assert e.exp_s_f == pytest.approx(s)
    assert e.p_penalty_vmaf == pytest.approx(1.0)
    assert e.multiplier == pytest.approx(m.total)
    assert e.paid == pytest.approx(s * m.total)


def test_mixed_draws_give_the_expected_counts() -> None:
    """Half the frames far above the penalty line, half under it: P(penalty) strictly between 0 and 1
    and the multiplier between the all-penalty and no-penalty windows."""
    per_frame = [99.0] * 30 + [84.0] * 30  # 5-frame HM < 90 when 2 or fewer are high
    e = estimate_paid(per_frame, 2_000_000, INPUT, 85.0, CFG, draws=3000, seed=3)
    assert 0.2 < e.p_penalty_vmaf < 0.9
    assert 1 - CFG.max_penalty_vmaf < e.multiplier / ((1 + CFG.max_bonus * e.p_bonus) * 1.0) < 1.0
    assert 0.0 < e.p_fail < 0.1  # all five low: HM 84 < 85


def test_config_thresholds_are_read_not_copied() -> None:
    """A validator with a wider VMAF-penalty margin penalises the same encode."""
    per_frame = [96.0] * 40
    narrow = estimate_paid(per_frame, 3_000_000, INPUT, 89.0, CFG)
    wide = estimate_paid(per_frame, 3_000_000, INPUT, 89.0, CFG.model_copy(update={"vmaf_safety_margin": 8.0}))
    assert narrow.p_penalty_vmaf == 0.0 and wide.p_penalty_vmaf == 1.0
    assert wide.paid == pytest.approx(narrow.paid * (1 - CFG.max_penalty_vmaf))


def test_below_threshold_draws_score_zero() -> None:
    e = estimate_paid([80.0] * 20, 1_000_000, INPUT, 85.0, CFG)
    assert e.s_f == 0.0 and e.exp_s_f == 0.0 and e.paid == 0.0 and e.p_fail == 1.0


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="no per-frame"):
        estimate_paid([], 1, INPUT, 85.0, CFG)
    with pytest.raises(ValueError, match="input size"):
        estimate_paid([90.0], 1, 0, 85.0, CFG)


def test_prediction_interpolates_between_probes_and_is_exact_on_them() -> None:
    at = clip_model()
    a, b = at(20), at(30)
    mid, size = predict([a, b], 25, slope_prior=1.0, size_per_crf=0.06, max_step=8)
    assert np.allclose(mid, (np.asarray(a.per_frame) + np.asarray(b.per_frame)) / 2)
    assert size == pytest.approx(math.sqrt(a.size_bytes * b.size_bytes), rel=1e-6)
    same, s2 = predict([a, b], 20, slope_prior=1.0, size_per_crf=0.06, max_step=8)
    assert np.allclose(same, a.per_frame) and s2 == a.size_bytes
    assert predict([a, b], 45, slope_prior=1.0, size_per_crf=0.06, max_step=8) is None  # too far out
    up, _ = predict([a, b], 34, slope_prior=1.0, size_per_crf=0.06, max_step=8)
    assert float(np.mean(up)) < float(np.mean(b.per_frame))  # extrapolating up loses VMAF


def _best_by_brute_force(at, plan) -> tuple[int, float]:
    best = (-1, -math.inf)
    for crf in range(plan.lo, plan.hi + 1):
        s = at(crf)
        arr = np.asarray(s.per_frame)
        if plan.feasible(arr, s.size_bytes):
            v = plan.score(arr, s.size_bytes)
            if v > best[1]:
                best = (crf, v)
    return best


@pytest.mark.parametrize("threshold", [85.0, 89.0, 93.0])
@pytest.mark.parametrize("seed,slope", [(1, 0.7), (2, 0.5), (3, 1.0)])
def test_search_gets_close_to_the_best_crf_with_few_probes(threshold: float, seed: int, slope: float) -> None:
    at = clip_model(seed=seed, slope=slope)
    plan = paid_plan(CompressionSettings(), CFG, "av1", threshold, INPUT)
    calls: list[int] = []

    def measure(crf: int) -> Sample:
        calls.append(crf)
        return at(crf)

    res = plan.run(measure)
    assert len(calls) == len(set(calls)) <= plan.max_probes  # never measures a CRF twice
    assert res.best is not None
    best_crf, best_value = _best_by_brute_force(at, plan)
    got = res.values[res.best.crf]
    assert got >= best_value - 0.02, (res.values, best_crf, best_value)
    assert plan.feasible(np.asarray(res.best.per_frame), res.best.size_bytes)


def test_the_pick_avoids_the_vmaf_penalty_when_that_pays() -> None:
    """The single-round optimum sits on the threshold; the paid optimum keeps most draws above
    threshold + 5 (a 25 % penalty otherwise) when the clip allows it cheaply."""
    at = clip_model(seed=5, slope=0.7, spread=1.0)
    plan = paid_plan(CompressionSettings(), CFG, "av1", 85.0, INPUT)
    res = plan.run(at)
    assert res.best is not None
    e = estimate_paid(res.best.per_frame, res.best.size_bytes, INPUT, 85.0, CFG)
    assert e.p_penalty_vmaf < 0.5
    assert e.vmaf_hm > 85.0 + CFG.vmaf_safety_margin - 1.0


def test_infeasible_everywhere_reports_no_pick() -> None:
    at = clip_model(top=70.0)
    plan = paid_plan(CompressionSettings(), CFG, "av1", 93.0, INPUT)
    res = plan.run(at)
    assert res.best is None
    assert res.stop_reason in {"never_feasible", "max_probes"}
    assert min(s.crf for s in res.samples) < plan.start  # it went looking lower


def test_deadline_stops_after_the_first_probe() -> None:
    at = clip_model()
    plan = paid_plan(CompressionSettings(), CFG, "av1", 89.0, INPUT)
    res = plan.run(at, should_continue=lambda: False)
    assert len(res.samples) == 1 and res.stop_reason == "deadline"


def test_search_validates_its_arguments() -> None:
    at = clip_model()
    ok = dict(score=lambda v, s: 0.0, feasible=lambda v, s: True, start=20)
    with pytest.raises(ValueError, match="empty CRF range"):
        search_objective(at, lo=30, hi=20, **ok)
    with pytest.raises(ValueError, match="max_probes"):
        search_objective(at, lo=10, hi=20, max_probes=0, **ok)


def test_a_narrow_window_between_too_big_and_too_low_is_found() -> None:
    """Small input: low CRFs make files bigger than the input, high CRFs miss the threshold; only a
    couple of CRFs are answers. The planner goes up past too-big probes and bisects the window."""
    at = clip_model(seed=4, slope=1.0, spread=1.0)
    sizes = {c: at(c).size_bytes for c in range(10, 64)}
    feasible = [c for c in range(10, 64) if harmonic_mean_of(at(c)) >= 93.0]
    top = max(feasible)
    input_size = sizes[top - 1] - 1  # only `top` (and maybe nothing else) is both small and good enough
    plan = paid_plan(CompressionSettings(), CFG, "av1", 93.0, input_size)
    res = plan.run(at)
    assert res.best is not None and res.best.crf == top, ([s.crf for s in res.samples], top)


def test_nothing_feasible_between_the_bounds_stops() -> None:
    at = clip_model(seed=4, slope=1.0, spread=1.0)
    good = max(c for c in range(10, 64) if harmonic_mean_of(at(c)) >= 93.0)
    plan = paid_plan(CompressionSettings(), CFG, "av1", 93.0, at(good).size_bytes)  # the last good CRF is too big
    res = plan.run(at)
    assert res.best is None and len(res.samples) <= plan.max_probes


def harmonic_mean_of(sample: Sample) -> float:
    v = np.asarray(sample.per_frame)
    return float(len(v) / np.sum(1.0 / v))


def test_final_score_picks_the_answer_among_the_probes() -> None:
    at = clip_model()
    common = dict(score=lambda v, s: -abs(float(np.mean(v)) - 90.0), feasible=lambda v, s: True, start=30, lo=10,
                  hi=60, max_probes=4)  # fmt: skip
    planned = search_objective(at, **common)
    lowest = min(s.crf for s in planned.samples)
    rescored = search_objective(at, final_score=lambda v, s: float(np.mean(v)), **common)  # prefers quality
    assert [s.crf for s in rescored.samples] == [s.crf for s in planned.samples]  # same probes
    assert rescored.best is not None and rescored.best.crf == lowest


def test_polish_measures_both_neighbours_of_the_pick() -> None:
    at = clip_model(seed=2, slope=0.5)
    plan = paid_plan(CompressionSettings(paid_max_probes=20), CFG, "av1", 89.0, INPUT)
    res = plan.run(at)
    assert res.best is not None
    crfs = {s.crf for s in res.samples}
    assert {res.best.crf - 1, res.best.crf + 1} <= crfs
