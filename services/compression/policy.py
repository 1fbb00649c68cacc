"""Pure decisions of the searching engine around the search: fallback CRF, CRF for a size cap."""

from __future__ import annotations

import math

from scoring.compression import compression_score
from scoring.config import ScoringConfig

from .search import Probe, SearchResult


def fallback_crf(result: SearchResult, *, conservative: int, lo: int, slope: float) -> int:
    """CRF for a search cut short without a passing probe: the conservative CRF, kept below any
    failing probe by the CRF distance its VMAF deficit suggests (pure)."""
    crf = conservative
    fail = result.lowest_failing
    if fail is not None:
        deficit = max(result.target - fail.vmaf, 0.0)
        crf = min(crf, fail.crf - 1 - math.ceil(deficit / slope))
    return max(crf, lo)


def crf_for_size(probes: list[Probe], crf: int, size: int, target_size: float, per_crf: float = 0.06) -> int:
    """The CRF expected to bring a file of `size` bytes at `crf` under `target_size` (pure).

    Uses the log-size drop per CRF step seen in the probes (default `per_crf`, about 6 % a step).
    """
    pts = sorted((p for p in probes if p.size_bytes > 0), key=lambda p: p.crf)
    if len(pts) >= 2 and pts[-1].crf > pts[0].crf:
        k = (math.log(pts[0].size_bytes) - math.log(pts[-1].size_bytes)) / (pts[-1].crf - pts[0].crf)
        per_crf = k if k > 0.005 else per_crf
    steps = math.log(size / target_size) / per_crf if size > target_size else 0.0
    return crf + max(1, math.ceil(steps))


def best_scoring_crf(
    candidates: list[tuple[int, int, float]], *, input_size: int, threshold: float, cfg: ScoringConfig
) -> int:
    """The CRF with the best estimated S_f among `(crf, size_bytes, vmaf)` candidates that all passed.

    S_f trades compression against VMAF margin, so once C is small a lower CRF can score more
    (pure; ties go to the higher CRF, i.e. the smaller file).
    """
    if not candidates:
        raise ValueError("no candidate CRFs")

    def key(c: tuple[int, int, float]) -> tuple[float, int]:
        crf, size, vmaf = c
        rate = size / input_size
        return compression_score(rate, min(max(vmaf, 0.0), 100.0), threshold, cfg).s_f, crf

    return max(candidates, key=key)[0]
