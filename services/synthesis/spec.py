"""What a video source is asked for (`ClipSpec`) and small size helpers."""

from __future__ import annotations

import math
from dataclasses import dataclass

MAX_FPS = 240
MAX_SIDE = 16384


def even_ceil(value: float) -> int:
    """Smallest even integer >= value (yuv420p and x264 need even sizes)."""
    n = math.ceil(value - 1e-9)
    return n + (n % 2)


def frame_count(seconds: float, fps: int) -> int:
    """Frames in `seconds` at `fps` (rounded; at least 1)."""
    return max(1, round(seconds * fps))


def check_size(name: str, size: tuple[int, int]) -> tuple[int, int]:
    """Validate a task frame size: even (yuv420p) and at least 16x16. Returns it as ints."""
    w, h = int(size[0]), int(size[1])
    if w < 16 or h < 16 or w % 2 or h % 2 or w > MAX_SIDE or h > MAX_SIDE:
        raise ValueError(f"{name} {w}x{h} must be even and between 16x16 and {MAX_SIDE}x{MAX_SIDE} (yuv420p)")
    return w, h


def check_timing(seconds: float, fps: int) -> int:
    """Validate a clip length and frame rate; returns the frame count (at least 2)."""
    if not 1 <= fps <= MAX_FPS:
        raise ValueError(f"fps {fps} is out of range 1..{MAX_FPS}")
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(f"clip length {seconds} s must be a positive number")
    frames = frame_count(seconds, fps)
    if frames < 2:
        raise ValueError(f"{seconds:g} s at {fps} fps is fewer than 2 frames")
    return frames


@dataclass(frozen=True)
class ClipSpec:
    """A request to a video source: a clip of at least `width` x `height` pixels (display size,
    any aspect beyond that is cropped by the preparation), at least `seconds` long; `fps` is the
    task's frame rate (a source may deliver another rate, preparation converts) and `seed` makes
    the choice of clip / the synthetic content deterministic."""

    width: int
    height: int
    fps: int
    seconds: float
    seed: int

    def __post_init__(self) -> None:
        if not (2 <= self.width <= MAX_SIDE and 2 <= self.height <= MAX_SIDE):
            raise ValueError(f"clip size {self.width}x{self.height} is out of range (2..{MAX_SIDE} per side)")
        if not (1 <= self.fps <= MAX_FPS):
            raise ValueError(f"fps {self.fps} is out of range (1..{MAX_FPS})")
        if not (self.seconds > 0 and math.isfinite(self.seconds)):
            raise ValueError(f"clip length {self.seconds} s must be a positive number")
        if self.seed < 0:
            raise ValueError(f"seed {self.seed} must be >= 0")

    @property
    def frames(self) -> int:
        """Frames the prepared clip will have: `seconds * fps`, rounded."""
        return frame_count(self.seconds, self.fps)
