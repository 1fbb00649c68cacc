"""The engine factory: builds the upscaling engine named in the settings.

Kept out of ``base`` so the interface never imports its implementations (no import circle).
"""

from __future__ import annotations

from services.upscaling.base import UpscalingEngine
from services.upscaling.errors import UpscaleError
from services.upscaling.settings import UpscaleSettings


def build_engine(settings: UpscaleSettings) -> UpscalingEngine:
    """The configured engine. ``model`` loads its weights now, so a bad path fails at start-up."""
    if settings.engine == "lanczos":
        from services.upscaling.lanczos import LanczosEngine

        return LanczosEngine(settings)
    if settings.engine == "model":
        from services.upscaling.model import ModelEngine  # lazy: imports torch

        return ModelEngine(settings)
    raise UpscaleError(f"unknown upscaling engine {settings.engine!r}")
