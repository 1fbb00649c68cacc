"""Deadlines: an upscale that cannot finish in time raises DeadlineExceeded promptly and leaves
no partial or temporary file behind (nor a running encoder)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from services.upscaling import DeadlineExceeded, UpscaleSettings, build_engine
from tests.media_factory import make_clip


@pytest.fixture(scope="module")
def long_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """320x180, 96 frames: x4 to 1280x720 with x265 'slow' takes several seconds here."""
    return make_clip(tmp_path_factory.mktemp("dl_src") / "long.mp4", size=(320, 180), frames=96, crf=23)


def _assert_clean(folder: Path) -> None:
    assert list(folder.iterdir()) == [], [p.name for p in folder.iterdir()]


@pytest.mark.parametrize("engine", ["lanczos", "model"])
def test_deadline_already_passed(engine: str, long_clip: Path, tiny_weights: Path, tmp_path: Path) -> None:
    eng = build_engine(UpscaleSettings(engine=engine, weights_path=tiny_weights, device="cpu", threads=1))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    with pytest.raises(DeadlineExceeded):
        eng.upscale(long_clip, out_dir / "o.mp4", scale=2, target=(640, 360), deadline=time.monotonic() - 1)
    _assert_clean(out_dir)


def test_lanczos_deadline_kills_ffmpeg(long_clip: Path, tmp_path: Path) -> None:
    eng = build_engine(UpscaleSettings(engine="lanczos", preset="slow", threads=1))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    progress: list[int] = []
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as info:
        eng.upscale(long_clip, out_dir / "o.mp4", scale=4, target=(1280, 720), deadline=started + 0.6,
                    progress=lambda done, total: progress.append(done))  # fmt: skip
    assert isinstance(info.value, TimeoutError)
    assert time.monotonic() - started >= 0.6  # not before the deadline
    assert not progress or progress[-1] < 96  # ffmpeg was stopped mid-clip, not waited for
    _assert_clean(out_dir)


def test_model_deadline_mid_clip(long_clip: Path, tiny_weights: Path, tmp_path: Path) -> None:
    eng = build_engine(
        UpscaleSettings(
            engine="model", weights_path=tiny_weights, device="cpu", threads=1, batch=1, preset="slow"
        )
    )
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    progress: list[int] = []
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        eng.upscale(
            long_clip,
            out_dir / "o.mp4",
            scale=4,
            target=(1280, 720),
            deadline=started + 1.5,
            progress=lambda done, total: progress.append(done),
        )
    assert time.monotonic() - started >= 1.5  # not before the deadline
    assert not progress or progress[-1] < 96  # interrupted mid-clip
    _assert_clean(out_dir)
