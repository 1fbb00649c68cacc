"""`SynthesisConfig`: the validator's task-synthesis settings (a config section), and the helpers
that build a source and a `TaskFactory` from it.

Meant to be composed into the validator's settings as `synthesis` (env prefix
`VIDAIO_SYNTHESIS__*`, e.g. `VIDAIO_SYNTHESIS__SOURCE=directory`,
`VIDAIO_SYNTHESIS__CLIP_DIR=/data/clips`, `VIDAIO_SYNTHESIS__PREPARE__PRESET=fast`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from services.synthesis.factory import Recipe, TaskFactory
from services.synthesis.graph import DEFAULT_MAX_RENDER_PIXELS
from services.synthesis.plan import PrepareSettings
from services.synthesis.sources import DirectorySource, Fetch, SyntheticSource, UrlListSource, VideoSource


class SynthesisConfig(BaseModel):
    """Where task clips come from and how many tasks are kept ready."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["synthetic", "directory", "urls"] = Field(
        "synthetic", description="Clip source: synthetic (ffmpeg lavfi, needs nothing), directory (clip_dir) or urls (url_file)."
    )
    clip_dir: Path | None = Field(None, description="Directory of source clips (source=directory).")
    url_file: Path | None = Field(None, description="File with one clip URL per line (source=urls).")
    url_attempts: int = Field(3, ge=1, le=20, description="URLs tried per task before giving up (source=urls).")
    work_dir: Path = Field(Path("~/.vidaio/validator/tasks"), description="Where prepared task files are written.")
    max_ready: int = Field(2, ge=1, le=64, description="Prepared tasks kept ready per task shape.")
    workers: int = Field(1, ge=1, le=16, description="Background threads preparing tasks.")
    seed: int | None = Field(None, ge=0, description="Fixed seed for reproducible content (tests/demo); unset = unpredictable.")
    fps: int = Field(24, ge=1, le=120, description="Frame rate of every task clip.")
    synthetic_text: bool = Field(True, description="Draw moving text in synthetic clips (skipped if no font works).")
    max_render_pixels: int = Field(
        DEFAULT_MAX_RENDER_PIXELS, ge=4096, description="Synthetic clips larger than this are rendered smaller and upscaled."
    )
    prepare: PrepareSettings = Field(default_factory=PrepareSettings, description="Crop, filter and encode settings.")

    @model_validator(mode="after")
    def _source_paths(self) -> SynthesisConfig:
        if self.source == "directory" and self.clip_dir is None:
            raise ValueError("synthesis.source=directory needs synthesis.clip_dir")
        if self.source == "urls" and self.url_file is None:
            raise ValueError("synthesis.source=urls needs synthesis.url_file")
        return self


def build_source(config: SynthesisConfig, fetch: Fetch | None = None) -> VideoSource:
    """The configured source; `fetch` (the validator's safe fetcher) is required for `urls`."""
    if config.source == "directory":
        assert config.clip_dir is not None
        return DirectorySource(config.clip_dir)
    if config.source == "urls":
        assert config.url_file is not None
        if fetch is None:
            raise ValueError("synthesis.source=urls needs a fetch function")
        return UrlListSource.from_file(config.url_file, fetch, max_attempts=config.url_attempts)
    return SyntheticSource(max_render_pixels=config.max_render_pixels, text=config.synthetic_text)


def build_factory(
    config: SynthesisConfig, *, recipes: tuple[Recipe, ...] | list[Recipe] = (), fetch: Fetch | None = None
) -> TaskFactory:
    """A (not yet started) `TaskFactory` from the config."""
    return TaskFactory(
        build_source(config, fetch),
        work_dir=config.work_dir.expanduser(),
        max_ready=config.max_ready,
        recipes=recipes,
        seed=config.seed,
        workers=config.workers,
        settings=config.prepare,
    )
