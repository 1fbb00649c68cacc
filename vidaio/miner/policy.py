"""What this miner accepts, and the limits it derives from a task (pure functions, no I/O).

* capabilities: what `GET /capabilities` declares, straight from the configuration;
* refusals: a task the miner does not mine gets a clear reason instead of work;
* input byte cap: how much the safe fetcher may download for a task;
* work deadline: when the engine must be done so the upload still fits before the validator
  stops waiting (the clock starts when the validator signed the request, not when a queue slot
  freed up here).
"""

from __future__ import annotations

import math

from vidaio.miner.config import MinerSettings
from vidaio.protocol import (
    Capabilities,
    CompressionTask,
    TaskType,
    UpscalingGeometry,
    UpscalingTask,
    upscaling_geometry,
)


def capabilities_for(settings: MinerSettings, software_version: str) -> Capabilities:
    """The capabilities a miner with `settings` declares (only the lists of its task family)."""
    upscaling = settings.task_type is TaskType.UPSCALING
    return Capabilities(
        task_type=settings.task_type,
        max_content_length=settings.max_content_length,
        upscaling_types=list(settings.upscaling_types) if upscaling else [],
        codecs=[] if upscaling else list(settings.codecs),
        software_version=software_version,
    )


def _names(items: list) -> str:  # type: ignore[type-arg]
    return ", ".join(str(getattr(i, "value", i)) for i in items) or "none"


def upscaling_refusal(task: UpscalingTask, settings: MinerSettings) -> str | None:
    """Why this miner does not take `task` (None: it does)."""
    if settings.task_type is not TaskType.UPSCALING:
        return f"this miner mines {settings.task_type.value} tasks, not upscaling"
    if task.task_type not in settings.upscaling_types:
        return (
            f"upscaling type {task.task_type.value} is not mined here (mined: {_names(settings.upscaling_types)})"
        )
    if task.content_length > settings.max_content_length:
        return (
            f"content length {task.content_length}s exceeds this miner's maximum of "
            f"{settings.max_content_length}s"
        )
    return None


def compression_refusal(task: CompressionTask, settings: MinerSettings) -> str | None:
    """Why this miner does not take `task` (None: it does)."""
    if settings.task_type is not TaskType.COMPRESSION:
        return f"this miner mines {settings.task_type.value} tasks, not compression"
    if task.codec not in settings.codecs:
        return f"codec {task.codec.value} is not mined here (mined: {_names(settings.codecs)})"
    if not 0.0 < task.vmaf_threshold < 100.0:
        return f"VMAF threshold {task.vmaf_threshold:g} is outside (0, 100)"
    return None


def upscaling_input_geometry(task: UpscalingTask, settings: MinerSettings) -> UpscalingGeometry:
    """The largest input (and its output) this miner accepts for the task's type in its profile."""
    return upscaling_geometry(task.task_type, settings.profile)


def upscaling_byte_cap(task: UpscalingTask, settings: MinerSettings) -> int:
    """Bytes the input of an upscaling task may have: pixels x fps x seconds x bits-per-pixel / 8,
    at least `input_min_bytes`, at most `input_max_bytes`."""
    geo = upscaling_input_geometry(task, settings)
    seconds = task.content_length + settings.duration_tolerance_s
    derived = geo.in_w * geo.in_h * settings.input_max_fps * seconds * settings.input_max_bits_per_pixel / 8
    return int(min(settings.input_max_bytes, max(settings.input_min_bytes, math.ceil(derived))))


def compression_byte_cap(task: CompressionTask, settings: MinerSettings) -> int:
    """Bytes the input of a compression task may have (the task carries no geometry: the hard cap)."""
    return settings.input_max_bytes


def max_input_duration_s(content_length_s: float, settings: MinerSettings) -> float:
    """Longest input accepted for a clip of `content_length_s` seconds."""
    return content_length_s + settings.duration_tolerance_s


def work_budget_s(
    *, deadline_s: float, margin_s: float, now_wall_s: float, signed_wall_s: float | None
) -> float:
    """Seconds left for fetch + engine: the task deadline counted from the request's signing time
    (a clock up to a few seconds off is tolerated by btauth: a future signing time counts as now),
    minus the upload margin. Zero or less: the task cannot be done in time."""
    elapsed = 0.0 if signed_wall_s is None else min(max(0.0, now_wall_s - signed_wall_s), deadline_s)
    return deadline_s - elapsed - margin_s
