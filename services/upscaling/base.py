"""The upscaling engine interface: settings, outcome, errors, and ``build_engine``.

An engine turns an input clip into an MP4 that passes SPEC §6.4: exactly ``target`` pixels,
yuv420p, SAR 1:1, same fps and frame count as the input, HEVC (default), AV1 or H.264, and a
file no larger than the size cap (<= 8x the input for x2, <= 20x for x4). Output is written to
a temporary file next to ``output_path`` and renamed into place only when complete, so a
failure or a missed deadline never leaves a partial file behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import field
from pathlib import Path
from typing import Literal, Protocol

from pydantic import ConfigDict, Field
from pydantic.dataclasses import dataclass

from services.upscaling.paths import DEFAULT_MODEL_FILE, default_weights_dir

EngineName = Literal["model", "lanczos"]
CodecName = Literal["hevc", "av1", "h264"]
ProgressFn = Callable[[int, int], None]

DEFAULT_CRF: dict[str, int] = {"hevc": 20, "av1": 30, "h264": 18}
DEFAULT_PRESET: dict[str, str] = {"hevc": "fast", "av1": "8", "h264": "fast"}


@dataclass(config=ConfigDict(extra="forbid"))
class UpscaleSettings:
    """Configuration of the miner's upscaling engine (a pydantic dataclass: validated, usable as a
    config section, e.g. ``VIDAIO_UPSCALING__ENGINE=model``)."""

    engine: EngineName = Field(
        "lanczos",
        description="'lanczos' (ffmpeg scaling; default: runs anywhere in real time) or 'model' (torch SR: "
        "+8 VMAF at x4, on par at x2 in benchmarks/bench_upscaling.py, but ~90 s per 540p frame on 2 CPU cores: GPU only)",
    )
    weights_path: Path | None = Field(
        None,
        description="SR weights (.pth state dict: SRVGGNetCompact or RRDBNet); default: converted animevideov3",
    )
    weights_dir: Path = Field(
        default_factory=default_weights_dir,
        description="cache of converted weights ($VIDAIO_WEIGHTS_DIR or ~/.cache/vidaio/weights)",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="torch device; auto = CUDA (fp16) if present"
    )
    tile: int = Field(
        512, ge=0, le=8192, description="tile edge in input pixels for the model (0 = whole frame)"
    )
    batch: int = Field(4, ge=1, le=256, description="frames per model batch")
    codec: CodecName = Field(
        "hevc", description="output codec: hevc (libx265), av1 (libsvtav1) or h264 (libx264)"
    )
    crf: int | None = Field(
        None, ge=0, le=63, description="encoder CRF; default per codec (hevc 20, av1 30, h264 18)"
    )
    preset: str | None = Field(
        None, description="encoder preset; default per codec (hevc/h264 'fast', av1 '8')"
    )
    threads: int = Field(0, ge=0, le=1024, description="encoder and torch CPU threads (0 = library default)")
    max_size_ratio_x2: float = Field(
        8.0, gt=0, description="output size cap for x2, as a multiple of the input size"
    )
    max_size_ratio_x4: float = Field(
        20.0, gt=0, description="output size cap for x4, as a multiple of the input size"
    )
    ffmpeg_path: str | None = Field(None, description="ffmpeg binary (default: the imageio-ffmpeg wheel's)")

    @property
    def effective_crf(self) -> int:
        return self.crf if self.crf is not None else DEFAULT_CRF[self.codec]

    @property
    def effective_preset(self) -> str:
        return self.preset if self.preset is not None else DEFAULT_PRESET[self.codec]

    @property
    def model_weights(self) -> Path:
        return self.weights_path if self.weights_path is not None else self.weights_dir / DEFAULT_MODEL_FILE

    def size_ratio(self, scale: int) -> float:
        """Allowed output/input size ratio: x2 and x4 from config, other scales interpolated by pixel count."""
        if scale <= 2:
            return self.max_size_ratio_x2
        if scale >= 4:
            return self.max_size_ratio_x4
        frac = (scale * scale - 4) / 12
        return self.max_size_ratio_x2 + frac * (self.max_size_ratio_x4 - self.max_size_ratio_x2)


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


class UpscaleError(RuntimeError):
    """The input cannot be upscaled (unreadable, no video, bad target) or the encoder failed."""


class DeadlineExceeded(UpscaleError, TimeoutError):
    """``time.monotonic()`` passed the deadline; the partial output has been removed."""


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


def check_deadline(deadline: float | None, what: str) -> None:
    if deadline is not None and time.monotonic() >= deadline:
        raise DeadlineExceeded(f"deadline passed {what}")


def remaining_s(deadline: float | None) -> float | None:
    return None if deadline is None else deadline - time.monotonic()


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


def build_engine(settings: UpscaleSettings) -> UpscalingEngine:
    """The configured engine. ``model`` loads its weights now, so a bad path fails at start-up."""
    if settings.engine == "lanczos":
        from services.upscaling.lanczos import LanczosEngine

        return LanczosEngine(settings)
    if settings.engine == "model":
        from services.upscaling.model import ModelEngine

        return ModelEngine(settings)
    raise UpscaleError(f"unknown upscaling engine {settings.engine!r}")
