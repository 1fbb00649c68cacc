"""Evaluate one response: validation (§6.4), then metrics (§6.1), then the pure formulas (§6.2/§6.3).

This is what the validator and `vidaio score compression|upscaling` call. A response that fails
validation, or whose metrics cannot be computed, gets a verdict with score 0 and named reasons;
a bad *reference* (the caller's own file) raises `BadReferenceError`.

Frame sampling is seeded with (secret, task_id): VMAF uses salt "vmaf", PIE-APP "pieapp", the colour
check "chroma", so the draws are independent and unpredictable without the validator's secret.

Anti-gaming checks (`scoring.integrity`) run once VMAF would give credit (at or above the threshold
or gate; below it the formulas give nothing for quality anyway), each refusing with a named reason:
`chroma_mismatch` (VMAF ignores colour) and, for upscaling, `vmaf_enhancement_gap` (the gate model
rewards sharpening/contrast boosts that VMAF-NEG does not).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import numpy as np
from loguru import logger

from scoring.compression import compression_rate, compression_score
from scoring.config import ScoringConfig
from scoring.integrity import colour_check, enhancement_gap
from scoring.media.ffmpeg import FfmpegError, ffmpeg_exe
from scoring.media.frames import DecodeError, decode_frames
from scoring.media.probe import ProbeError, ProbeInfo, probe
from scoring.metrics.config import MetricsConfig
from scoring.metrics.vmaf import (
    VmafError,
    VmafInputError,
    model_for_height,
    sample_frame_indices,
    vmaf_frames,
)
from scoring.upscaling import upscaling_score
from scoring.validation import (
    Reason,
    ValidationResult,
    expected_for_compression,
    expected_for_upscaling,
    validate_output,
)

Status = Literal["ok", "invalid", "error"]
Progress = Callable[[str], None]
METRIC_ERROR = "metric_error"


class _Refused(Exception):
    """An anti-gaming check refused the answer (the verdict already says why)."""


class BadReferenceError(ValueError):
    """The reference or input clip (the caller's own file) cannot be used."""


class PieAppScorer(Protocol):
    """What evaluate needs from `scoring.metrics.pieapp.PieAppMetric`."""

    def score_frames(self, ref_frames: list[np.ndarray], dist_frames: list[np.ndarray]) -> Any: ...


@dataclass
class _Common:
    task_id: str
    status: Status = "ok"
    reasons: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    vmaf: float | None = None
    vmaf_model: str | None = None
    vmaf_per_frame: dict[int, float] = field(default_factory=dict)
    vmaf_indices: list[int] = field(default_factory=list)
    sha256: str | None = None
    chroma_saturation: float | None = None
    chroma_psnr: float | None = None
    score: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        d["vmaf_per_frame"] = {str(k): v for k, v in self.vmaf_per_frame.items()}
        return d


@dataclass
class CompressionVerdict(_Common):
    """Compression response: S_f = w_c(1 - C^1.5) + w_vmaf(VMAF - thr)/(100 - thr), 0 below thr."""

    codec: str = ""
    vmaf_threshold: float = 0.0
    original_size: int = 0
    compressed_size: int = 0
    compression_rate: float | None = None
    compression_term: float = 0.0
    quality_term: float = 0.0
    vmaf_passed: bool = False


@dataclass
class UpscalingVerdict(_Common):
    """Upscaling response: VMAF gate, PIE-APP quality S_Q, length S_L, S_pre and S_F (= score)."""

    scale: int = 2
    content_length: float = 0.0
    vmaf_threshold: float = 0.0
    vmaf_passed: bool = False
    pieapp: float | None = None
    pieapp_per_frame: list[float] = field(default_factory=list)
    pieapp_indices: list[int] = field(default_factory=list)
    pieapp_random_weights: bool = False
    vmaf_neg: float | None = None
    s_q: float = 0.0
    s_l: float = 0.0
    s_pre: float = 0.0
    s_f: float = 0.0


def _probe_reference(path: str | Path, what: str) -> ProbeInfo:
    try:
        return probe(path)
    except ProbeError as exc:
        raise BadReferenceError(f"{what} cannot be used: {exc}") from exc


def _apply_validation(verdict: _Common, result: ValidationResult) -> bool:
    verdict.sha256 = result.sha256
    verdict.timings["validate_s"] = result.elapsed_s
    if result.ok:
        return True
    verdict.status = "invalid"
    verdict.reasons = result.reasons
    verdict.messages = result.messages
    return False


def _refuse(verdict: _Common, reason: Reason, detail: str) -> None:
    verdict.status = "invalid"
    verdict.reasons = [reason.value]
    verdict.messages = [f"{reason.value}: {detail}"]
    verdict.score = 0.0


def _colours_ok(
    verdict: _Common, ref: Path, dist: Path, n_frames: int, n: int, secret: str, cfg: MetricsConfig
) -> bool:
    """The colour check; False after marking the verdict `chroma_mismatch`."""
    t0 = time.monotonic()
    stats, why = colour_check(ref, dist, n_frames, n, secret=secret, task_id=verdict.task_id, cfg=cfg)
    if stats is None:
        return True
    verdict.timings["chroma_s"] = time.monotonic() - t0
    verdict.chroma_saturation, verdict.chroma_psnr = stats.saturation_ratio, stats.psnr_min
    if why is not None:
        _refuse(verdict, Reason.CHROMA_MISMATCH, why)
    return why is None


def _no_enhancement_gap(
    v: UpscalingVerdict,
    ref: Path,
    dist: Path,
    gate_vmaf: float,
    gate_model: str,
    gate_threshold: float,
    cfg: MetricsConfig,
) -> bool:
    """False after marking the verdict `vmaf_enhancement_gap`: a suspicious VMAF - VMAF-NEG gap
    that is what carries the output across the gate.

    The upscaling score itself is PIE-APP; VMAF only gates. So sharpening or a contrast boost can
    gain a miner exactly one thing: crossing a gate its output would fail on VMAF-NEG. A large gap
    on an output that passes the gate on VMAF-NEG too gains nothing and is not refused: honest
    super-resolution networks sharpen as well (a gap of 15.6 was seen on the demo's content), and
    refusing them would punish the strategy the subnet exists to reward.
    """
    t0 = time.monotonic()
    v.vmaf_neg, why = enhancement_gap(ref, dist, v.vmaf_indices, gate_vmaf, gate_model, cfg)
    if v.vmaf_neg is not None:
        v.timings["vmaf_neg_s"] = time.monotonic() - t0
    if why is None:
        return True
    if v.vmaf_neg is not None and v.vmaf_neg >= gate_threshold:
        logger.info("task {}: {} (passes the gate on VMAF-NEG too: not refused)", v.task_id, why)
        return True
    _refuse(v, Reason.VMAF_ENHANCEMENT_GAP, f"{why}; VMAF-NEG is below the gate {gate_threshold:g}")
    return False


_V = TypeVar("_V", bound=_Common)
_METRIC_ERRORS = (FfmpegError, VmafError, VmafInputError, ProbeError, DecodeError)


def _finished(v: _V, kind: str, started: float, extra: str, extra_value: float | None) -> _V:
    """Stamp the total time and write the one log line per evaluated task."""
    v.timings["total_s"] = time.monotonic() - started
    logger.info(
        "{} task {}: status={} score={:.4f} vmaf={} {}={} reasons={}",
        kind,
        v.task_id,
        v.status,
        v.score,
        None if v.vmaf is None else round(v.vmaf, 3),
        extra,
        None if extra_value is None else round(extra_value, 4),
        ",".join(v.reasons) or "-",
    )
    return v


def _metric_failed(verdict: _Common, exc: Exception) -> None:
    verdict.status = "error"
    verdict.reasons = [METRIC_ERROR]
    verdict.messages = [f"{METRIC_ERROR}: {' '.join(str(exc).split())[:500]}"]
    verdict.score = 0.0
    logger.warning("task {}: metric failed: {}", verdict.task_id, verdict.messages[0])


def _n_frames(ref: ProbeInfo, result: ValidationResult) -> int:
    dist = result.decoded_frames if result.decoded_frames is not None else ref.frame_count
    return min(ref.frame_count, dist)


def _vmaf(
    verdict: _Common,
    ref: Path,
    dist: Path,
    n_frames: int,
    n: int,
    model: str,
    secret: str,
    cfg: MetricsConfig,
) -> float:
    idx = sample_frame_indices(n_frames, n, secret=secret, task_id=verdict.task_id, salt="vmaf")
    t0 = time.monotonic()
    res = vmaf_frames(
        ref,
        dist,
        idx,
        model=model,
        threads=cfg.vmaf_threads,
        timeout_s=cfg.vmaf_timeout_s,
        window=cfg.vmaf_window,
        ffmpeg=ffmpeg_exe(cfg.ffmpeg_path),
    )
    verdict.timings["vmaf_s"] = time.monotonic() - t0
    verdict.vmaf, verdict.vmaf_model = res.harmonic_mean, res.model
    verdict.vmaf_per_frame, verdict.vmaf_indices = res.per_frame, idx
    return res.harmonic_mean


def evaluate_compression(
    reference: str | Path,
    distorted: str | Path,
    *,
    vmaf_threshold: float,
    codec: str,
    task_id: str,
    secret: str,
    scoring_cfg: ScoringConfig,
    metrics_cfg: MetricsConfig,
    seen_sha256: Collection[str] = (),
    url: str | None = None,
    seen_urls: Collection[str] = (),
    progress: Progress | None = None,
) -> CompressionVerdict:
    """Validate, score VMAF (neg model, sampled) and apply the compression formula to one response."""
    started = time.monotonic()
    note = progress or (lambda _msg: None)
    ref_p, dist_p = Path(reference), Path(distorted)
    ref = _probe_reference(ref_p, "reference")
    v = CompressionVerdict(
        task_id=task_id, codec=codec, vmaf_threshold=vmaf_threshold, original_size=ref.size_bytes
    )
    note("validating output")
    result = validate_output(
        dist_p,
        expected_for_compression(ref, codec, metrics_cfg),
        reference=ref,
        seen_sha256=seen_sha256,
        url=url,
        seen_urls=seen_urls,
    )
    if dist_p.is_file():
        v.compressed_size = dist_p.stat().st_size
    if _apply_validation(v, result):
        try:
            n_frames = _n_frames(ref, result)
            note("scoring VMAF")
            vmaf = _vmaf(
                v,
                ref_p,
                dist_p,
                n_frames,
                scoring_cfg.vmaf_samples,
                metrics_cfg.vmaf_model_compression,
                secret,
                metrics_cfg,
            )
            if vmaf >= vmaf_threshold and not _colours_ok(
                v, ref_p, dist_p, n_frames, scoring_cfg.vmaf_samples, secret, metrics_cfg
            ):
                raise _Refused
            v.compression_rate = compression_rate(v.compressed_size, v.original_size)
            b = compression_score(v.compression_rate, vmaf, vmaf_threshold, scoring_cfg)
            v.compression_term, v.quality_term, v.vmaf_passed, v.score = (
                b.compression_term,
                b.quality_term,
                b.vmaf_passed,
                b.s_f,
            )
        except _Refused:
            pass
        except _METRIC_ERRORS as exc:
            _metric_failed(v, exc)
    return _finished(v, "compression", started, "C", v.compression_rate)


def evaluate_upscaling(
    reference: str | Path,
    distorted: str | Path,
    *,
    input_path: str | Path,
    scale: int,
    content_length: float,
    task_id: str,
    secret: str,
    scoring_cfg: ScoringConfig,
    metrics_cfg: MetricsConfig,
    pieapp_metric: PieAppScorer | None = None,
    seen_sha256: Collection[str] = (),
    url: str | None = None,
    seen_urls: Collection[str] = (),
    progress: Progress | None = None,
) -> UpscalingVerdict:
    """Validate, gate on VMAF, score PIE-APP on seeded frames and apply the upscaling formula.

    `pieapp_metric` defaults to the process-wide metric (`scoring.metrics.pieapp.get_metric`).
    PIE-APP is skipped when the VMAF gate fails (S_Q is 0 whatever it says): `pieapp` stays None.
    """
    started = time.monotonic()
    note = progress or (lambda _msg: None)
    ref_p, dist_p = Path(reference), Path(distorted)
    inp = _probe_reference(input_path, "input clip")
    ref = _probe_reference(ref_p, "reference")
    if (ref.width, ref.height) != (inp.width * scale, inp.height * scale):
        raise BadReferenceError(
            f"reference is {ref.width}x{ref.height} but input {inp.width}x{inp.height} x{scale} "
            f"is {inp.width * scale}x{inp.height * scale}"
        )
    v = UpscalingVerdict(
        task_id=task_id,
        scale=scale,
        content_length=content_length,
        vmaf_threshold=scoring_cfg.upscaling_vmaf_threshold,
    )
    note("validating output")
    result = validate_output(
        dist_p,
        expected_for_upscaling(inp, scale, metrics_cfg, reference=ref),
        reference=ref,
        seen_sha256=seen_sha256,
        url=url,
        seen_urls=seen_urls,
    )
    if _apply_validation(v, result):
        try:
            n_frames = _n_frames(ref, result)
            note("scoring VMAF gate")
            model = model_for_height(
                ref.height,
                standard=metrics_cfg.vmaf_model_upscaling,
                four_k=metrics_cfg.vmaf_model_upscaling_4k,
            )
            vmaf = _vmaf(v, ref_p, dist_p, n_frames, scoring_cfg.vmaf_samples, model, secret, metrics_cfg)
            pieapp = scoring_cfg.pieapp_cap  # ignored by the formula when the gate fails
            if vmaf >= scoring_cfg.upscaling_vmaf_threshold:
                if not _colours_ok(v, ref_p, dist_p, n_frames, scoring_cfg.vmaf_samples, secret, metrics_cfg):
                    raise _Refused
                if not _no_enhancement_gap(
                    v, ref_p, dist_p, vmaf, model, scoring_cfg.upscaling_vmaf_threshold, metrics_cfg
                ):
                    raise _Refused
                pieapp = _pieapp(
                    v, ref_p, dist_p, n_frames, secret, scoring_cfg, metrics_cfg, pieapp_metric, note
                )
            b = upscaling_score(pieapp, vmaf, content_length, scoring_cfg)
            v.vmaf_passed, v.s_q, v.s_l, v.s_pre, v.s_f = b.vmaf_passed, b.s_q, b.s_l, b.s_pre, b.s_f
            v.score = b.s_f
        except _Refused:
            pass
        except _METRIC_ERRORS as exc:
            _metric_failed(v, exc)
    return _finished(v, "upscaling", started, "pieapp", v.pieapp)


def _pieapp(
    v: UpscalingVerdict,
    ref: Path,
    dist: Path,
    n_frames: int,
    secret: str,
    scoring_cfg: ScoringConfig,
    metrics_cfg: MetricsConfig,
    metric: PieAppScorer | None,
    note: Progress,
) -> float:
    if metric is None:
        from scoring.metrics.pieapp import get_metric

        metric = get_metric(metrics_cfg)
    idx = sample_frame_indices(
        n_frames, scoring_cfg.pieapp_frames, secret=secret, task_id=v.task_id, salt="pieapp"
    )
    t0 = time.monotonic()
    note("decoding PIE-APP frames")
    ref_frames = decode_frames(ref, idx, fmt="rgb24")
    dist_frames = decode_frames(dist, idx, fmt="rgb24")
    v.timings["pieapp_decode_s"] = time.monotonic() - t0
    t1 = time.monotonic()
    per_frame: list[float] = []
    for k, (r, d) in enumerate(zip(ref_frames, dist_frames, strict=True), start=1):
        note(f"PIE-APP frame {k}/{len(idx)}")
        res = metric.score_frames([r], [d])
        per_frame.extend(float(x) for x in res.per_frame)
        v.pieapp_random_weights = v.pieapp_random_weights or bool(getattr(res, "random_weights", False))
    v.timings["pieapp_s"] = time.monotonic() - t1
    v.pieapp_indices, v.pieapp_per_frame = idx, per_frame
    v.pieapp = float(np.mean(np.abs(per_frame)))  # raw = mean(|d_i|); the cap is the formula's
    return v.pieapp
