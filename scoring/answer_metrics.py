"""Metric orchestration: VMAF, the colour check, the VMAF-NEG gap and PIE-APP on a checked answer's frames.

Everything here works on the frames `scoring.answer_check` decoded once; libvmaf runs once per
answer with every model the task needs (upscaling: the gate model and VMAF-NEG together).

Anti-gaming checks (`scoring.integrity`) run once VMAF would give credit (at or above the threshold
or gate; below it the formulas give nothing for quality anyway), each refusing with a named reason:
`chroma_mismatch` (VMAF ignores colour) and, for upscaling, `vmaf_enhancement_gap` (the gate model
rewards sharpening/contrast boosts that VMAF-NEG does not).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np
from loguru import logger

from scoring.answer_check import CheckedAnswer
from scoring.budget import Budget
from scoring.integrity import NEG_MODEL, STD_MODEL, colour_check, enhancement_gap
from scoring.media.ffmpeg import ffmpeg_exe
from scoring.metrics.config import MetricsConfig
from scoring.metrics.vmaf import VmafResult, vmaf_windows
from scoring.validation import Reason
from scoring.verdicts import Progress, Refused, UpscalingVerdict, VerdictBase, refuse


class PieAppScorer(Protocol):
    """What evaluate needs from `scoring.metrics.pieapp.PieAppMetric`."""

    def score_frames(self, ref_frames: list[np.ndarray], dist_frames: list[np.ndarray]) -> Any: ...


def vmaf(
    v: VerdictBase, checked: CheckedAnswer, models: Sequence[str], cfg: MetricsConfig, budget: Budget
) -> dict[str, VmafResult]:
    """Sampled VMAF of every model in `models` (one libvmaf run); the first is the verdict's VMAF."""
    d, ref, ans = checked.draw, checked.reference, checked.answer
    assert d is not None and ref is not None and ans is not None
    t0 = time.monotonic()
    res = vmaf_windows(
        ref.yuv,
        ans.yuv,
        d.vmaf,
        d.n_frames,
        models=models,
        threads=cfg.vmaf_threads,
        timeout_s=cfg.vmaf_timeout_s,
        window=cfg.vmaf_window,
        ffmpeg=ffmpeg_exe(cfg.ffmpeg_path),
        budget=budget,
    )
    v.timings["vmaf_s"] = time.monotonic() - t0
    main = res[models[0]]
    v.vmaf, v.vmaf_model = main.harmonic_mean, main.model
    v.vmaf_per_frame, v.vmaf_indices = main.per_frame, list(d.vmaf)
    return res


def colours_ok(v: VerdictBase, checked: CheckedAnswer, n: int, secret: str, cfg: MetricsConfig) -> None:
    """The colour check on the already-decoded frames; raises `Refused` after marking `chroma_mismatch`."""
    d, ref, ans = checked.draw, checked.reference, checked.answer
    assert d is not None and ref is not None and ans is not None
    t0 = time.monotonic()
    stats, why = colour_check(
        checked.reference_path, checked.answer_path, d.n_frames, n, secret=secret, task_id=v.task_id, cfg=cfg,
        frames=(ref.yuv, ans.yuv),
    )  # fmt: skip
    if stats is None:
        return
    v.timings["chroma_s"] = time.monotonic() - t0
    v.chroma_saturation, v.chroma_psnr = stats.saturation_ratio, stats.psnr_min
    if why is not None:
        refuse(v, Reason.CHROMA_MISMATCH.value, why)
        raise Refused


def gate_models(gate_model: str, cfg: MetricsConfig) -> list[str]:
    """The models one upscaling libvmaf run needs: the gate's, then what the gap check compares."""
    models = [gate_model]
    if cfg.vmaf_enhancement_gap_max > 0:
        models += [m for m in (STD_MODEL, NEG_MODEL) if m not in models]
    return models


def no_enhancement_gap(
    v: UpscalingVerdict,
    checked: CheckedAnswer,
    scored: dict[str, VmafResult],
    gate_model: str,
    gate_threshold: float,
    cfg: MetricsConfig,
) -> None:
    """Raises `Refused` after marking `vmaf_enhancement_gap`: a suspicious VMAF - VMAF-NEG gap
    that is what carries the output across the gate.

    The upscaling score itself is PIE-APP; VMAF only gates. So sharpening or a contrast boost can
    gain a miner exactly one thing: crossing a gate its output would fail on VMAF-NEG. A large gap
    on an output that passes the gate on VMAF-NEG too gains nothing and is not refused: honest
    super-resolution networks sharpen as well (a gap of 15.6 was seen on the demo's content), and
    refusing them would punish the strategy the subnet exists to reward.
    """
    values = {m: r.harmonic_mean for m, r in scored.items()}
    gate = values[gate_model]
    v.vmaf_neg, why = enhancement_gap(
        checked.reference_path, checked.answer_path, v.vmaf_indices, gate, gate_model, cfg, scored=values
    )
    if why is None:
        return
    if v.vmaf_neg is not None and v.vmaf_neg >= gate_threshold:
        logger.info("task {}: {} (passes the gate on VMAF-NEG too: not refused)", v.task_id, why)
        return
    refuse(v, Reason.VMAF_ENHANCEMENT_GAP.value, f"{why}; VMAF-NEG is below the gate {gate_threshold:g}")
    raise Refused


def pieapp(
    v: UpscalingVerdict,
    checked: CheckedAnswer,
    cfg: MetricsConfig,
    metric: PieAppScorer | None,
    note: Progress,
) -> float:
    """PIE-APP on the seeded frames (already decoded as RGB); raw = mean(|d_i|), the cap is the formula's."""
    if metric is None:
        from scoring.metrics.pieapp import get_metric

        metric = get_metric(cfg)
    d, ref, ans = checked.draw, checked.reference, checked.answer
    assert d is not None and ref is not None and ans is not None
    idx = d.pieapp
    t1 = time.monotonic()
    per_frame: list[float] = []
    for k, (r, a) in enumerate(zip(ref.rgb_frames(idx), ans.rgb_frames(idx), strict=True), start=1):
        note(f"PIE-APP frame {k}/{len(idx)}")
        res = metric.score_frames([r], [a])
        per_frame.extend(float(x) for x in res.per_frame)
        v.pieapp_random_weights = v.pieapp_random_weights or bool(getattr(res, "random_weights", False))
    v.timings["pieapp_s"] = time.monotonic() - t1
    v.pieapp_indices, v.pieapp_per_frame = list(idx), per_frame
    v.pieapp = float(np.mean(np.abs(per_frame)))
    return v.pieapp
