"""scoring.validation (docs/scoring.md#output-validation): one real malformed file per reason, plus the pure check."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from scoring.media.probe import ProbeInfo, probe
from scoring.metrics.config import MetricsConfig
from scoring.validation import (
    ExpectedOutput,
    Reason,
    ValidationResult,
    check_output,
    expected_for_compression,
    expected_for_upscaling,
    file_sha256,
    validate_output,
)
from tests.media_factory import make_clip, reencode, remux

CFG = MetricsConfig()


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The original of a compression task: 96x64, 24 fps, 30 frames, h264 crf 28 (~20 kB)."""
    return make_clip(tmp_path_factory.mktemp("val") / "ref.mp4", (96, 64), fps=24, frames=30, crf=28)


@pytest.fixture(scope="module")
def expected(ref: Path) -> ExpectedOutput:
    return expected_for_compression(probe(ref), "h264", CFG)


def _validate(path: Path, expected: ExpectedOutput, ref: Path, **kw: object) -> ValidationResult:
    return validate_output(path, expected, reference=ref, **kw)  # type: ignore[arg-type]


def _only(result: ValidationResult, reason: Reason) -> None:
    assert result.reasons == [reason.value], result.messages


def test_good_output_passes(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    good = reencode(ref, tmp_path / "good.mp4", crf=40)
    res = _validate(good, expected, ref)
    assert res.ok, res.messages
    assert res.reasons == []
    assert res.decoded_frames == 30
    assert res.sha256 == file_sha256(good)
    assert res.probe is not None and res.probe.codec == "h264"


def test_wrong_resolution(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    res = _validate(reencode(ref, tmp_path / "o.mp4", crf=40, vf="scale=64:64,setsar=1"), expected, ref)
    _only(res, Reason.WRONG_RESOLUTION)
    assert "64x64, expected 96x64" in res.messages[0]


def test_wrong_codec(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    res = _validate(reencode(ref, tmp_path / "o.mp4", "hevc", crf=40), expected, ref)
    _only(res, Reason.WRONG_CODEC)
    assert "codec is hevc, expected h264" in res.messages[0]


def test_yuv444p_is_wrong_pix_fmt(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    res = _validate(reencode(ref, tmp_path / "o.mp4", crf=40, pix_fmt="yuv444p"), expected, ref)
    _only(res, Reason.WRONG_PIX_FMT)


def test_non_square_sar(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    res = _validate(reencode(ref, tmp_path / "o.mp4", crf=40, vf="setsar=2/1"), expected, ref)
    _only(res, Reason.WRONG_SAR)


def test_dropped_frames(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    vf = "select='not(between(n,10,14))',setpts=N/FRAME_RATE/TB"
    res = _validate(reencode(ref, tmp_path / "o.mp4", crf=40, vf=vf), expected, ref)
    _only(res, Reason.FRAME_COUNT_MISMATCH)
    assert "25 frames, expected 30 ± 2" in res.messages[0]


def test_two_dropped_frames_are_tolerated(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    vf = "select='not(between(n,10,11))',setpts=N/FRAME_RATE/TB"
    assert _validate(reencode(ref, tmp_path / "o.mp4", crf=40, vf=vf), expected, ref).ok


def test_changed_fps(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    res = _validate(reencode(ref, tmp_path / "o.mp4", crf=40, vf="setpts=N/30/TB,fps=30"), expected, ref)
    _only(res, Reason.FPS_MISMATCH)
    assert "30.000, expected 24.000" in res.messages[0]


def test_truncated_file(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    out = reencode(ref, tmp_path / "o.mp4", crf=40, extra=["-movflags", "+faststart"])
    data = out.read_bytes()
    out.write_bytes(data[: len(data) * 6 // 10])
    res = _validate(out, expected, ref)
    assert Reason.DECODE_ERROR.value in res.reasons, res.messages
    assert res.decoded_frames is not None and res.decoded_frames < 30


def test_text_file_named_mp4(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    bad = tmp_path / "o.mp4"
    bad.write_text("<html>404 not found</html>\n" * 10)
    res = _validate(bad, expected, ref)
    _only(res, Reason.NOT_A_VIDEO)
    assert res.probe is None


def test_zero_byte_file(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    empty = tmp_path / "o.mp4"
    empty.touch()
    _only(_validate(empty, expected, ref), Reason.EMPTY_FILE)


def test_missing_file(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    _only(_validate(tmp_path / "nope.mp4", expected, ref), Reason.NOT_A_VIDEO)


def test_oversized_output(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    big = reencode(ref, tmp_path / "o.mp4", qp=0)
    assert big.stat().st_size > ref.stat().st_size
    res = _validate(big, expected, ref)
    _only(res, Reason.OVERSIZED)
    assert f"< original ({ref.stat().st_size} bytes)" in res.messages[0]


def test_mkv_and_mov_are_wrong_container(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    good = reencode(ref, tmp_path / "good.mp4", crf=40)
    mkv = remux(good, tmp_path / "o.mkv")
    named_mp4 = tmp_path / "mkv_named.mp4"
    shutil.copy(mkv, named_mp4)
    _only(_validate(named_mp4, expected, ref), Reason.WRONG_CONTAINER)
    mov = remux(good, tmp_path / "o.mov")
    res = _validate(mov, expected, ref)
    _only(res, Reason.WRONG_CONTAINER)
    assert "qt" in res.messages[0]


def test_copy_of_reference_is_byte_identical(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    copy = tmp_path / "o.mp4"
    shutil.copy(ref, copy)
    res = _validate(copy, expected, ref)
    assert res.reasons == ["oversized", "same_as_reference"]  # not < original, and a copy
    assert any("byte-identical" in m for m in res.messages)


def test_remuxed_reference_is_stream_identical(ref: Path, tmp_path: Path) -> None:
    remuxed = remux(ref, tmp_path / "o.mp4", extra=["-movflags", "+faststart", "-metadata", "title=mine"])
    assert file_sha256(remuxed) != file_sha256(ref)
    # upscaling-style expectations: the size cap does not hide the copy
    exp = replace(expected_for_compression(probe(ref), "h264", CFG), max_size_bytes=10**9)
    res = _validate(remuxed, exp, ref)
    _only(res, Reason.SAME_AS_REFERENCE)
    assert "stream-identical" in res.messages[0]


def test_duplicate_submission(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    good = reencode(ref, tmp_path / "good.mp4", crf=40)
    first = _validate(good, expected, ref)
    assert first.ok
    again = _validate(good, expected, ref, seen_sha256={first.sha256})
    _only(again, Reason.DUPLICATE_SUBMISSION)
    by_url = _validate(good, expected, ref, url="https://s3/x", seen_urls={"https://s3/x"})
    _only(by_url, Reason.DUPLICATE_SUBMISSION)


def test_several_reasons_are_all_reported(ref: Path, expected: ExpectedOutput, tmp_path: Path) -> None:
    out = reencode(ref, tmp_path / "o.mkv", "hevc", crf=40, pix_fmt="yuv444p", vf="setsar=3/2")
    res = _validate(out, expected, ref)
    assert res.reasons == ["wrong_container", "wrong_codec", "wrong_pix_fmt", "wrong_sar"]


def test_upscaling_expectations(tmp_path: Path) -> None:
    inp = make_clip(tmp_path / "in.mp4", (64, 64), fps=24, frames=12, crf=30)
    exp = expected_for_upscaling(probe(inp), 2, CFG)
    assert (exp.width, exp.height) == (128, 128)
    assert exp.codecs == ("hevc", "av1", "h264")
    assert exp.max_size_bytes == 8 * inp.stat().st_size
    assert expected_for_upscaling(probe(inp), 4, CFG).max_size_bytes == 20 * inp.stat().st_size
    good = reencode(inp, tmp_path / "up.mp4", "hevc", crf=30, vf="scale=128:128:flags=lanczos")
    assert validate_output(good, exp).ok
    wrong = reencode(inp, tmp_path / "up3.mp4", "hevc", crf=30, vf="scale=192:192")
    _only(validate_output(wrong, exp), Reason.WRONG_RESOLUTION)
    with pytest.raises(ValueError, match="scale 3"):
        expected_for_upscaling(probe(inp), 3, CFG)


# -- the pure check, table-driven ------------------------------------------------------------

BASE = ProbeInfo(
    path="x.mp4",
    container="mov,mp4,m4a,3gp,3g2,mj2",
    codec="hevc",
    profile="Main",
    width=1920,
    height=1080,
    pix_fmt="yuv420p",
    sar="1:1",
    avg_fps=30.0,
    frame_count=150,
    duration_s=5.0,
    size_bytes=1000,
    declared_frames=150,
    container_brand="isom",
)
EXP = ExpectedOutput(
    codecs=("hevc", "av1"), width=1920, height=1080, fps=30.0, frame_count=150, max_size_bytes=1000
)


@pytest.mark.parametrize(
    ("change", "reasons"),
    [
        ({}, []),
        ({"avg_fps": 30.3}, []),
        ({"avg_fps": 30.31}, ["fps_mismatch"]),
        ({"avg_fps": 29.97}, []),
        ({"frame_count": 148}, []),
        ({"frame_count": 147}, ["frame_count_mismatch"]),
        ({"frame_count": 153}, ["frame_count_mismatch"]),
        ({"size_bytes": 1001}, ["oversized"]),
        ({"codec": "h264"}, ["wrong_codec"]),
        ({"codec": "av1"}, []),
        ({"container": "matroska,webm", "container_brand": ""}, ["wrong_container"]),
        ({"container_brand": "qt  "}, ["wrong_container"]),
        ({"width": 1918}, ["wrong_resolution"]),
        ({"pix_fmt": "yuv420p10le"}, ["wrong_pix_fmt"]),
        ({"sar": "4:3"}, ["wrong_sar"]),
    ],
)
def test_check_output_table(change: dict[str, object], reasons: list[str]) -> None:
    info = replace(BASE, **change)  # type: ignore[arg-type]
    assert [f.reason.value for f in check_output(info, EXP)] == reasons


def test_decoded_count_overrides_probe_count() -> None:
    assert [f.reason.value for f in check_output(BASE, EXP, decoded_frames=100)] == ["frame_count_mismatch"]
