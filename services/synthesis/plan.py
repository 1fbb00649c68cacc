"""How one source clip becomes a task reference (pure, seeded; no I/O).

`PrepareSettings` holds the knobs (a pydantic model, usable as a config section); `plan_preparation`
draws, from `random.Random(seed)`: the crop (5-10 % off each dimension by default, at the target
aspect, random position), the mild filter and the start offset; `reference_filters` turns a plan
into the ffmpeg filter chain (crop and rescale are expressions of the input size, so rotated or
anamorphic clips need no probing beyond the SAR).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
ScaleFlags = Literal["bicubic", "lanczos", "area", "bilinear", "spline", "gauss"]

MildFilter = Callable[[random.Random], str]
MILD_FILTERS: dict[str, MildFilter] = {
    "none": lambda rng: "null",
    "contrast": lambda rng: f"eq=contrast={rng.uniform(1.02, 1.10):.3f}",
    "brightness": lambda rng: f"eq=brightness={rng.uniform(-0.03, 0.03):.3f}",
    "saturation": lambda rng: f"eq=saturation={rng.uniform(0.9, 1.15):.3f}",
    "gamma": lambda rng: f"eq=gamma={rng.uniform(0.93, 1.07):.3f}",
    "hue": lambda rng: f"hue=h={rng.uniform(-8, 8):.2f}",
    "sharpen": lambda rng: f"unsharp=5:5:{rng.uniform(0.2, 0.5):.2f}:5:5:0",
    "blur": lambda rng: f"gblur=sigma={rng.uniform(0.3, 0.7):.2f}",
    "denoise": lambda rng: f"hqdn3d={rng.uniform(1, 2):.2f}:{rng.uniform(1, 2):.2f}:{rng.uniform(2, 3):.2f}:{rng.uniform(2, 3):.2f}",
    "vignette": lambda rng: f"vignette=a={rng.uniform(0.3, 0.5):.3f}",
    "grain": lambda rng: f"noise=alls={rng.randint(1, 3)}:allf=t:all_seed={rng.randrange(2**31)}",
}
"""One of these is applied to every reference (names usable in `PrepareSettings.mild_filters`)."""
DEFAULT_MILD_FILTERS: tuple[str, ...] = tuple(n for n in MILD_FILTERS if n != "none")


class PrepareSettings(BaseModel):
    """How references and upscaling inputs are made (crop, rescale, filter, x264 encode)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    crop_min: float = Field(0.05, ge=0.0, le=0.3, description="Smallest fraction cropped off each dimension.")
    crop_max: float = Field(0.10, ge=0.0, le=0.3, description="Largest fraction cropped off each dimension.")
    mild_filters: tuple[str, ...] = Field(
        DEFAULT_MILD_FILTERS, min_length=1, description=f"Mild filters drawn from (one per task): {', '.join(MILD_FILTERS)}."
    )
    rescale_flags: ScaleFlags = Field("lanczos", description="Scaler for the crop -> reference size rescale.")
    downscale_flags: ScaleFlags = Field("bicubic", description="Scaler making the upscaling input from the reference.")
    reference_crf: int = Field(12, ge=0, le=30, description="x264 CRF of references (high quality: room to compress).")
    input_crf: int = Field(12, ge=0, le=30, description="x264 CRF of the upscaling input sent to miners.")
    preset: str = Field("medium", description=f"x264 preset: {', '.join(X264_PRESETS)}.")
    timeout_s: float = Field(900.0, gt=0, le=7200, description="Limit for one ffmpeg encode (s).")

    @field_validator("preset")
    @classmethod
    def _preset(cls, value: str) -> str:
        if value not in X264_PRESETS:
            raise ValueError(f"unknown x264 preset {value!r} (one of {', '.join(X264_PRESETS)})")
        return value

    @field_validator("mild_filters")
    @classmethod
    def _filters(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in MILD_FILTERS]
        if unknown:
            raise ValueError(f"unknown mild filter(s) {', '.join(unknown)} (known: {', '.join(MILD_FILTERS)})")
        return value

    @model_validator(mode="after")
    def _crop_order(self) -> PrepareSettings:
        if self.crop_min > self.crop_max:
            raise ValueError(f"crop_min {self.crop_min} > crop_max {self.crop_max}")
        return self

    @property
    def source_margin(self) -> float:
        """How much larger than the reference a source clip should be so the crop never upscales."""
        return 1.0 / (1.0 - self.crop_max) + 0.02


@dataclass(frozen=True)
class PreparePlan:
    """The seeded choices for one reference: crop fraction (of the largest target-aspect region),
    crop position (0..1 of the free room), mild filter, start offset (s)."""

    crop: float
    x: float
    y: float
    filter_name: str
    filter: str
    start_s: float


def plan_preparation(seed: int, settings: PrepareSettings, *, clip_duration_s: float, seconds: float) -> PreparePlan:
    """Draw the crop, filter and start offset for `seed` (a clip shorter than known starts at 0)."""
    rng = random.Random(f"prepare:{seed}")
    crop = rng.uniform(settings.crop_min, settings.crop_max)
    x, y = rng.random(), rng.random()
    name = rng.choice(settings.mild_filters)
    chain = MILD_FILTERS[name](rng)
    room = clip_duration_s - seconds
    start = rng.uniform(0.0, room) if room > 0.05 else 0.0
    return PreparePlan(crop=crop, x=x, y=y, filter_name=name, filter=chain, start_s=round(start, 3))


def reference_filters(plan: PreparePlan, *, width: int, height: int, fps: int, flags: str, square_pixels: bool) -> str:
    """ffmpeg `-vf` chain: constant fps, square pixels, crop at the target aspect, rescale, filter,
    yuv420p BT.709 limited range, SAR 1:1, timestamps N/fps."""
    aspect = width / height
    keep = 1.0 - plan.crop
    chain = [f"fps={fps}"]
    if not square_pixels:
        chain.append("scale=w='trunc(iw*sar/2)*2':h=ih,setsar=1")
    chain.append(
        f"crop=w='trunc(min(iw\\,ih*{aspect:.6f})*{keep:.5f}/2)*2':h='trunc(min(ih\\,iw/{aspect:.6f})*{keep:.5f}/2)*2'"
        f":x='(iw-ow)*{plan.x:.5f}':y='(ih-oh)*{plan.y:.5f}'"
    )
    chain.append(f"scale={width}:{height}:flags={flags}:out_color_matrix=bt709:out_range=tv")
    chain.append("format=yuv420p")
    chain.append(plan.filter)
    chain.append(f"setsar=1,setpts=N/({fps}*TB)")
    return ",".join(chain)
