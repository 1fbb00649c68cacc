"""Target-quality CRF search: a pure function over a `measure(crf) -> (vmaf, size)` callable.

VMAF falls as CRF rises (more compression, less quality). The search keeps a bracket
`[highest passing CRF, lowest failing CRF]`, extrapolates with a slope estimate while only one
side is known and interpolates linearly between the bracket ends once both are known. It stops
when the bracket is one CRF wide, when the range end is reached, when `max_probes` measurements
were made or when `should_continue()` says no (deadline). No I/O here: the encoder lives in the
callable, so the logic is table-testable with synthetic curves.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field


class Probe(NamedTuple):
    """One measurement: the CRF tried, the (conservative) VMAF it reached, the encoded size."""

    crf: int
    vmaf: float
    size_bytes: int


Measure = Callable[[int], tuple[float, int]]


class SearchResult(BaseModel):
    """What the search learnt. `best` is the highest CRF that met the target (None if none did)."""

    model_config = ConfigDict(frozen=True)

    target: float
    best: Probe | None
    lowest_failing: Probe | None
    probes: list[Probe] = Field(default_factory=list)
    stop_reason: str

    @property
    def converged(self) -> bool:
        """True when the answer is exact: the bracket is closed or a range end was reached."""
        return self.stop_reason in {"bracket", "always_passes", "never_passes"}

    def slope(self, default: float) -> float:
        """VMAF points lost per CRF step, estimated from the probes (falls back to `default`)."""
        return _slope(sorted(self.probes), default)


def _slope(probes: list[Probe], default: float) -> float:
    """Average VMAF drop per CRF between the lowest and highest probe (positive), or `default`."""
    if len(probes) < 2:
        return default
    lo, hi = probes[0], probes[-1]
    if hi.crf == lo.crf:
        return default
    slope = (lo.vmaf - hi.vmaf) / (hi.crf - lo.crf)
    return slope if slope > 0.05 else default


def _nearest_slope(probes: dict[int, Probe], around: int, default: float) -> float:
    """Slope from the two probes nearest to `around` (local estimate for extrapolation)."""
    near = sorted(probes.values(), key=lambda p: (abs(p.crf - around), p.crf))[:2]
    return _slope(sorted(near), default)


def _bracket(probes: dict[int, Probe], target: float) -> tuple[Probe | None, Probe | None]:
    """Lowest failing probe, and the highest passing probe strictly below it.

    A passing probe above a failing one (a non-monotone curve) is ignored: the answer must be
    safe, so the lowest failure caps the search.
    """
    failing = [p for p in probes.values() if p.vmaf < target]
    fail = min(failing, key=lambda p: p.crf) if failing else None
    passing = [p for p in probes.values() if p.vmaf >= target and (fail is None or p.crf < fail.crf)]
    best = max(passing, key=lambda p: p.crf) if passing else None
    return best, fail


def _same_side_run(history: list[Probe], target: float) -> int:
    """How many of the latest probes landed on the same side of the target, counting only
    probes chosen while a bracket existed (i.e. by interpolation)."""
    if not history:
        return 0
    side = history[-1].vmaf >= target
    run = 0
    for i in range(len(history) - 1, -1, -1):
        earlier = history[:i]
        bracketed = any(p.vmaf >= target for p in earlier) and any(p.vmaf < target for p in earlier)
        if (history[i].vmaf >= target) != side or not bracketed:
            break
        run += 1
    return run


def next_crf(
    probes: dict[int, Probe],
    *,
    history: list[Probe] | None = None,
    target: float,
    lo: int,
    hi: int,
    slope_prior: float,
    max_step: int,
) -> int | None:
    """The next CRF to measure, or None when the search is finished.

    Pure: depends only on the probes so far (`history` = the same probes in measurement order).
    Never returns an already measured CRF. Inside a bracket it interpolates linearly; when the
    interpolation keeps landing on the same side (a curved VMAF(CRF)) it switches to an Illinois
    step (2 in a row), then to bisection (3 in a row).
    """
    best, fail = _bracket(probes, target)
    if best is not None and fail is not None:
        if fail.crf - best.crf <= 1:
            return None
        run = _same_side_run(history or [], target)
        last_passed = bool(history) and history[-1].vmaf >= target
        if run >= 3:  # interpolation keeps creeping: bisect
            return (best.crf + fail.crf + (1 if last_passed else 0)) // 2
        v_pass, v_fail = best.vmaf, fail.vmaf
        if run == 2:  # Illinois step: pull the stale end's value halfway to the target
            if last_passed:
                v_fail = target - (target - v_fail) / 2
            else:
                v_pass = target + (v_pass - target) / 2
        span = v_pass - v_fail
        frac = (v_pass - target) / span if span > 0 else 0.5
        guess = best.crf + frac * (fail.crf - best.crf)
        crf = int(math.floor(guess + 0.5))
        return min(max(crf, best.crf + 1), fail.crf - 1)
    if best is not None:  # everything measured passes: go up
        if best.crf >= hi:
            return None
        slope = _nearest_slope(probes, best.crf, slope_prior)
        step = math.ceil((best.vmaf - target) / slope) if slope > 0 else max_step
        step = min(max(step, 1), max_step)
        return min(best.crf + step, hi)
    if fail is not None:  # everything measured fails: go down
        if fail.crf <= lo:
            return None
        slope = _nearest_slope(probes, fail.crf, slope_prior)
        step = math.ceil((target - fail.vmaf) / slope) if slope > 0 else max_step
        step = min(max(step, 1), max_step)
        return max(fail.crf - step, lo)
    return None


def search_crf(
    measure: Measure,
    *,
    target: float,
    lo: int,
    hi: int,
    start: int,
    max_probes: int = 6,
    slope_prior: float = 1.0,
    max_step: int = 12,
    should_continue: Callable[[], bool] | None = None,
) -> SearchResult:
    """Find the highest integer CRF in [lo, hi] whose measured VMAF is >= `target`.

    `measure(crf)` returns `(vmaf, size_bytes)`; it is called at most `max_probes` times and
    never twice for the same CRF. `should_continue()` is asked before every measurement; a False
    answer stops the search (e.g. a deadline is near) and the best result so far is returned.
    """
    if lo > hi:
        raise ValueError(f"empty CRF range: lo={lo} > hi={hi}")
    if max_probes < 1:
        raise ValueError(f"max_probes must be >= 1, got {max_probes}")
    if slope_prior <= 0:
        raise ValueError(f"slope_prior must be > 0, got {slope_prior}")
    probes: dict[int, Probe] = {}
    order: list[Probe] = []
    crf: int | None = min(max(start, lo), hi)
    stop = "bracket"
    while crf is not None:
        if len(order) >= max_probes:
            stop = "max_probes"
            break
        if should_continue is not None and not should_continue():
            stop = "deadline"
            break
        vmaf, size = measure(crf)
        probe = Probe(crf, float(vmaf), int(size))
        probes[crf] = probe
        order.append(probe)
        crf = next_crf(probes, history=order, target=target, lo=lo, hi=hi, slope_prior=slope_prior, max_step=max_step)
    best, fail = _bracket(probes, target)
    if stop == "bracket":
        if fail is None and best is not None and best.crf >= hi:
            stop = "always_passes"
        elif best is None and fail is not None and fail.crf <= lo:
            stop = "never_passes"
    return SearchResult(target=target, best=best, lowest_failing=fail, probes=order, stop_reason=stop)
