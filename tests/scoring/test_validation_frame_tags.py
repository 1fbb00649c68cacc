"""Output validation, issue 19: what the decoded frames themselves declare (rotation SEI, colour primaries/transfer).

The MP4 header's display matrix is refused before decoding (tests/security/test_security_mp4_header.py);
a rotation can also ride inside the bitstream (H.264/HEVC display orientation SEI), which the ffmpeg
CLI applies and PyAV does not, and colour primaries / transfer tags change what the numbers mean
without changing the planes every stage compares. Both are per frame, so the decode pass checks them
on every frame (a tag switched mid-stream is caught too).
"""

from __future__ import annotations

import re
import struct
from pathlib import Path

import av
import numpy as np
import pytest

from scoring.media.ffmpeg import run_ffmpeg
from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from scoring.validation import expected_for_compression, validate_output
from tests.media_factory import make_clip, reencode

MCFG = MetricsConfig()
# HEVC prefix SEI NAL (type 39), payload 47 = display orientation: no flip, anticlockwise 90 degrees.
HEVC_ROTATE_SEI = b"\x00\x00\x00\x01\x4e\x01\x2f\x03\x08\x00\x14\x80"
# The same with rotation 0: an identity matrix, which an honest stream may carry.
HEVC_UPRIGHT_SEI = b"\x00\x00\x00\x01\x4e\x01\x2f\x03\x00\x00\x14\x80"


def _hevc_with_sei(ref: Path, dst: Path, sei: bytes | None) -> Path:
    """An HEVC answer to `ref` (no B-frames, so a raw stream remuxes with exact timestamps), with `sei`
    inserted before every picture (None: the same encode without it), in MP4."""
    raw = dst.with_suffix(".hevc")
    run_ffmpeg(
        ["-loglevel", "error", "-i", str(ref), "-c:v", "libx265", "-x265-params", "log-level=none:bframes=0",
         "-crf", "30", "-pix_fmt", "yuv420p", "-f", "hevc", str(raw)]
    )  # fmt: skip
    data = raw.read_bytes()
    if sei is not None:
        out, last = bytearray(), 0
        for m in re.finditer(b"\x00\x00\x01", data):
            s = m.start()
            nal_type = (data[s + 3] >> 1) & 0x3F
            if (nal_type <= 9 or 16 <= nal_type <= 21) and data[s + 5] & 0x80:  # first slice of a picture
                p = s - 1 if s > 0 and data[s - 1] == 0 else s
                out += data[last:p] + sei
                last = p
        data = bytes(out + data[last:])
    raw.write_bytes(data)
    run_ffmpeg(["-loglevel", "error", "-r", "24", "-i", str(raw), "-c", "copy", str(dst)])
    raw.unlink()
    return dst


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("frametags")
    ref = make_clip(
        d / "ref.mp4",
        (96, 64),
        frames=24,
        crf=10,
        vf="setparams=color_primaries=bt709:color_trc=bt709:colorspace=bt709",
    )
    return {"dir": d, "ref": ref, "honest": reencode(ref, d / "honest.mp4", "hevc", crf=30)}


def _reasons(clips: dict[str, Path], path: Path, codec: str = "hevc") -> tuple[list[str], list[str]]:
    exp = expected_for_compression(probe(clips["ref"]), codec, MCFG)
    res = validate_output(path, exp, reference=clips["ref"])
    return res.reasons, res.messages


def _display_matrix(path: Path) -> list[int] | None:
    with av.open(str(path)) as c:
        for f in c.decode(video=0):
            for sd in f.side_data:
                if "DISPLAYMATRIX" in str(sd.type):
                    return list(struct.unpack("<9i", bytes(sd)[:36]))
            return None
    return None


def test_honest_answer_passes(clips: dict[str, Path]) -> None:
    assert _reasons(clips, clips["honest"]) == ([], [])


def test_hevc_rotation_sei_is_refused(clips: dict[str, Path]) -> None:
    rotated = _hevc_with_sei(clips["ref"], clips["dir"] / "rot-sei.mp4", HEVC_ROTATE_SEI)
    assert _reasons(clips, _hevc_with_sei(clips["ref"], clips["dir"] / "no-sei.mp4", None)) == ([], [])
    m = _display_matrix(rotated)
    assert m is not None and m[0] == 0  # PyAV reports a 90-degree matrix but does not apply it
    reasons, messages = _reasons(clips, rotated)
    assert reasons == ["display_matrix"], messages
    assert "frame 0" in messages[0] and "rotat" in messages[0]


def test_h264_rotation_sei_is_refused(clips: dict[str, Path]) -> None:
    honest = reencode(clips["ref"], clips["dir"] / "h264.mp4", "h264", crf=30)
    rotated = clips["dir"] / "rot-sei-h264.mp4"
    run_ffmpeg(
        ["-loglevel", "error", "-i", str(honest), "-c", "copy", "-bsf:v",
         "h264_metadata=display_orientation=insert:rotate=90", str(rotated)]
    )  # fmt: skip
    assert _display_matrix(rotated) is not None
    reasons, _ = _reasons(clips, rotated, "h264")
    assert reasons == ["display_matrix"]


def test_upright_orientation_sei_is_accepted(clips: dict[str, Path]) -> None:
    upright = _hevc_with_sei(clips["ref"], clips["dir"] / "upright-sei.mp4", HEVC_UPRIGHT_SEI)
    m = _display_matrix(upright)
    assert m is None or (m[0] == 1 << 16 and m[4] == 1 << 16)  # FFmpeg exports no matrix for 0 degrees
    assert _reasons(clips, upright) == ([], [])


@pytest.mark.parametrize(
    ("params", "what"),
    [("color_primaries=bt2020", "primaries"), ("color_trc=smpte2084", "transfer")],
)
def test_other_primaries_or_transfer_are_refused(clips: dict[str, Path], params: str, what: str) -> None:
    tagged = reencode(
        clips["ref"], clips["dir"] / f"tag-{what}.mp4", "hevc", crf=30, vf=f"setparams={params}"
    )
    assert probe(tagged).color_primaries == (9 if what == "primaries" else 1)
    reasons, messages = _reasons(clips, tagged)
    assert reasons == ["colour_tags"], messages
    assert what in messages[0]


def test_unspecified_or_equivalent_tags_count_as_the_references(clips: dict[str, Path]) -> None:
    bare = reencode(
        clips["ref"], clips["dir"] / "bare.mp4", "hevc", crf=30,
        vf="setparams=color_primaries=unknown:color_trc=unknown",
    )  # fmt: skip
    with av.open(str(bare)) as c:
        f = next(c.decode(video=0))
        assert f.color_primaries == 2 and f.color_trc == 2
    assert _reasons(clips, bare) == ([], [])
    # SMPTE 170M is the BT.709 transfer curve: the same numbers mean the same picture
    same_curve = reencode(
        clips["ref"], clips["dir"] / "trc601.mp4", "hevc", crf=30, vf="setparams=color_trc=smpte170m"
    )
    assert probe(same_curve).color_trc == 6
    assert _reasons(clips, same_curve) == ([], [])


def test_primaries_switched_mid_stream_are_refused(clips: dict[str, Path]) -> None:
    """Two halves with different primaries joined into one stream: the decode pass checks every frame."""
    d = clips["dir"]
    a = reencode(clips["ref"], d / "half-a.hevc", "hevc", crf=30, extra=["-frames:v", "12"])
    b = reencode(
        clips["ref"], d / "half-b.hevc", "hevc", crf=30, vf="setparams=color_primaries=bt2020",
        extra=["-frames:v", "12"],
    )  # fmt: skip
    joined = d / "joined.hevc"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    answer = d / "switch.mp4"
    run_ffmpeg(["-loglevel", "error", "-r", "24", "-i", str(joined), "-c", "copy", str(answer)])
    assert probe(answer).color_primaries == 1
    reasons, messages = _reasons(clips, answer)
    assert reasons == ["colour_tags"], messages
    assert "has colour primaries 9, the stream 1" in messages[0]  # found at the switch, not at frame 0
    assert not messages[0].startswith("colour_tags: frame 0 ")


def test_the_decoded_pictures_are_unchanged_by_the_rotation_sei(clips: dict[str, Path]) -> None:
    """The check refuses the tag; it does not rely on a stage rotating or not (same planes either way)."""
    rotated = _hevc_with_sei(clips["ref"], clips["dir"] / "rot-sei2.mp4", HEVC_ROTATE_SEI)
    plain = _hevc_with_sei(clips["ref"], clips["dir"] / "plain2.mp4", None)
    with av.open(str(rotated)) as a, av.open(str(plain)) as b:
        fa, fb = next(a.decode(video=0)), next(b.decode(video=0))
        assert np.array_equal(fa.to_ndarray(), fb.to_ndarray())
