"""Upscaling engines for the miner (docs/protocol.md, docs/scoring.md#output-validation): ``lanczos`` (ffmpeg) and ``model`` (torch SR).

    engine = build_engine(UpscaleSettings(engine="model"))
    outcome = engine.upscale(src, dst, scale=2, target=(1920, 1080), deadline=time.monotonic() + 60)

Importing this package does not import torch; the model engine does when it is built.
"""

from services.upscaling.base import UpscaleOutcome, UpscalingEngine
from services.upscaling.errors import DeadlineExceeded, UpscaleError
from services.upscaling.factory import build_engine
from services.upscaling.settings import UpscaleSettings

__all__ = [
    "DeadlineExceeded",
    "UpscaleError",
    "UpscaleOutcome",
    "UpscaleSettings",
    "UpscalingEngine",
    "build_engine",
]
