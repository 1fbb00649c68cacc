"""Output validation, issue 19: what the MP4 header and the frames declare (sample tables, colour tags).

The exploit files (edit lists, renamed ftyp, rotation, extra stream, pixel-format switch) are in
tests/security/test_security_mp4_header.py; these are the smaller header and colour rules.
"""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from scoring.header_checks import header_problems
from scoring.media.mp4box import read_mp4_header
from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from scoring.validation import expected_for_compression, validate_output
from tests.media_factory import make_clip, reencode
from tests.mp4_surgery import find

MCFG = MetricsConfig()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("hdr")
    ref = make_clip(d / "ref.mp4", (96, 64), frames=30, crf=10)
    return {"dir": d, "ref": ref, "honest": reencode(ref, d / "honest.mp4", "hevc", crf=30)}


def _validate(clips: dict[str, Path], path: Path) -> list[str]:
    exp = expected_for_compression(probe(clips["ref"]), "hevc", MCFG)
    return validate_output(path, exp, reference=clips["ref"]).reasons


def test_honest_answer_header_has_nothing_to_refuse(clips: dict[str, Path]) -> None:
    h = read_mp4_header(clips["honest"])
    assert h is not None and h.has_ftyp and not h.fragmented
    t = h.video_tracks[0]
    assert t.stsz_count == t.stts_count == t.stsc_count == 30 and t.edit_count <= 1
    assert header_problems(h, width=96, height=64, frame_count=30, frame_tolerance=2) == []
    assert _validate(clips, clips["honest"]) == []


def test_sample_tables_that_disagree_are_refused_before_decoding(clips: dict[str, Path]) -> None:
    data = bytearray(clips["honest"].read_bytes())
    stsz = find(bytes(data), "moov/trak/mdia/minf/stbl/stsz")
    struct.pack_into(">I", data, stsz[1] + stsz[2] + 8, 28)  # stsz now declares 28 samples, stts 30
    bad = clips["dir"] / "stsz28.mp4"
    bad.write_bytes(bytes(data))
    exp = expected_for_compression(probe(clips["ref"]), "hevc", MCFG)
    res = validate_output(bad, exp, reference=clips["ref"])
    assert res.reasons == ["sample_table"] and "stts covers 30 samples, stsz declares 28" in res.messages[0]
    assert res.probe is None and res.decoded_frames is None


def test_declared_frame_count_outside_the_tolerance(clips: dict[str, Path]) -> None:
    long = reencode(
        make_clip(clips["dir"] / "long-src.mp4", (96, 64), frames=40, crf=10),
        clips["dir"] / "l.mp4",
        "hevc",
        crf=30,
    )
    reasons = _validate(clips, long)
    assert reasons == ["frame_count_mismatch"]


def test_full_range_answer_to_a_limited_range_reference_is_colour_tags(clips: dict[str, Path]) -> None:
    full = reencode(clips["ref"], clips["dir"] / "full.mp4", "hevc", crf=30, extra=["-color_range", "pc"])
    assert probe(full).color_range == 2 and probe(clips["ref"]).color_range in (0, 1)
    assert "colour_tags" in _validate(clips, full)


def test_other_colour_matrix_is_colour_tags_unspecified_is_not(clips: dict[str, Path]) -> None:
    d = clips["dir"]
    ref709 = reencode(clips["ref"], d / "ref709.mp4", crf=10, extra=["-colorspace", "bt709"])
    exp = expected_for_compression(probe(ref709), "hevc", MCFG)
    tagged601 = reencode(ref709, d / "a601.mp4", "hevc", crf=30, extra=["-colorspace", "bt470bg"])
    same = reencode(ref709, d / "a709.mp4", "hevc", crf=30, extra=["-colorspace", "bt709"])
    assert "colour_tags" in validate_output(tagged601, exp, reference=ref709).reasons
    assert validate_output(same, exp, reference=ref709).reasons == []
    assert (
        validate_output(clips["honest"], exp, reference=ref709).reasons == []
    )  # unspecified: the reference's
