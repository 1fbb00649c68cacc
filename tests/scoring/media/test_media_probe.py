"""scoring.media.probe: PyAV probe of real small clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.media.probe import ProbeError, probe
from tests.media_factory import make_clip, remux


def test_probe_mp4_h264(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.mp4", (96, 64), fps=25, frames=30, codec="h264")
    info = probe(clip)
    assert info.container.startswith("mov,mp4")
    assert info.is_mp4
    assert info.codec == "h264"
    assert info.profile  # e.g. "High"
    assert (info.width, info.height) == (96, 64)
    assert info.pix_fmt == "yuv420p"
    assert info.sar == "1:1"
    assert info.avg_fps == pytest.approx(25.0)
    assert info.frame_count == 30
    assert info.declared_frames == 30
    assert info.duration_s == pytest.approx(1.2, abs=0.05)
    assert info.size_bytes == clip.stat().st_size


def test_probe_mkv_hevc_counts_frames_without_declared_count(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "a.mp4", (64, 64), fps=30, frames=20, codec="hevc")
    mkv = remux(src, tmp_path / "a.mkv")
    info = probe(mkv)
    assert info.container.startswith("matroska")
    assert not info.is_mp4
    assert info.codec == "hevc"
    assert info.frame_count == 20
    assert probe(mkv, count_frames=False).frame_count == info.declared_frames


def test_probe_av1_codec_name_is_canonical(tmp_path: Path) -> None:
    info = probe(make_clip(tmp_path / "a.mp4", (64, 64), frames=10, codec="av1"))
    assert info.codec == "av1"  # not the decoder name (libdav1d)


def test_probe_non_square_sar(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "a.mp4", (64, 64), frames=5, vf="setsar=4/3")
    assert probe(clip).sar == "4:3"


@pytest.mark.parametrize(
    ("content", "match"),
    [(b"", "empty"), (b"this is not a video\n" * 20, "not a media file")],
)
def test_probe_rejects_non_video(tmp_path: Path, content: bytes, match: str) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(content)
    with pytest.raises(ProbeError, match=match):
        probe(bad)


def test_probe_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ProbeError, match="no such file"):
        probe(tmp_path / "missing.mp4")


def test_probe_audio_only_file_has_no_video(tmp_path: Path) -> None:
    from scoring.media.ffmpeg import run_ffmpeg

    wav = tmp_path / "a.wav"
    run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", "sine=duration=0.2", str(wav)])
    with pytest.raises(ProbeError, match="no video stream"):
        probe(wav)


def test_stream_sha256_survives_remux_not_reencode(tmp_path: Path) -> None:
    src = make_clip(tmp_path / "a.mp4", (64, 64), frames=12, crf=30)
    remuxed = remux(src, tmp_path / "b.mp4", extra=["-movflags", "+faststart", "-metadata", "title=x"])
    assert src.read_bytes() != remuxed.read_bytes()
    assert probe(src).stream_sha256 == probe(remuxed).stream_sha256 != ""
    other = make_clip(tmp_path / "c.mp4", (64, 64), frames=12, crf=31)
    assert probe(other).stream_sha256 != probe(src).stream_sha256
    assert probe(src, count_frames=False).stream_sha256 == ""
