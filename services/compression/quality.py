"""How a miner should read its own per-frame VMAF before answering a compression task.

The validator scores `n` frames drawn at random (docs/scoring.md#metrics: 5 frames, harmonic mean). The miner
cannot know which, so it reads the full per-frame curve conservatively: the `quantile` of the
distribution of "harmonic mean of n random frames" (the validator's draw, simulated), and never
more than the harmonic mean over every frame. Pure functions; the simulation is seeded.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scoring.metrics.vmaf import harmonic_mean

__all__ = ["conservative_vmaf", "harmonic_mean", "sampled_harmonic_means", "sampled_harmonic_quantile"]


def sampled_harmonic_means(
    per_frame: Sequence[float], *, n_sampled: int = 5, draws: int = 4000, seed: int = 0
) -> np.ndarray:
    """Simulated validator draws: H(n random distinct frames) for `draws` draws (seeded).

    With n_sampled >= the number of frames every draw is the whole clip.
    """
    if n_sampled < 1:
        raise ValueError(f"n_sampled must be >= 1, got {n_sampled}")
    arr = np.asarray(list(per_frame), dtype=np.float64)
    if arr.size == 0:
        raise ValueError("no per-frame VMAF scores")
    if n_sampled >= arr.size:
        return np.full(draws, harmonic_mean(arr.tolist()))
    arr = np.maximum(arr, 0.0)
    rng = np.random.default_rng(seed)
    # distinct indices per draw: the n smallest of a random key per frame
    keys = rng.random((draws, arr.size))
    idx = np.argpartition(keys, n_sampled - 1, axis=1)[:, :n_sampled]
    picked = arr[idx]
    safe = np.where(picked > 0, picked, 1.0)
    inv = np.where(picked > 0, 1.0 / safe, np.inf)  # a zero frame makes that draw's H = 0
    return n_sampled / inv.sum(axis=1)


def sampled_harmonic_quantile(
    per_frame: Sequence[float],
    *,
    n_sampled: int = 5,
    quantile: float = 0.05,
    draws: int = 4000,
    seed: int = 0,
) -> float:
    """The `quantile` of H(n random distinct frames) over `draws` simulated validator draws."""
    if not 0.0 <= quantile <= 1.0:
        raise ValueError(f"quantile must be in [0, 1], got {quantile}")
    h = sampled_harmonic_means(per_frame, n_sampled=n_sampled, draws=draws, seed=seed)
    return float(np.quantile(h, quantile))


def conservative_vmaf(
    per_frame: Sequence[float], *, n_sampled: int = 5, quantile: float | None = 0.05
) -> float:
    """The reading a miner compares with its target: the harmonic mean over all frames, or (with a
    `quantile`) min(that, the low quantile of the validator's n-frame harmonic mean)."""
    scores = list(per_frame)
    if not scores:
        raise ValueError("no per-frame VMAF scores")
    hm = harmonic_mean(scores)
    if quantile is None:
        return hm
    return min(hm, sampled_harmonic_quantile(scores, n_sampled=n_sampled, quantile=quantile))
