"""The blocking work of one task, run in a worker thread: check the fetched input, run the engine.

Each function reads `input_path` and writes `output_path` (an MP4) or raises: `InputRejected`
(the input is not what the task promised), the engines' own errors (DeadlineExceeded included)
or `FfmpegError`. Temporary files live in the task directory, which the handler removes.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from scoring.media.probe import ProbeError, ProbeInfo, probe
from services.compression import CompressionSettings, build_compression_engine
from services.upscaling import UpscalingEngine
from vidaio.miner.config import CompressionEngineName


class InputRejected(ValueError):
    """The fetched input does not match the task (not a video, too large a frame, too long)."""


class JobOutput(BaseModel):
    """What a job produced."""

    model_config = ConfigDict(frozen=True)

    output_path: Path
    size_bytes: int = Field(ge=0)
    engine: str
    detail: str = ""
    seconds: float = Field(0.0, ge=0)


def check_input(
    info: ProbeInfo, *, max_duration_s: float, max_size: tuple[int, int] | None = None
) -> None:
    """Raise InputRejected when the probed input exceeds what the task allows (pure)."""
    if info.frame_count <= 0:
        raise InputRejected("input has no video frames")
    if max_size is not None and (info.width > max_size[0] or info.height > max_size[1]):
        raise InputRejected(
            f"input is {info.width}x{info.height}, larger than the {max_size[0]}x{max_size[1]} this task type allows"
        )
    if info.duration_s > max_duration_s:
        raise InputRejected(f"input lasts {info.duration_s:.2f}s, longer than the {max_duration_s:g}s allowed")


def probe_input(path: Path) -> ProbeInfo:
    try:
        return probe(path)
    except ProbeError as exc:
        raise InputRejected(f"input is not a readable video: {exc}") from exc


def run_upscaling(
    engine: UpscalingEngine,
    input_path: Path,
    output_path: Path,
    *,
    scale: int,
    max_size: tuple[int, int],
    max_duration_s: float,
    deadline: float,
) -> JobOutput:
    """Upscale the input by `scale` (output = input size x scale) before `deadline` (monotonic)."""
    started = time.monotonic()
    info = probe_input(input_path)
    check_input(info, max_duration_s=max_duration_s, max_size=max_size)
    target = (info.width * scale, info.height * scale)
    outcome = engine.upscale(input_path, output_path, scale=scale, target=target, deadline=deadline)
    return JobOutput(
        output_path=output_path,
        size_bytes=outcome.size_bytes,
        engine=engine.name,
        detail=f"{info.width}x{info.height} -> {outcome.width}x{outcome.height} {outcome.codec} crf {outcome.crf}",
        seconds=round(time.monotonic() - started, 3),
    )


def run_compression(
    engine_name: CompressionEngineName,
    settings: CompressionSettings,
    input_path: Path,
    output_path: Path,
    *,
    codec: str,
    vmaf_threshold: float,
    max_duration_s: float,
    deadline: float,
    scratch_dir: Path,
) -> JobOutput:
    """Compress the input for `codec` at VMAF >= `vmaf_threshold` before `deadline` (monotonic).

    "passthrough" (demo only) answers the input bytes unchanged: the anti-cheat must catch it.
    """
    started = time.monotonic()
    info = probe_input(input_path)
    check_input(info, max_duration_s=max_duration_s)
    if engine_name == "passthrough":
        shutil.copyfile(input_path, output_path)
        detail = "input returned unchanged (demo-only passthrough)"
    else:
        engine = build_compression_engine(engine_name, settings.model_copy(update={"work_dir": scratch_dir}))
        out = engine.compress(
            input_path, output_path, codec=codec, vmaf_threshold=vmaf_threshold, deadline=deadline
        )
        vmaf = "unverified" if out.vmaf is None else f"VMAF {out.vmaf:.2f}"
        detail = f"{codec} crf {out.crf}, {vmaf}, rate {out.compression_rate:.3f}"
    return JobOutput(
        output_path=output_path,
        size_bytes=output_path.stat().st_size,
        engine=engine_name,
        detail=detail,
        seconds=round(time.monotonic() - started, 3),
    )
