"""Anti-gaming checks run by `scoring.evaluate` between output validation and the score.

- `colour_check`: VMAF reads luma only; a grayscale, washed-out or chroma-starved answer keeps its
  VMAF while saving bytes. The check is relative: chroma PSNR against the answer's own luma PSNR
  (allowing for the content's colour detail), chroma detail lost against luma detail lost, and
  saturation against the reference's (see
  `scoring.chroma`; `benchmarks/calibrate_chroma.py` measures the thresholds).
- `enhancement_gap`: the upscaling gate model (vmaf_v0.6.1) rewards sharpening and contrast
  boosts where VMAF-NEG does not. Measured on 320x180 x2 upscales (3 contents, harmonic means):
  honest lanczos gap 1.5-3.4 and the SR model 4.8-7.9 points; bicubic + unsharp 11-18, bicubic +
  contrast x1.2 20-22 (VMAF 99.9-100 while NEG says 78-80). Compression needs no gap check: it
  scores with the NEG model, and the same boosts lowered its VMAF by 7-15 points.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from scoring.chroma import ChromaPlanes, ChromaStats, chroma_failure, chroma_stats, measure_chroma
from scoring.media.ffmpeg import ffmpeg_exe
from scoring.metrics.config import MetricsConfig
from scoring.metrics.vmaf import sample_frame_indices, vmaf_frames

STD_MODEL = "vmaf_v0.6.1"
NEG_MODEL = "vmaf_v0.6.1neg"


def colour_enabled(cfg: MetricsConfig) -> bool:
    return (
        cfg.chroma_min_saturation_ratio > 0
        or cfg.chroma_min_psnr_db > 0
        or cfg.chroma_max_luma_gap_db > 0
        or cfg.chroma_max_detail_loss_db > 0
    )


def colour_failure(stats: ChromaStats, cfg: MetricsConfig) -> str | None:
    """Why the answer's colours are refused under `cfg` (None when they pass)."""
    return chroma_failure(
        stats,
        min_saturation_ratio=cfg.chroma_min_saturation_ratio,
        min_psnr_db=cfg.chroma_min_psnr_db,
        min_reference_rms=cfg.chroma_min_reference_rms,
        max_luma_gap_db=cfg.chroma_max_luma_gap_db,
        detail_slope=cfg.chroma_gap_detail_slope,
        max_detail_loss_db=cfg.chroma_max_detail_loss_db,
        detail_loss_gap_slope=cfg.chroma_detail_loss_gap_slope,
    )


def colour_check(
    reference: Path,
    distorted: Path,
    n_frames: int,
    n: int,
    *,
    secret: str,
    task_id: str,
    cfg: MetricsConfig,
    frames: tuple[Mapping[int, ChromaPlanes], Mapping[int, ChromaPlanes]] | None = None,
) -> tuple[ChromaStats | None, str | None]:
    """(stats, why refused) on `n` seeded frames (salt "chroma"); (None, None) when the check is disabled.

    `frames` = (reference, distorted) planes by frame number, already decoded by the caller's one
    decode pass (`scoring.media.decode`, (Y, U, V) planes); without it the frames are decoded here."""
    if not colour_enabled(cfg):
        return None, None
    idx = sample_frame_indices(n_frames, n, secret=secret, task_id=task_id, salt="chroma")
    if frames is not None:
        detail = cfg.chroma_gap_detail_slope != 0 or cfg.chroma_max_detail_loss_db > 0
        stats = chroma_stats([frames[0][i] for i in idx], [frames[1][i] for i in idx], with_detail=detail)
    else:
        stats = measure_chroma(reference, distorted, idx)
    return stats, colour_failure(stats, cfg)


def enhancement_gap(
    reference: Path,
    distorted: Path,
    indices: Sequence[int],
    gate_vmaf: float,
    gate_model: str,
    cfg: MetricsConfig,
    scored: Mapping[str, float] | None = None,
) -> tuple[float | None, str | None]:
    """(VMAF-NEG, why refused) on the gate's frames; (None, None) when the check is disabled.

    The gate's own value is reused when it was computed with vmaf_v0.6.1 (one extra libvmaf run),
    else (4K model) vmaf_v0.6.1 is computed too so both numbers use the same model family. `scored`
    ({model: harmonic mean}) holds values the caller already has from one multi-model libvmaf run."""
    if cfg.vmaf_enhancement_gap_max <= 0:
        return None, None
    ffmpeg = ffmpeg_exe(cfg.ffmpeg_path)

    def run(model: str) -> float:
        if scored is not None and model in scored:  # computed in the gate's own libvmaf run
            return scored[model]
        res = vmaf_frames(
            reference,
            distorted,
            indices,
            model=model,
            threads=cfg.vmaf_threads,
            timeout_s=cfg.vmaf_timeout_s,
            window=cfg.vmaf_window,
            ffmpeg=ffmpeg,
        )
        return res.harmonic_mean

    std = gate_vmaf if gate_model == STD_MODEL else run(STD_MODEL)
    neg = run(NEG_MODEL)
    gap = std - neg
    if gap <= cfg.vmaf_enhancement_gap_max:
        return neg, None
    return neg, (
        f"VMAF {std:.2f} but VMAF-NEG {neg:.2f} (gap {gap:.2f} > {cfg.vmaf_enhancement_gap_max:g}): "
        "sharpening or contrast boost inflating VMAF"
    )
