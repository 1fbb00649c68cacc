"""Preparation: references and upscaling inputs (format, geometry, crop/trim, determinism, cleanup)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from synthesis_helpers import decode_yuv, files_under, frames_hash

from scoring.media.ffmpeg import run_ffmpeg
from scoring.media.probe import probe
from services.synthesis import (
    ClipSpec,
    DirectorySource,
    PrepareSettings,
    SynthesisCancelled,
    SynthesisError,
    SyntheticSource,
    prepare_compression,
    prepare_upscaling,
)
from services.synthesis.plan import plan_preparation
from services.synthesis.runner import cancel_scope, run

RAMP_W, RAMP_H, RAMP_FPS, RAMP_FRAMES = 192, 108, 12, 36


def _assert_clip(path: Path, size: tuple[int, int], fps: int, frames: int) -> None:
    info = probe(path)
    assert info.is_mp4 and info.codec == "h264"
    assert (info.width, info.height) == size
    assert (info.pix_fmt, info.sar) == ("yuv420p", "1:1")
    assert info.avg_fps == pytest.approx(fps, abs=0.01)
    assert info.frame_count == frames


@pytest.fixture(scope="module")
def ramp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 192x108 3 s clip whose pixels encode their position and frame number:
    Y = 16 + 200 x/W (horizontal ramp), Cr = 16 + 200 y/H (vertical ramp), Cb = 16 + 6 n."""
    lib = tmp_path_factory.mktemp("ramp")
    x, y = np.arange(RAMP_W), np.arange(RAMP_H // 2)
    luma = np.broadcast_to(np.round(16 + 200 * x / RAMP_W).astype(np.uint8), (RAMP_H, RAMP_W))
    cr = np.broadcast_to(np.round(16 + 200 * y / (RAMP_H // 2)).astype(np.uint8)[:, None], (RAMP_H // 2, RAMP_W // 2))
    raw = b"".join(
        luma.tobytes() + np.full((RAMP_H // 2, RAMP_W // 2), 16 + 6 * n, np.uint8).tobytes() + cr.tobytes()
        for n in range(RAMP_FRAMES)
    )
    tags = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]
    run_ffmpeg(
        ["-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{RAMP_W}x{RAMP_H}"]
        + ["-r", str(RAMP_FPS), "-color_range", "tv", "-colorspace", "bt709", "-i", "-"]
        + ["-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *tags, str(lib / "ramp.mp4")],
        input_bytes=raw,
    )
    return lib


def test_upscaling_reference_and_input_geometry(tmp_path: Path) -> None:
    task = prepare_upscaling(
        SyntheticSource(), in_size=(64, 36), scale=2, content_length=1, fps=12, seed=5, work_dir=tmp_path
    )
    assert (task.in_size, task.out_size, task.scale, task.frames) == ((64, 36), (128, 72), 2, 12)
    _assert_clip(task.reference, (128, 72), 12, 12)
    _assert_clip(task.input, (64, 36), 12, 12)
    assert task.reference.parent == task.input.parent == task.directory
    assert sorted(p.name for p in task.directory.iterdir()) == ["input.mp4", "reference.mp4"]
    # The input is the reference downscaled (only the input's own high-quality encode differs).
    expected = run_ffmpeg(
        ["-loglevel", "error", "-i", str(task.reference), "-vf", "scale=64:36:flags=bicubic"]
        + ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]
    ).stdout
    expected_y = np.frombuffer(expected, np.uint8).reshape(12, -1)[:, : 64 * 36].astype(float)
    got_y = decode_yuv(task.input)[0].reshape(12, -1).astype(float)
    mse = float(np.mean((expected_y - got_y) ** 2))
    assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 35
    task.remove()
    assert files_under(tmp_path) == []


def test_upscaling_x4(tmp_path: Path) -> None:
    task = prepare_upscaling(
        SyntheticSource(), in_size=(32, 18), scale=4, content_length=1, fps=12, seed=2, work_dir=tmp_path
    )
    _assert_clip(task.reference, (128, 72), 12, 12)
    _assert_clip(task.input, (32, 18), 12, 12)


def test_compression_reference_is_deterministic_per_seed(tmp_path: Path) -> None:
    source = SyntheticSource()
    a = prepare_compression(source, size=(96, 54), seconds=1, fps=12, seed=21, work_dir=tmp_path)
    b = prepare_compression(source, size=(96, 54), seconds=1, fps=12, seed=21, work_dir=tmp_path)
    c = prepare_compression(source, size=(96, 54), seconds=1, fps=12, seed=22, work_dir=tmp_path)
    assert a.directory != b.directory
    assert frames_hash(a.reference) == frames_hash(b.reference)
    assert frames_hash(a.reference) != frames_hash(c.reference)


@pytest.mark.parametrize("seed", [3, 4, 16])
def test_compression_reference_leaves_room_to_compress(tmp_path: Path, seed: int) -> None:
    task = prepare_compression(SyntheticSource(), size=(160, 90), seconds=2, fps=12, seed=seed, work_dir=tmp_path)
    _assert_clip(task.reference, (160, 90), 12, 24)
    assert task.size_bytes == task.reference.stat().st_size
    assert (task.width, task.height, task.frames, task.seconds) == (160, 90, 24, 2)
    crf28 = tmp_path / "crf28.mp4"
    run_ffmpeg(["-loglevel", "error", "-i", str(task.reference), "-c:v", "libx264", "-crf", "28", str(crf28)])
    assert crf28.stat().st_size < 0.6 * task.size_bytes


@pytest.mark.parametrize("seed", [0, 2, 3])
def test_directory_clip_is_cropped_rescaled_and_trimmed(ramp_dir: Path, tmp_path: Path, seed: int) -> None:
    settings = PrepareSettings(mild_filters=("none",))
    task = prepare_compression(
        DirectorySource(ramp_dir), size=(96, 54), seconds=1, fps=12, seed=seed, work_dir=tmp_path, settings=settings
    )
    _assert_clip(task.reference, (96, 54), 12, 12)
    plan = plan_preparation(seed, settings, clip_duration_s=RAMP_FRAMES / RAMP_FPS, seconds=1)
    y, cb, cr = (p.astype(float) for p in decode_yuv(task.reference))

    # Trim: consecutive source frames (no drop/dup) starting at the planned offset.
    index = (cb.mean(axis=(1, 2)) - 16) / 6
    assert np.allclose(np.diff(index), 1.0, atol=0.1)
    assert index[0] == pytest.approx(np.ceil(plan.start_s * RAMP_FPS - 1e-6), abs=0.1)

    # Crop + rescale: the output shows (1 - crop) of each dimension, at the planned position.
    cols = np.arange(96)
    slope, intercept = np.polyfit(cols[4:-4], y.mean(axis=(0, 1))[4:-4], 1)
    kept_w = slope * 96 / 200  # fraction of the source width visible
    assert 0.895 <= kept_w <= 0.955
    assert kept_w == pytest.approx(1 - plan.crop, abs=0.012)
    x0 = (intercept - 16) * RAMP_W / 200 - (0.5 * kept_w * RAMP_W / 96 - 0.5)  # source column of output column 0
    assert x0 == pytest.approx((RAMP_W - kept_w * RAMP_W) * plan.x, abs=2.5)
    rows = np.arange(27)
    vslope, _ = np.polyfit(rows[2:-2], cr.mean(axis=(0, 2))[2:-2], 1)
    kept_h = vslope * 27 / 200
    assert kept_h == pytest.approx(1 - plan.crop, abs=0.02)


def test_mismatched_aspect_is_cropped_not_stretched(ramp_dir: Path, tmp_path: Path) -> None:
    settings = PrepareSettings(mild_filters=("none",), crop_min=0.0, crop_max=0.0)
    task = prepare_compression(
        DirectorySource(ramp_dir), size=(54, 54), seconds=1, fps=12, seed=1, work_dir=tmp_path, settings=settings
    )
    y = decode_yuv(task.reference)[0].astype(float)
    slope = np.polyfit(np.arange(4, 50), y.mean(axis=(0, 1))[4:50], 1)[0]
    # A square window of the 16:9 ramp: 108 source columns over 54 output columns (not 192).
    assert slope * 54 * RAMP_W / 200 == pytest.approx(108, abs=3)


def test_invalid_arguments_are_refused(tmp_path: Path) -> None:
    source = SyntheticSource()
    with pytest.raises(ValueError, match="must be even"):
        prepare_compression(source, size=(95, 54), seconds=1, fps=12, seed=1, work_dir=tmp_path)
    with pytest.raises(ValueError, match="scale 9"):
        prepare_upscaling(source, in_size=(32, 18), scale=9, content_length=1, fps=12, seed=1, work_dir=tmp_path)
    with pytest.raises(ValueError, match="fewer than 2 frames"):
        prepare_compression(source, size=(96, 54), seconds=0.05, fps=12, seed=1, work_dir=tmp_path)
    with pytest.raises(ValueError, match="unknown mild filter"):
        PrepareSettings(mild_filters=("sepia",))
    with pytest.raises(ValueError, match="preset"):
        PrepareSettings(preset="turbo")
    assert files_under(tmp_path) == []


def test_empty_directory_fails_cleanly(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    work = tmp_path / "work"
    with pytest.raises(SynthesisError, match="no video clips in"):
        prepare_upscaling(
            DirectorySource(tmp_path / "clips"), in_size=(48, 28), scale=2, content_length=1, fps=12, seed=1, work_dir=work
        )
    assert files_under(work) == []


class ShortSource:
    """A misbehaving source: ignores the requested length and returns 0.5 s."""

    name = "short"

    def produce(self, spec: ClipSpec, out_path: Path) -> Path:
        run(["-f", "lavfi", "-i", f"testsrc2=s={spec.width}x{spec.height}:r={spec.fps}", "-frames:v",
             str(spec.fps // 2), "-pix_fmt", "yuv420p", str(out_path)], what="short clip")  # fmt: skip
        return out_path


def test_short_clip_is_detected_and_nothing_is_left(tmp_path: Path) -> None:
    with pytest.raises(SynthesisError, match="6 frames, expected 12"):
        prepare_compression(ShortSource(), size=(96, 54), seconds=1, fps=12, seed=1, work_dir=tmp_path)
    assert files_under(tmp_path) == []


def test_cancelled_preparation_leaves_nothing(tmp_path: Path) -> None:
    stop = threading.Event()
    stop.set()
    with cancel_scope(stop), pytest.raises(SynthesisCancelled):
        prepare_compression(SyntheticSource(), size=(96, 54), seconds=1, fps=12, seed=1, work_dir=tmp_path)
    assert files_under(tmp_path) == []
