"""Evaluate one response: validation (§6.4), then metrics (§6.1), then the pure formulas (§6.2/§6.3).

This is what the validator and `vidaio score compression|upscaling` call. A response that fails
validation, or whose metrics cannot be computed, gets a verdict with score 0 and named reasons;
a bad *reference* (the caller's own file) raises `BadReferenceError`.

Three steps, one module each, shared by both task types:
- validation orchestration, `scoring.answer_check`: the MP4 header, the probe, ONE decode pass of
  the answer that keeps the frames every metric needs, one partial decode of the reference;
- metric orchestration, `scoring.answer_metrics`: ONE libvmaf run (every model the task needs),
  the colour check, the VMAF-NEG gap and PIE-APP, on those frames;
- the common ending here (`_score`): the work budget, refusals, metric errors, timing, log line.

Frame sampling is seeded with (secret, task_id): VMAF uses salt "vmaf", PIE-APP "pieapp", the colour
check "chroma", so the draws are independent and unpredictable without the validator's secret.

Work budget (`scoring.budget`): scoring one answer, PIE-APP excepted, runs under a deadline derived
from the clip (frames x pixels, `MetricsConfig.answer_budget_*`); past it the answer scores 0 with
reason `scoring_budget_exceeded` and its decode/ffmpeg work is stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path

from scoring import answer_metrics as metrics
from scoring.answer_check import CheckedAnswer, check_answer, probe_reference
from scoring.answer_metrics import PieAppScorer
from scoring.budget import Budget, BudgetExceeded
from scoring.compression import compression_rate, compression_score
from scoring.config import ScoringConfig
from scoring.media.ffmpeg import FfmpegError
from scoring.media.frames import DecodeError
from scoring.media.probe import ProbeError, ProbeInfo
from scoring.metrics.config import MetricsConfig
from scoring.metrics.vmaf import VmafError, VmafInputError, model_for_height
from scoring.upscaling import upscaling_score
from scoring.validation import Reason, expected_for_compression, expected_for_upscaling
from scoring.verdicts import (
    METRIC_ERROR,
    BadReferenceError,
    CompressionVerdict,
    Progress,
    Refused,
    Status,
    UpscalingVerdict,
    V,
    finished,
    metric_failed,
    refuse,
)

__all__ = [
    "METRIC_ERROR",
    "BadReferenceError",
    "CompressionVerdict",
    "PieAppScorer",
    "Progress",
    "Status",
    "UpscalingVerdict",
    "answer_budget",
    "evaluate_compression",
    "evaluate_upscaling",
]

_METRIC_ERRORS = (FfmpegError, VmafError, VmafInputError, ProbeError, DecodeError)


def answer_budget(ref: ProbeInfo, cfg: MetricsConfig) -> Budget:
    """The work budget of one answer to a task whose reference is `ref`."""
    return Budget.for_clip(
        ref.frame_count,
        ref.width,
        ref.height,
        base_s=cfg.answer_budget_base_s,
        s_per_mpx_frame=cfg.answer_budget_s_per_mpx_frame,
        max_s=cfg.answer_budget_max_s,
        wall_factor=cfg.answer_budget_wall_factor,
    )


def _score(
    v: V,
    kind: str,
    started: float,
    budget: Budget,
    check: Callable[[], CheckedAnswer],
    measure: Callable[[CheckedAnswer], None],
    extra: Callable[[V], tuple[str, float | None]],
) -> V:
    """The common ending of both task types: validate, then measure, each failure named once."""
    try:
        t0 = time.monotonic()
        checked = check()
        res = checked.validation
        v.sha256 = res.sha256
        v.timings["validate_s"] = time.monotonic() - t0
        if not res.ok:
            v.status, v.reasons, v.messages = "invalid", res.reasons, res.messages
        else:
            measure(checked)
    except BudgetExceeded as exc:
        refuse(v, Reason.SCORING_BUDGET_EXCEEDED.value, str(exc).split(": ", 1)[-1])
    except Refused:
        pass
    except _METRIC_ERRORS as exc:
        metric_failed(v, exc)
    name, value = extra(v)
    return finished(v, kind, started, name, value)


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
    ref = probe_reference(ref_p, "reference")
    budget = answer_budget(ref, metrics_cfg)
    v = CompressionVerdict(
        task_id=task_id, codec=codec, vmaf_threshold=vmaf_threshold, original_size=ref.size_bytes
    )
    if dist_p.is_file():
        v.compressed_size = dist_p.stat().st_size

    def check() -> CheckedAnswer:
        note("validating output")
        return check_answer(
            dist_p, expected_for_compression(ref, codec, metrics_cfg), reference=ref, secret=secret,
            task_id=task_id, vmaf_samples=scoring_cfg.vmaf_samples, pieapp_frames=0, cfg=metrics_cfg,
            budget=budget, seen_sha256=seen_sha256, url=url, seen_urls=seen_urls,
        )  # fmt: skip

    def measure(checked: CheckedAnswer) -> None:
        note("scoring VMAF")
        model = metrics_cfg.vmaf_model_compression
        vmaf = metrics.vmaf(v, checked, [model], metrics_cfg, budget)[model].harmonic_mean
        if vmaf >= vmaf_threshold:
            metrics.colours_ok(v, checked, scoring_cfg.vmaf_samples, secret, metrics_cfg)
        v.compression_rate = compression_rate(v.compressed_size, v.original_size)
        b = compression_score(v.compression_rate, vmaf, vmaf_threshold, scoring_cfg)
        v.compression_term, v.quality_term, v.vmaf_passed, v.score = (
            b.compression_term,
            b.quality_term,
            b.vmaf_passed,
            b.s_f,
        )

    return _score(v, "compression", started, budget, check, measure, lambda x: ("C", x.compression_rate))


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
    inp = probe_reference(input_path, "input clip")
    ref = probe_reference(ref_p, "reference")
    if (ref.width, ref.height) != (inp.width * scale, inp.height * scale):
        raise BadReferenceError(
            f"reference is {ref.width}x{ref.height} but input {inp.width}x{inp.height} x{scale} "
            f"is {inp.width * scale}x{inp.height * scale}"
        )
    budget = answer_budget(ref, metrics_cfg)
    gate = scoring_cfg.upscaling_vmaf_threshold
    v = UpscalingVerdict(task_id=task_id, scale=scale, content_length=content_length, vmaf_threshold=gate)

    def check() -> CheckedAnswer:
        note("validating output")
        return check_answer(
            dist_p, expected_for_upscaling(inp, scale, metrics_cfg, reference=ref), reference=ref,
            secret=secret, task_id=task_id, vmaf_samples=scoring_cfg.vmaf_samples,
            pieapp_frames=scoring_cfg.pieapp_frames, cfg=metrics_cfg, budget=budget,
            seen_sha256=seen_sha256, url=url, seen_urls=seen_urls,
        )  # fmt: skip

    def measure(checked: CheckedAnswer) -> None:
        note("scoring VMAF gate")
        model = model_for_height(
            ref.height, standard=metrics_cfg.vmaf_model_upscaling, four_k=metrics_cfg.vmaf_model_upscaling_4k
        )
        scored = metrics.vmaf(v, checked, metrics.gate_models(model, metrics_cfg), metrics_cfg, budget)
        vmaf = scored[model].harmonic_mean
        pieapp = scoring_cfg.pieapp_cap  # ignored by the formula when the gate fails
        if vmaf >= gate:
            metrics.colours_ok(v, checked, scoring_cfg.vmaf_samples, secret, metrics_cfg)
            metrics.no_enhancement_gap(v, checked, scored, model, gate, metrics_cfg)
            # PIE-APP runs on frames already decoded and validated: outside the answer's budget
            pieapp = metrics.pieapp(v, checked, metrics_cfg, pieapp_metric, note)
        b = upscaling_score(pieapp, vmaf, content_length, scoring_cfg)
        v.vmaf_passed, v.s_q, v.s_l, v.s_pre, v.s_f = b.vmaf_passed, b.s_q, b.s_l, b.s_pre, b.s_f
        v.score = b.s_f

    return _score(v, "upscaling", started, budget, check, measure, lambda x: ("pieapp", x.pieapp))
