"""scoring.media.ffmpeg: locating the wheel's binary, running it, errors that quote stderr."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from scoring.media.ffmpeg import FfmpegError, ffmpeg_exe, run_ffmpeg, stderr_tail


def test_ffmpeg_exe_is_the_imageio_wheel_binary() -> None:
    exe = ffmpeg_exe()
    assert "imageio_ffmpeg" in exe
    assert os.access(exe, os.X_OK)


def test_ffmpeg_has_libvmaf_and_the_encoders_we_use() -> None:
    filters = run_ffmpeg(["-filters"]).stdout.decode()
    assert " libvmaf " in filters
    encoders = run_ffmpeg(["-encoders"]).stdout.decode()
    for enc in ("libx264", "libx265", "libsvtav1"):
        assert enc in encoders


def test_override_must_exist(tmp_path: Path) -> None:
    with pytest.raises(FfmpegError, match="does not exist"):
        ffmpeg_exe(tmp_path / "nope")
    assert ffmpeg_exe(ffmpeg_exe()) == ffmpeg_exe()


def test_override_must_be_executable(tmp_path: Path) -> None:
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\n")
    with pytest.raises(FfmpegError, match="not executable"):
        ffmpeg_exe(fake)


def test_failure_quotes_last_stderr_lines(tmp_path: Path) -> None:
    with pytest.raises(FfmpegError) as err:
        run_ffmpeg(["-i", str(tmp_path / "missing.mp4"), "-f", "null", "-"])
    assert err.value.returncode not in (None, 0)
    assert "missing.mp4" in str(err.value)
    assert "No such file" in err.value.stderr_tail


def test_timeout_is_reported() -> None:
    # an endless lavfi source; the limit kills it
    with pytest.raises(FfmpegError, match="timed out after 0.5 s"):
        run_ffmpeg(
            ["-re", "-f", "lavfi", "-i", "testsrc2=size=64x64:rate=5", "-f", "null", "-"], timeout_s=0.5
        )


def test_stderr_tail_keeps_last_non_empty_lines() -> None:
    text = "a\n\nb\rc\nd\n" + "\n".join(f"line{i}" for i in range(20)) + "\n\n"
    tail = stderr_tail(text, lines=3)
    assert tail.splitlines() == ["line17", "line18", "line19"]
    assert stderr_tail(b"x\ny", lines=5) == "x\ny"
    assert stderr_tail(None) == ""
