"""Conservative reading of per-frame VMAF (what the validator's 5-frame draw may give)."""

from __future__ import annotations

import itertools
import statistics

import numpy as np
import pytest

from services.compression.quality import conservative_vmaf, harmonic_mean, sampled_harmonic_quantile


def test_constant_scores_give_that_score() -> None:
    scores = [91.0] * 60
    assert sampled_harmonic_quantile(scores, n_sampled=5, quantile=0.05) == pytest.approx(91.0)
    assert conservative_vmaf(scores) == pytest.approx(91.0)


def test_quantile_matches_exact_enumeration_on_a_small_clip() -> None:
    scores = [80.0, 84.0, 88.0, 90.0, 92.0, 94.0, 95.0, 97.0]
    exact = sorted(statistics.harmonic_mean(c) for c in itertools.combinations(scores, 3))
    q10 = float(np.quantile(exact, 0.10))
    est = sampled_harmonic_quantile(scores, n_sampled=3, quantile=0.10, draws=20000)
    assert est == pytest.approx(q10, abs=0.3)


def test_low_quantile_is_below_the_harmonic_mean_and_monotone_in_quantile() -> None:
    rng = np.random.default_rng(1)
    scores = list(90 + 3 * rng.standard_normal(120))
    hm = harmonic_mean(scores)
    q01 = sampled_harmonic_quantile(scores, quantile=0.01)
    q05 = sampled_harmonic_quantile(scores, quantile=0.05)
    q50 = sampled_harmonic_quantile(scores, quantile=0.50)
    assert q01 <= q05 <= q50
    assert q05 < hm
    assert conservative_vmaf(scores, quantile=0.05) == pytest.approx(q05)
    # the median draw of 5 frames sits near the clip's harmonic mean
    assert abs(q50 - hm) < 1.0


def test_one_bad_frame_pulls_the_low_quantile_down() -> None:
    scores = [95.0] * 30 + [40.0]
    # 5 of 31 frames: the bad frame is drawn with probability 5/31 > 5 %
    assert sampled_harmonic_quantile(scores, quantile=0.05) < 80.0
    assert sampled_harmonic_quantile(scores, quantile=0.5) == pytest.approx(95.0)


def test_zero_frame_and_short_clip_and_bad_arguments() -> None:
    assert conservative_vmaf([90.0, 0.0, 92.0]) == 0.0
    assert sampled_harmonic_quantile([80.0, 90.0], n_sampled=5) == pytest.approx(harmonic_mean([80.0, 90.0]))
    assert sampled_harmonic_quantile([90.0, 91.0, 92.0] * 10, seed=3) == sampled_harmonic_quantile(
        [90.0, 91.0, 92.0] * 10, seed=3
    )
    with pytest.raises(ValueError, match="no per-frame"):
        conservative_vmaf([])
    with pytest.raises(ValueError, match="quantile"):
        sampled_harmonic_quantile([90.0], quantile=1.5)
