"""Colour check of a response: VMAF reads luma only, so grayscale or washed-out chroma would score full marks.

Measured (hevc, 160x90 testsrc2/mandelbrot and 320-wide real footage): removing the colour keeps
VMAF-NEG within 0.3 points and saves 10-40 % of the bytes, a real gain for a compression miner.
Two numbers separate those outputs from honest encodes, over the sampled frames' U and V planes:

- saturation ratio = RMS(dist chroma - 128) / RMS(ref chroma - 128): grayscale 0.00, saturation
  x0.3 0.27-0.30, x0.5 0.45-0.49; honest encodes 0.90-1.07 down to VMAF ~25 (0.73 for a CRF 51
  encode scoring VMAF 10, which scores 0 anyway). Checked only when the reference has colour
  (its RMS >= `chroma_min_reference_rms`), else a gray output of a gray clip is right.
- chroma PSNR (the worse of U and V): grayscale testsrc2 11-12 dB; honest encodes >= 22 dB even at
  VMAF 24. It catches wrong colours that keep their saturation (e.g. U and V swapped).

`chroma_stats` and `chroma_failure` are pure; `measure_chroma` decodes the sampled frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from scoring.media.frames import DecodeError, iter_frames

NEUTRAL = 128.0
ChromaPlanes = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class ChromaStats:
    """Pooled over the sampled frames: saturation ratio (dist / ref), U and V PSNR (dB), reference RMS."""

    saturation_ratio: float
    psnr_u: float
    psnr_v: float
    reference_rms: float
    frames: int

    @property
    def psnr_min(self) -> float:
        return min(self.psnr_u, self.psnr_v)


def _psnr(mse: float) -> float:
    return 100.0 if mse <= 1e-12 else 10.0 * math.log10(255.0**2 / mse)


def chroma_stats(reference: Sequence[ChromaPlanes], distorted: Sequence[ChromaPlanes]) -> ChromaStats:
    """Saturation ratio and chroma PSNR of paired (U, V) planes (uint8, same shapes)."""
    if not reference or len(reference) != len(distorted):
        raise ValueError(
            f"need the same non-zero number of frames, got {len(reference)} and {len(distorted)}"
        )
    ref_sq = dist_sq = se_u = se_v = 0.0
    n_pixels = 0
    for (ru, rv), (du, dv) in zip(reference, distorted, strict=True):
        if ru.shape != du.shape or rv.shape != dv.shape:
            raise ValueError(f"chroma planes differ in size: {ru.shape} vs {du.shape}")
        ru_f, rv_f, du_f, dv_f = (p.astype(np.float64) for p in (ru, rv, du, dv))
        ref_sq += float(np.sum((ru_f - NEUTRAL) ** 2) + np.sum((rv_f - NEUTRAL) ** 2))
        dist_sq += float(np.sum((du_f - NEUTRAL) ** 2) + np.sum((dv_f - NEUTRAL) ** 2))
        se_u += float(np.sum((ru_f - du_f) ** 2))
        se_v += float(np.sum((rv_f - dv_f) ** 2))
        n_pixels += ru.size
    ref_rms = math.sqrt(ref_sq / (2 * n_pixels))
    ratio = math.sqrt(dist_sq / ref_sq) if ref_sq > 0 else 1.0
    return ChromaStats(ratio, _psnr(se_u / n_pixels), _psnr(se_v / n_pixels), ref_rms, len(reference))


def chroma_failure(
    stats: ChromaStats, *, min_saturation_ratio: float, min_psnr_db: float, min_reference_rms: float
) -> str | None:
    """Why the colours are not the reference's (None when they are close enough)."""
    if min_saturation_ratio > 0 and stats.reference_rms >= min_reference_rms:
        if stats.saturation_ratio < min_saturation_ratio:
            return (
                f"colour saturation is {stats.saturation_ratio:.2f}x the reference's "
                f"(minimum {min_saturation_ratio:g}): grayscale or washed-out chroma"
            )
    if min_psnr_db > 0 and stats.psnr_min < min_psnr_db:
        return (
            f"chroma PSNR is {stats.psnr_min:.1f} dB (U {stats.psnr_u:.1f}, V {stats.psnr_v:.1f}), "
            f"minimum {min_psnr_db:g} dB: the colours are not the reference's"
        )
    return None


def _planes(frame: av.VideoFrame) -> ChromaPlanes:
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    out = []
    for plane in frame.planes[1:3]:
        buf = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
        out.append(buf[:, : plane.width].copy())
    return out[0], out[1]


def decode_chroma(path: str | Path, indices: Sequence[int]) -> list[ChromaPlanes]:
    """The (U, V) planes of the frames at `indices` (sorted, distinct), as 4:2:0 uint8 arrays."""
    wanted = sorted(set(indices))
    if not wanted or wanted[0] < 0:
        raise ValueError(f"need non-negative frame indices, got {list(indices)}")
    got: dict[int, ChromaPlanes] = {}
    n = -1
    with closing(iter_frames(path)) as frames:
        for n, frame in enumerate(frames):
            if n in wanted:
                got[n] = _planes(frame)
            if n >= wanted[-1]:
                break
    if len(got) != len(wanted):
        raise DecodeError(f"{path}: frame {wanted[-1]} requested but the stream has only {n + 1} frames")
    return [got[i] for i in wanted]


def measure_chroma(reference: str | Path, distorted: str | Path, indices: Sequence[int]) -> ChromaStats:
    """Chroma statistics of `distorted` vs `reference` over the frames at `indices` (same size)."""
    return chroma_stats(decode_chroma(reference, indices), decode_chroma(distorted, indices))
