"""Objective-driven CRF search: measure the CRF whose predicted objective is highest, repeat.

The objective (what the miner is paid, see `objective.py`) has cliffs: it drops by up to 25 % where
the validator's 5-frame VMAF starts falling under threshold + 5, and to 0 where it falls under the
threshold. So the search needs the region around both crossings, not only the threshold one.
It models the clip from its probes: each frame's VMAF is interpolated linearly in CRF between the
two probes around a CRF (extrapolated with the nearest probes' slope, or `slope_prior`, at most
`max_step` CRFs out), and log size likewise. Every unmeasured CRF in reach gets a predicted
objective; the best prediction is measured next. It stops when no prediction beats the best
measurement by `min_gain`, after `max_probes` or when `should_continue()` says no (deadline).
The answer is the best *measured* feasible probe. No I/O: `measure` holds the encoder.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Sample:
    """One measured encode: CRF, per-frame VMAF (validator model) and (full-clip) size."""

    crf: int
    per_frame: tuple[float, ...]
    size_bytes: int


Score = Callable[[np.ndarray, int], float]  # (per-frame VMAF, size) -> objective
Feasible = Callable[[np.ndarray, int], bool]  # hard constraints (threshold reading, smaller than input)


@dataclass
class PaidSearchResult:
    """Probes in measurement order, their objective values, the pick (None: nothing feasible)."""

    samples: list[Sample]
    values: dict[int, float]
    feasible: dict[int, bool]
    best: Sample | None
    stop_reason: str
    predictions: list[tuple[int, float]] = field(default_factory=list)  # (crf, predicted) per planned probe


def predict(samples: Sequence[Sample], crf: int, *, slope_prior: float, size_per_crf: float, max_step: int
            ) -> tuple[np.ndarray, int] | None:  # fmt: skip
    """Per-frame VMAF and size predicted at `crf` from the samples (None: too far from any sample)."""
    pts = sorted(samples, key=lambda s: s.crf)
    if not pts:
        return None
    below = [s for s in pts if s.crf <= crf]
    above = [s for s in pts if s.crf >= crf]
    if below and above:
        a, b = below[-1], above[0]
        if a.crf == b.crf:
            return np.asarray(a.per_frame), a.size_bytes
        t = (crf - a.crf) / (b.crf - a.crf)
        va, vb = np.asarray(a.per_frame), np.asarray(b.per_frame)
        size = math.exp((1 - t) * math.log(max(a.size_bytes, 1)) + t * math.log(max(b.size_bytes, 1)))
        return np.clip(va + t * (vb - va), 0.0, 100.0), int(round(size))
    # extrapolation from the nearest end
    near = pts[-2:] if not above else pts[:2]
    end = pts[-1] if not above else pts[0]
    dist = crf - end.crf
    if abs(dist) > max_step:
        return None
    v_end = np.asarray(end.per_frame)
    if len(near) == 2 and near[1].crf > near[0].crf:
        v0, v1 = np.asarray(near[0].per_frame), np.asarray(near[1].per_frame)
        per_crf = (v1 - v0) / (near[1].crf - near[0].crf)  # per frame, usually negative
        # never extrapolate a frame as getting better with CRF, nor faster than 3x the mean slope
        mean_drop = max(float(-per_crf.mean()), 0.05)
        per_crf = np.clip(per_crf, -3.0 * mean_drop, 0.0)
        k = (math.log(max(near[0].size_bytes, 1)) - math.log(max(near[1].size_bytes, 1))) / (near[1].crf - near[0].crf)
        k = k if k > 0.005 else size_per_crf
    else:
        per_crf = np.full(v_end.shape, -slope_prior)
        k = size_per_crf
    # VMAF saturates near 100: going down in CRF, headroom shrinks the gain
    pred = v_end + per_crf * dist
    if dist < 0:
        pred = np.minimum(pred, v_end + (100.0 - v_end) * 0.9)
    size = end.size_bytes * math.exp(-k * dist)
    return np.clip(pred, 0.0, 100.0), int(round(size))


def plan_next(
    samples: Sequence[Sample],
    values: dict[int, float],
    *,
    score: Score,
    feasible: Feasible,
    lo: int,
    hi: int,
    slope_prior: float,
    size_per_crf: float,
    max_step: int,
    min_gain: float,
    explore: float = 0.0,
) -> tuple[int, float] | None:
    """The unmeasured CRF with the best optimistic predicted objective, if it beats the best measured
    value by `min_gain` (ties go to the higher CRF: the cheaper file). Optimism: each frame's
    predicted VMAF is raised by `explore` x the CRF distance to the nearest probe, so unexplored
    gaps next to a cliff get measured instead of trusted. Pure."""
    measured = {s.crf for s in samples}
    best_now = max((v for c, v in values.items()), default=-math.inf)
    choice: tuple[int, float] | None = None
    for crf in range(lo, hi + 1):
        if crf in measured:
            continue
        p = predict(samples, crf, slope_prior=slope_prior, size_per_crf=size_per_crf, max_step=max_step)
        if p is None:
            continue
        per_frame, size = p
        if explore > 0:
            gap = min(abs(crf - c) for c in measured)
            per_frame = np.clip(per_frame + explore * gap, 0.0, 100.0)
        if not feasible(per_frame, size):
            continue
        v = score(per_frame, size)
        if choice is None or v >= choice[1]:
            choice = (crf, v)
    if choice is None or choice[1] < best_now + min_gain:
        return None
    return choice


def search_objective(
    measure: Callable[[int], Sample],
    *,
    score: Score,
    feasible: Feasible,
    start: int,
    lo: int,
    hi: int,
    max_probes: int = 8,
    slope_prior: float = 1.0,
    size_per_crf: float = 0.06,
    max_step: int = 10,
    min_gain: float = 0.001,
    explore: float = 0.0,
    max_size: int | None = None,
    final_score: Score | None = None,
    polish: bool = True,
    should_continue: Callable[[], bool] | None = None,
) -> PaidSearchResult:
    """Maximise `score` over integer CRF in [lo, hi] subject to `feasible`, measuring at most
    `max_probes` CRFs (never one twice). An infeasible probe scores -inf. Pure over `measure`.

    With `max_size` (files must be smaller: the input's size) an infeasible probe at least that big
    rules out every lower CRF, and any other infeasible probe (VMAF too low) every higher CRF; the
    planner only looks between those bounds and, while nothing is feasible, moves into them.
    `polish`: once no prediction promises a gain, the unmeasured CRFs next to the best probe are
    measured too (the objective has cliffs that interpolation misplaces by a CRF or so).
    `final_score` (e.g. the objective estimated more precisely) re-scores the feasible probes to pick
    the answer; `values` then holds those figures."""
    if lo > hi:
        raise ValueError(f"empty CRF range: lo={lo} > hi={hi}")
    if max_probes < 1:
        raise ValueError(f"max_probes must be >= 1, got {max_probes}")
    if slope_prior <= 0:
        raise ValueError(f"slope_prior must be > 0, got {slope_prior}")
    samples: list[Sample] = []
    values: dict[int, float] = {}
    ok: dict[int, bool] = {}
    predictions: list[tuple[int, float]] = []
    crf: int | None = min(max(start, lo), hi)
    stop = "converged"
    while crf is not None:
        if len(samples) >= max_probes:
            stop = "max_probes"
            break
        if samples and should_continue is not None and not should_continue():
            stop = "deadline"
            break
        s = measure(crf)
        if s.crf != crf:
            raise ValueError(f"measure({crf}) returned a sample for CRF {s.crf}")
        samples.append(s)
        arr = np.asarray(s.per_frame, dtype=np.float64)
        ok[crf] = feasible(arr, s.size_bytes)
        values[crf] = score(arr, s.size_bytes) if ok[crf] else -math.inf
        b_lo, b_hi = _bounds(samples, ok, lo, hi, max_size)
        nxt = None if b_lo > b_hi else plan_next(
            samples, values, score=score, feasible=feasible, lo=b_lo, hi=b_hi, slope_prior=slope_prior,
            size_per_crf=size_per_crf, max_step=max_step, min_gain=min_gain, explore=explore,
        )  # fmt: skip
        if nxt is None and not any(ok.values()):
            nxt = _towards_feasible(samples, ok, b_lo, b_hi, max_size, size_per_crf)
        if nxt is None and polish:
            nxt = _unmeasured_neighbour(samples, values, ok, b_lo, b_hi)
        if nxt is not None:
            predictions.append(nxt)
        crf = None if nxt is None else nxt[0]
    feasible_samples = [s for s in samples if ok[s.crf]]
    if final_score is not None:
        for x in feasible_samples:
            values[x.crf] = final_score(np.asarray(x.per_frame, dtype=np.float64), x.size_bytes)
    best = max(feasible_samples, key=lambda s: (values[s.crf], s.crf)) if feasible_samples else None
    if best is None and stop == "converged":
        stop = "never_feasible"
    return PaidSearchResult(samples, values, ok, best, stop, predictions)


def _unmeasured_neighbour(samples: Sequence[Sample], values: dict[int, float], ok: dict[int, bool], lo: int,
                          hi: int) -> tuple[int, float] | None:  # fmt: skip
    """The CRF just above, else just below, the best feasible probe, if not measured yet."""
    good = [x for x in samples if ok[x.crf]]
    if not good:
        return None
    best = max(good, key=lambda x: (values[x.crf], x.crf))
    measured = {x.crf for x in samples}
    for crf in (best.crf + 1, best.crf - 1):
        if lo <= crf <= hi and crf not in measured:
            return crf, values[best.crf]
    return None


def _bounds(samples: Sequence[Sample], ok: dict[int, bool], lo: int, hi: int, max_size: int | None
            ) -> tuple[int, int]:  # fmt: skip
    """CRF range still worth probing: above every too-big probe, below every too-low-VMAF probe."""
    if max_size is None:
        return lo, hi
    big = [s.crf for s in samples if not ok[s.crf] and s.size_bytes >= max_size]
    low = [s.crf for s in samples if not ok[s.crf] and s.size_bytes < max_size]
    return max([lo] + [c + 1 for c in big]), min([hi] + [c - 1 for c in low])


def _towards_feasible(samples: Sequence[Sample], ok: dict[int, bool], lo: int, hi: int, max_size: int | None,
                      size_per_crf: float) -> tuple[int, float] | None:  # fmt: skip
    """Nothing measured is feasible and no prediction is: move into the bounds (bisect when both
    sides are known; up by the size curve when only "too big" is; else down)."""
    measured = {s.crf for s in samples}
    if lo > hi:
        return None
    too_big = [s for s in samples if not ok[s.crf] and max_size is not None and s.size_bytes >= max_size]
    too_low = [s for s in samples if not ok[s.crf] and s not in too_big]
    if too_big and too_low:
        crf = (lo + hi + 1) // 2
    elif too_big:
        top = max(too_big, key=lambda s: s.crf)
        assert max_size is not None
        steps = math.log(top.size_bytes / max_size) / size_per_crf + 1.0
        crf = min(hi, top.crf + max(1, math.ceil(steps)))
    else:
        low = min(s.crf for s in samples)
        crf = max(lo, low - max(2, (low - lo) // 2))
    candidates = [c for c in range(lo, hi + 1) if c not in measured]
    if not candidates:
        return None
    return min(candidates, key=lambda c: abs(c - crf)), -math.inf
