"""Colour check of a response: VMAF reads luma only, so starved, washed-out or grayscale chroma scores full marks.

Every number is relative to the answer itself or to the reference, never an absolute floor that
an honest encode sits far above (issue 19: x265 `cbqpoffs=12:crqpoffs=12` saved 8.8 % of the bytes
at unchanged VMAF, chroma blur + saturation x0.66 paid +0.045, both far above the old 18 dB / 0.6
floors). Over the sampled frames' planes, pooled:

- luma gap = PSNR(Y) - min(PSNR(U), PSNR(V)): how much worse the colour is coded than the luma.
  An encoder spends its bits on both; starving only chroma (chroma QP offsets, chroma blur) opens
  the gap while VMAF (luma) does not move. Honest av1/hevc/h264 encodes of the shared clips at
  every CRF the miner engine searches, and lanczos/bicubic upscales, keep it under the default
  `chroma_max_luma_gap_db` (see `benchmarks/calibrate_chroma.py` for the measured table).
- saturation ratio = RMS(dist chroma - 128) / RMS(ref chroma - 128): grayscale 0.00, x0.66 0.6x;
  honest encodes stay close to 1. Checked only when the reference has colour (its RMS >=
  `chroma_min_reference_rms`), else a gray output of a gray clip is right.
- chroma PSNR (the worse of U and V) >= `chroma_min_psnr_db`: an absolute backstop (U and V swapped).
- chroma detail loss = how much more of the reference's high-frequency energy (squared neighbour
  differences) the answer's chroma lost than its luma, in dB: 10 log10((Dy'/Dy) / (Dc'/Dc)). An
  encoder quantises both alike (honest -0.6 ... +1.4 dB: chroma keeps as much detail as luma, or
  more at high CRF); blurring the chroma before an honest encode (no saturation change, the luma
  gap stays in the honest range on real footage) loses 3-14 dB. At most `chroma_max_detail_loss_db`
  plus `chroma_detail_loss_gap_slope` per dB of negative luma gap (chroma coded far more accurately
  than luma: honest AV1 at high CRF drops chroma noise, loss 2.6 dB at a gap of -9.8 dB); skipped
  when the reference's chroma has almost no detail, and when the answer's luma has more detail than
  the reference's (sharpened luma: an enhancement, judged by `vmaf_enhancement_gap`).

`chroma_stats` and `chroma_failure` are pure; `frame_planes` turns a decoded frame into the planes
they take (so a caller that already decodes the frames passes them in); `measure_chroma` decodes.
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
MIN_CHROMA_DETAIL = 0.5
"""Below this mean squared neighbour difference per chroma pixel (flat colour) the detail loss is not judged."""
# (U, V) or (Y, U, V) planes of one frame, uint8, 4:2:0; the luma gap needs Y.
ChromaPlanes = tuple[np.ndarray, ...]


@dataclass(frozen=True)
class ChromaStats:
    """Pooled over the sampled frames: saturation ratio (dist / ref), U, V (and Y) PSNR in dB, reference RMS."""

    saturation_ratio: float
    psnr_u: float
    psnr_v: float
    reference_rms: float
    frames: int
    psnr_y: float | None = None
    detail_ratio_db: float | None = None
    detail_loss_db: float | None = None  # chroma minus luma high-frequency retention loss, dB

    @property
    def psnr_min(self) -> float:
        return min(self.psnr_u, self.psnr_v)

    @property
    def luma_gap(self) -> float | None:
        """PSNR(Y) - min(PSNR(U), PSNR(V)) in dB; None without the luma plane."""
        return None if self.psnr_y is None else self.psnr_y - self.psnr_min

    def allowed_gap(self, max_luma_gap_db: float, detail_slope: float) -> float:
        """The largest honest luma gap for this content: `max_luma_gap_db + detail_slope * detail_ratio_db`."""
        return max_luma_gap_db + detail_slope * (self.detail_ratio_db or 0.0)


def _psnr(mse: float) -> float:
    return 100.0 if mse <= 1e-12 else 10.0 * math.log10(255.0**2 / mse)


def _sq_err(a: np.ndarray, b: np.ndarray) -> float:
    d = a.astype(np.int32) - b.astype(np.int32)
    return float(np.einsum("ij,ij->", d, d, dtype=np.int64))


def _detail(p: np.ndarray) -> float:
    """Sum of squared horizontal and vertical neighbour differences (high-frequency energy), per pixel."""
    q = p.astype(np.int32)
    dy, dx = np.diff(q, axis=0), np.diff(q, axis=1)
    return (
        float(np.einsum("ij,ij->", dy, dy, dtype=np.int64) + np.einsum("ij,ij->", dx, dx, dtype=np.int64))
        / p.size
    )


def _sq_dev(p: np.ndarray) -> float:
    d = p.astype(np.int32) - int(NEUTRAL)
    return float(np.einsum("ij,ij->", d, d, dtype=np.int64))


def chroma_stats(
    reference: Sequence[ChromaPlanes], distorted: Sequence[ChromaPlanes], *, with_detail: bool = True
) -> ChromaStats:
    """Saturation ratio and PSNRs of paired planes: (U, V) or (Y, U, V) per frame, uint8, same shapes.

    `with_detail=False` skips the detail energies (`detail_ratio_db` and `detail_loss_db` are then
    None): they cost most of this function's time and only the opt-in rules read them."""
    if not reference or len(reference) != len(distorted):
        raise ValueError(
            f"need the same non-zero number of frames, got {len(reference)} and {len(distorted)}"
        )
    ref_sq = dist_sq = se_u = se_v = se_y = detail_y = detail_c = kept_y = kept_c = 0.0
    n_pixels = n_luma = 0
    with_luma = True
    for ref, dist in zip(reference, distorted, strict=True):
        if len(ref) != len(dist) or len(ref) not in (2, 3):
            raise ValueError(f"need (U, V) or (Y, U, V) planes per frame, got {len(ref)} and {len(dist)}")
        if any(r.shape != d.shape for r, d in zip(ref, dist, strict=True)):
            raise ValueError(f"planes differ in size: {[r.shape for r in ref]} vs {[d.shape for d in dist]}")
        if len(ref) == 3:
            se_y += _sq_err(ref[0], dist[0])
            n_luma += ref[0].size
            if with_detail:
                detail_y += _detail(ref[0])
                detail_c += (_detail(ref[1]) + _detail(ref[2])) / 2
                kept_y += _detail(dist[0])
                kept_c += (_detail(dist[1]) + _detail(dist[2])) / 2
        else:
            with_luma = False
        ru, rv, du, dv = ref[-2], ref[-1], dist[-2], dist[-1]
        ref_sq += _sq_dev(ru) + _sq_dev(rv)
        dist_sq += _sq_dev(du) + _sq_dev(dv)
        se_u += _sq_err(ru, du)
        se_v += _sq_err(rv, dv)
        n_pixels += ru.size
    ref_rms = math.sqrt(ref_sq / (2 * n_pixels))
    ratio = math.sqrt(dist_sq / ref_sq) if ref_sq > 0 else 1.0
    psnr_y = _psnr(se_y / n_luma) if with_luma and n_luma else None
    detail = loss = None
    if psnr_y is not None and with_detail:
        detail = 10.0 * math.log10(max(detail_c, 1e-3) / max(detail_y, 1e-3))
        loss = detail_loss_db(detail_y, detail_c, kept_y, kept_c, len(reference))
    return ChromaStats(
        ratio, _psnr(se_u / n_pixels), _psnr(se_v / n_pixels), ref_rms, len(reference), psnr_y, detail, loss
    )


def detail_loss_db(ref_y: float, ref_c: float, dist_y: float, dist_c: float, frames: int) -> float | None:
    """10 log10((dist_y / ref_y) / (dist_c / ref_c)) from summed per-pixel detail energies; None when the
    reference's chroma (or luma) is too flat to judge, or the answer's luma has more detail than the
    reference's (sharpened: an upscaler that sharpens luma only is judged by the enhancement gap)."""
    if ref_c < MIN_CHROMA_DETAIL * frames or ref_y < MIN_CHROMA_DETAIL * frames:
        return None
    if dist_y > ref_y:  # sharpened luma: an enhancement (the enhancement-gap check), not a loss
        return None
    return 10.0 * math.log10(max(dist_y, 1e-6) / ref_y) - 10.0 * math.log10(max(dist_c, 1e-6) / ref_c)


def chroma_failure(
    stats: ChromaStats,
    *,
    min_saturation_ratio: float,
    min_psnr_db: float,
    min_reference_rms: float,
    max_luma_gap_db: float = 0.0,
    detail_slope: float = 0.0,
    max_detail_loss_db: float = 0.0,
    detail_loss_gap_slope: float = 0.0,
) -> str | None:
    """Why the colours are not the reference's (None when they are close enough); a limit of 0 is off."""
    if min_saturation_ratio > 0 and stats.reference_rms >= min_reference_rms:
        if stats.saturation_ratio < min_saturation_ratio:
            return (
                f"colour saturation is {stats.saturation_ratio:.2f}x the reference's "
                f"(minimum {min_saturation_ratio:g}): washed-out, blurred or grayscale chroma"
            )
    if min_psnr_db > 0 and stats.psnr_min < min_psnr_db:
        return (
            f"chroma PSNR is {stats.psnr_min:.1f} dB (U {stats.psnr_u:.1f}, V {stats.psnr_v:.1f}), "
            f"minimum {min_psnr_db:g} dB: the colours are not the reference's"
        )
    gap = stats.luma_gap
    if max_luma_gap_db > 0 and gap is not None:
        allowed = stats.allowed_gap(max_luma_gap_db, detail_slope)
        if gap > allowed:
            return (
                f"chroma PSNR {stats.psnr_min:.1f} dB is {gap:.1f} dB below the luma's {stats.psnr_y:.1f} dB "
                f"(at most {allowed:.1f} for this content's colour detail): the colour is coded far worse "
                "than the luma VMAF sees"
            )
    loss = stats.detail_loss_db
    if max_detail_loss_db > 0 and loss is not None:
        allowed = max_detail_loss_db + detail_loss_gap_slope * max(0.0, -(gap or 0.0))
        if loss > allowed:
            return (
                f"the chroma lost {loss:.1f} dB more of the reference's fine detail than the luma did (at "
                f"most {allowed:.1f} here): blurred colour that VMAF, which reads luma, does not see"
            )
    return None


def frame_planes(frame: av.VideoFrame) -> ChromaPlanes:
    """(Y, U, V) of a decoded frame as 4:2:0 uint8 arrays (converted to yuv420p when it is not)."""
    if frame.format.name != "yuv420p":
        frame = frame.reformat(format="yuv420p")
    out = []
    for plane in frame.planes[0:3]:
        buf = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
        out.append(buf[:, : plane.width].copy())
    return tuple(out)


def decode_chroma(path: str | Path, indices: Sequence[int]) -> list[ChromaPlanes]:
    """The (Y, U, V) planes of the frames at `indices` (sorted, distinct), as 4:2:0 uint8 arrays."""
    wanted = sorted(set(indices))
    if not wanted or wanted[0] < 0:
        raise ValueError(f"need non-negative frame indices, got {list(indices)}")
    got: dict[int, ChromaPlanes] = {}
    n = -1
    with closing(iter_frames(path)) as frames:
        for n, frame in enumerate(frames):
            if n in wanted:
                got[n] = frame_planes(frame)
            if n >= wanted[-1]:
                break
    if len(got) != len(wanted):
        raise DecodeError(f"{path}: frame {wanted[-1]} requested but the stream has only {n + 1} frames")
    return [got[i] for i in wanted]


def measure_chroma(reference: str | Path, distorted: str | Path, indices: Sequence[int]) -> ChromaStats:
    """Colour statistics of `distorted` vs `reference` over the frames at `indices` (same size)."""
    return chroma_stats(decode_chroma(reference, indices), decode_chroma(distorted, indices))
