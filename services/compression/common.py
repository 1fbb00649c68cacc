"""What every compression engine shares: the outcome, the protocol, task checks, temp dir, publishing.

Engines write the output atomically: everything is made in a private temporary directory that is
removed on return or on any error (DeadlineExceeded included), and `output_path` only appears,
complete, at the very end.
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from loguru import logger
from pydantic import BaseModel, ConfigDict

from scoring.media.probe import ProbeError, ProbeInfo, probe

from .errors import CompressionFailed, Deadline
from .search import Probe
from .settings import ENCODERS, CompressionSettings

Progress = Callable[[str], None]


class CompressionOutcome(BaseModel):
    """What a compression produced. `vmaf` is the conservative full-clip reading (None: not measured)."""

    model_config = ConfigDict(frozen=True)

    engine: str
    codec: str
    crf: int
    vmaf: float | None
    vmaf_harmonic_mean: float | None
    size_bytes: int
    input_size_bytes: int
    probes: list[Probe]
    seconds: float
    fell_back: bool
    verified: bool

    @property
    def compression_rate(self) -> float:
        return self.size_bytes / self.input_size_bytes


@runtime_checkable
class CompressionEngine(Protocol):
    name: str

    def compress(
        self,
        input_path: Path,
        output_path: Path,
        *,
        codec: str,
        vmaf_threshold: float,
        deadline: float | None = None,
        progress: Progress | None = None,
    ) -> CompressionOutcome:
        """Compress `input_path` into `output_path` (MP4). `deadline` is an absolute time.monotonic()."""
        ...


def check_task(input_path: Path, codec: str, vmaf_threshold: float) -> ProbeInfo:
    if codec not in ENCODERS:
        raise CompressionFailed(f"unsupported codec {codec!r} (supported: {', '.join(ENCODERS)})")
    if not math.isfinite(vmaf_threshold) or not 0.0 < vmaf_threshold < 100.0:
        raise CompressionFailed(f"VMAF threshold must be in (0, 100), got {vmaf_threshold!r}")
    try:
        info = probe(input_path)
    except ProbeError as exc:
        raise CompressionFailed(f"input is not a usable video: {exc}") from exc
    if info.frame_count <= 0:
        raise CompressionFailed(f"input {input_path.name} has no video frames")
    if info.width % 2 or info.height % 2:
        raise CompressionFailed(f"input is {info.width}x{info.height}: yuv420p output needs even dimensions")
    return info


def publish(src: Path, dst: Path) -> None:
    """Move the finished file to `dst` atomically (copy to a sibling first across filesystems)."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".{dst.name}.partial")
    try:
        shutil.move(str(src), str(tmp))
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


class TaskScope:
    """Shared per-task state: deadline, temp dir, progress, timing."""

    def __init__(self, settings: CompressionSettings, deadline: float | None, progress: Progress | None) -> None:
        self.deadline = Deadline(deadline)
        self.deadline.check("starting the task")
        self.started = time.monotonic()
        root = settings.work_dir
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix="vidaio-compress-", dir=root))
        self._progress = progress

    def say(self, message: str) -> None:
        logger.debug(message)
        if self._progress is not None:
            self._progress(message)

    def close(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.started


