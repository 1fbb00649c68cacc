"""The objective search of one task, from the settings: objective, constraints, start, probe budget.

Shared by the engine (real encodes) and the benchmark (cached encodes), so both take the same
decisions. Pure apart from the `measure` callable it is run with.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from scoring.config import ScoringConfig

from .objective import estimate_paid
from .paid_search import PaidSearchResult, Sample, search_objective
from .quality import harmonic_mean
from .settings import CompressionSettings


@dataclass(frozen=True)
class PaidPlan:
    codec: str
    threshold: float
    input_size: int
    start: int
    lo: int
    hi: int
    max_probes: int
    slope_prior: float
    min_gain: float
    draws: int
    final_draws: int
    explore: float
    safety_margin: float
    scoring: ScoringConfig

    def score(self, per_frame: np.ndarray, size: int) -> float:
        """Expected paid figure of an encode with these per-frame VMAF scores and this size."""
        return estimate_paid(per_frame, size, self.input_size, self.threshold, self.scoring, draws=self.draws).paid

    def final_score(self, per_frame: np.ndarray, size: int) -> float:
        """The paid figure estimated precisely (`final_draws`): picks the answer among the probes."""
        return estimate_paid(per_frame, size, self.input_size, self.threshold, self.scoring,
                             draws=self.final_draws).paid  # fmt: skip

    def feasible(self, per_frame: np.ndarray, size: int) -> bool:
        """Hard constraints: the all-frame VMAF (harmonic mean, what a threshold miss is judged on)
        clears the threshold (+ `safety_margin`), and the file is smaller than the input (docs/scoring.md#output-validation).
        The risk of single 5-frame draws falling under the threshold is priced in the objective."""
        if size >= self.input_size:
            return False
        return harmonic_mean(per_frame.tolist()) >= self.threshold + self.safety_margin

    def run(self, measure: Callable[[int], Sample], should_continue: Callable[[], bool] | None = None
            ) -> PaidSearchResult:  # fmt: skip
        return search_objective(
            measure, score=self.score, feasible=self.feasible, start=self.start, lo=self.lo, hi=self.hi,
            max_probes=self.max_probes, slope_prior=self.slope_prior, min_gain=self.min_gain, explore=self.explore,
            max_size=self.input_size, final_score=self.final_score,
            should_continue=should_continue,
        )  # fmt: skip


def paid_plan(
    settings: CompressionSettings, scoring: ScoringConfig, codec: str, threshold: float, input_size: int
) -> PaidPlan:
    """The plan for one task. The first probe aims at the VMAF-penalty line (threshold +
    `vmaf_safety_margin`): the tier's CRF lowered by the CRF steps that margin costs."""
    lo, hi = settings.crf_range(codec)
    slope = settings.slope_prior.get(codec, 1.0)
    start = settings.tier_crf(codec, threshold) - math.floor(scoring.vmaf_safety_margin / slope + 0.5)
    return PaidPlan(
        codec=codec, threshold=threshold, input_size=input_size, start=min(max(start, lo), hi), lo=lo, hi=hi,
        max_probes=settings.paid_max_probes, slope_prior=slope, min_gain=settings.paid_min_gain,
        draws=settings.paid_draws, final_draws=settings.paid_final_draws, explore=settings.paid_explore, safety_margin=settings.safety_margin,
        scoring=scoring,
    )  # fmt: skip
