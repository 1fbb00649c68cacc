"""The defenses added for the exploit suite, tested on their own: the colour statistics (pure), the MP4
header reader (bounded on hostile bytes) and the capped, size-checked decode pass."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from scoring.chroma import ChromaStats, chroma_failure, chroma_stats, decode_chroma
from scoring.media.frames import DecodeError
from scoring.media.mp4box import read_mp4_header
from scoring.validation import decode_pass
from tests.media_factory import make_clip, remux


def planes(
    u: float, v: float, shape: tuple[int, int] = (8, 8), noise: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    mk = [np.clip(np.full(shape, c) + rng.normal(0, noise, shape), 0, 255).astype(np.uint8) for c in (u, v)]
    return mk[0], mk[1]


def test_chroma_stats_table() -> None:
    colour = [planes(160, 100, noise=10), planes(90, 170, noise=10)]
    same = chroma_stats(colour, colour)
    assert same.saturation_ratio == pytest.approx(1.0) and same.psnr_min == 100.0 and same.frames == 2
    gray = chroma_stats(colour, [planes(128, 128), planes(128, 128)])
    assert gray.saturation_ratio == pytest.approx(0.0) and gray.psnr_min < 20
    half = [(128 + (u.astype(int) - 128) // 2, 128 + (v.astype(int) - 128) // 2) for u, v in colour]
    washed = chroma_stats(colour, [(u.astype(np.uint8), v.astype(np.uint8)) for u, v in half])
    assert washed.saturation_ratio == pytest.approx(0.5, abs=0.03)
    neutral_ref = chroma_stats([planes(128, 128)], [planes(128, 128)])
    assert neutral_ref.reference_rms == 0.0 and neutral_ref.saturation_ratio == 1.0
    with pytest.raises(ValueError, match="same non-zero"):
        chroma_stats(colour, colour[:1])
    with pytest.raises(ValueError, match="differ in size"):
        chroma_stats([planes(1, 1)], [planes(1, 1, shape=(4, 4))])


@pytest.mark.parametrize(
    "stats,why",
    [
        (ChromaStats(0.95, 35.0, 33.0, 20.0, 5), None),
        (ChromaStats(0.30, 35.0, 33.0, 20.0, 5), "saturation is 0.30x"),
        (ChromaStats(0.30, 35.0, 33.0, 1.0, 5), None),  # a gray reference: nothing to lose
        (ChromaStats(1.00, 12.0, 33.0, 20.0, 5), "chroma PSNR is 12.0 dB"),
        (ChromaStats(0.00, 12.0, 12.0, 20.0, 5), "saturation is 0.00x"),
    ],
)
def test_chroma_failure_rules(stats: ChromaStats, why: str | None) -> None:
    got = chroma_failure(stats, min_saturation_ratio=0.6, min_psnr_db=18.0, min_reference_rms=2.0)
    assert (got is None) if why is None else (got is not None and why in got)
    assert chroma_failure(stats, min_saturation_ratio=0, min_psnr_db=0, min_reference_rms=2.0) is None


def test_decode_chroma_and_decode_pass_limits(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", (64, 36), frames=12)
    _, u, v = decode_chroma(clip, [3])[0]
    assert u.shape == v.shape == (18, 32) and u.dtype == np.uint8
    with pytest.raises(DecodeError, match="only 12 frames"):
        decode_chroma(clip, [2, 40])
    assert decode_pass(clip).frames == 12
    capped = decode_pass(clip, max_frames=5)
    assert capped.frames == 5 and capped.capped and capped.error is None
    wrong = decode_pass(clip, size=(32, 32))
    assert wrong.frames == 0 and "frame 0 is 64x36" in (wrong.error or "")


def test_mp4_header_declared_size_and_hostile_boxes(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "c.mp4", (64, 36), frames=6, codec="hevc")
    h = read_mp4_header(clip)
    assert h is not None and h.major_brand == "isom"
    assert [(t.fourcc[:3], t.width, t.height) for t in h.video_tracks] == [("hev", 64, 36)]
    fast = read_mp4_header(remux(clip, tmp_path / "fast.mp4", extra=["-movflags", "+faststart"]))
    assert fast is not None and fast.video_tracks[0].pixels == 64 * 36
    assert read_mp4_header(make_clip(tmp_path / "c.mkv", (64, 36), frames=2)) is None  # not ISO BMFF
    data = clip.read_bytes()
    hostile = {
        "empty": b"",
        "ftyp only": data[:32],
        "huge ftyp": struct.pack(">I4s", 0xFFFFFFF0, b"ftyp") + data[8:],
        "64-bit size past the end": struct.pack(">I4sQ", 1, b"ftyp", 1 << 62) + data[8:],
        "size below header": struct.pack(">I4s", 4, b"ftyp") + data[8:],
        "zero-size moov": data[:32] + struct.pack(">I4s", 0, b"moov") + b"\x00" * 64,
    }
    for name, blob in hostile.items():
        p = tmp_path / f"{name.replace(' ', '_')}.mp4"
        p.write_bytes(blob)
        got = read_mp4_header(p)
        assert got is None or got.video_tracks == (), name
    assert read_mp4_header(tmp_path / "missing.mp4") is None
