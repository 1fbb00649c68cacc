"""Validator task synthesis: source clips -> prepared upscaling/compression tasks (issue 8).

- `sources.py`: `VideoSource` protocol; `SyntheticSource` (seeded ffmpeg lavfi, `graph.py`),
  `DirectorySource(dir)`, `UrlListSource(urls, fetch)` (fetch injected: no `vidaio` import here).
- `plan.py` / `prepare.py`: seeded crop, rescale, mild filter, trim, x264 reference encode;
  `prepare_upscaling` (reference + downscaled input) and `prepare_compression`.
- `factory.py`: `TaskFactory`, bounded background pre-building with `get(recipe, timeout=)`.
- `config.py`: `SynthesisConfig` section, `build_source`, `build_factory`.

Typical validator use::

    factory = build_factory(cfg.synthesis, recipes=[UpscalingRecipe((480, 270), 2, 5)], fetch=fetch_sync)
    factory.start()
    task = factory.get_upscaling(in_size=(480, 270), scale=2, content_length=5, timeout=120)
    try:
        ...  # upload task.input, send the task, score against task.reference
    finally:
        task.remove()
    factory.close()
"""

from services.synthesis.config import SynthesisConfig, build_factory, build_source
from services.synthesis.errors import NoTaskReady, SynthesisCancelled, SynthesisError
from services.synthesis.factory import CompressionRecipe, Recipe, TaskFactory, UpscalingRecipe
from services.synthesis.plan import MILD_FILTERS, PrepareSettings
from services.synthesis.prepare import (
    Prepared,
    PreparedCompression,
    PreparedUpscaling,
    prepare_compression,
    prepare_upscaling,
    verify_clip,
)
from services.synthesis.sources import DirectorySource, Fetch, SyntheticSource, UrlListSource, VideoSource
from services.synthesis.spec import ClipSpec

__all__ = [
    "MILD_FILTERS",
    "ClipSpec",
    "CompressionRecipe",
    "DirectorySource",
    "Fetch",
    "NoTaskReady",
    "PrepareSettings",
    "Prepared",
    "PreparedCompression",
    "PreparedUpscaling",
    "Recipe",
    "SynthesisCancelled",
    "SynthesisConfig",
    "SynthesisError",
    "SyntheticSource",
    "TaskFactory",
    "UpscalingRecipe",
    "UrlListSource",
    "VideoSource",
    "build_factory",
    "build_source",
    "prepare_compression",
    "prepare_upscaling",
    "verify_clip",
]
