"""The upscaling engine interface: the ``UpscalingEngine`` protocol, its outcome and request checks.

Settings live in ``services.upscaling.settings``, errors in ``services.upscaling.errors`` and the
engine choice in ``services.upscaling.factory`` (this module knows no implementation).

An engine turns an input clip into an MP4 that passes docs/scoring.md#output-validation: exactly ``target`` pixels,
yuv420p, SAR 1:1, same fps and frame count as the input, HEVC (default), AV1 or H.264, and a
file no larger than the size cap (<= 8x the input for x2, <= 20x for x4). Output is written to
a temporary file next to ``output_path`` and renamed into place only when complete, so a
failure or a missed deadline never leaves a partial file behind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Protocol

from pydantic.dataclasses import dataclass

from services.upscaling.errors import UpscaleError

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class UpscaleOutcome:
    """What an engine produced (read back from the finished file)."""

    output_path: Path
    engine: str
    width: int
    height: int
    frames: int
    fps: float
    codec: str
    size_bytes: int
    elapsed_s: float
    crf: int
    device: str = "cpu"
    reencoded: bool = False
    notes: list[str] = field(default_factory=list)


class UpscalingEngine(Protocol):
    name: str

    def upscale(
        self,
        input_path: Path,
        output_path: Path,
        *,
        scale: int,
        target: tuple[int, int],
        deadline: float | None = None,
        progress: ProgressFn | None = None,
    ) -> UpscaleOutcome: ...


def validate_request(scale: int, target: tuple[int, int]) -> tuple[int, int]:
    """Common argument checks; returns (width, height)."""
    if not isinstance(scale, int) or not 1 <= scale <= 8:
        raise UpscaleError(f"scale must be an integer in 1..8, got {scale!r}")
    if len(target) != 2:
        raise UpscaleError(f"target must be (width, height), got {target!r}")
    tw, th = int(target[0]), int(target[1])
    if tw <= 0 or th <= 0 or tw % 2 or th % 2:
        raise UpscaleError(f"target {tw}x{th} must be positive and even (yuv420p)")
    return tw, th
