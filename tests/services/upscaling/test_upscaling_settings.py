"""UpscaleSettings: defaults, bounds, per-codec defaults, use as an env-configured config section."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.upscaling import UpscaleSettings, build_engine
from services.upscaling.lanczos import LanczosEngine


def test_defaults_and_derived_values(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIDAIO_WEIGHTS_DIR", str(tmp_path / "w"))
    s = UpscaleSettings()
    assert (s.engine, s.codec, s.device, s.effective_crf, s.effective_preset) == (
        "lanczos",
        "hevc",
        "auto",
        20,
        "fast",
    )
    assert s.weights_dir == tmp_path / "w"
    assert s.model_weights == tmp_path / "w" / "realesr-animevideov3.pth"
    assert UpscaleSettings(weights_path=tmp_path / "x.pth").model_weights == tmp_path / "x.pth"
    assert (UpscaleSettings(codec="av1").effective_crf, UpscaleSettings(codec="av1").effective_preset) == (
        30,
        "8",
    )
    assert UpscaleSettings(codec="h264", crf=23).effective_crf == 23
    assert (s.size_ratio(2), s.size_ratio(4)) == (8.0, 20.0)
    assert 8.0 < s.size_ratio(3) < 20.0
    assert isinstance(build_engine(s), LanczosEngine)


@pytest.mark.parametrize(
    "bad",
    [
        {"engine": "bicubic"},
        {"codec": "vp9"},
        {"tile": -1},
        {"batch": 0},
        {"crf": 64},
        {"device": "tpu"},
        {"nope": 1},
    ],
)
def test_invalid_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        UpscaleSettings(**bad)  # type: ignore[arg-type]


class _MinerLike(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VIDAIO_", env_nested_delimiter="__", extra="ignore")
    upscaling: UpscaleSettings = UpscaleSettings()


def test_works_as_a_nested_env_section(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("VIDAIO_UPSCALING__ENGINE", "model")
    monkeypatch.setenv("VIDAIO_UPSCALING__TILE", "256")
    monkeypatch.setenv("VIDAIO_UPSCALING__WEIGHTS_PATH", str(tmp_path / "sr.pth"))
    cfg = _MinerLike()
    assert (cfg.upscaling.engine, cfg.upscaling.tile, cfg.upscaling.weights_path) == (
        "model",
        256,
        tmp_path / "sr.pth",
    )
    monkeypatch.setenv("VIDAIO_UPSCALING__TILE", "-5")
    with pytest.raises(ValidationError):
        _MinerLike()
