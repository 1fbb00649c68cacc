"""One claim per solution (issue 19 item 4): the fingerprint of an answer and the same-solution rule,
on generated clips: remuxes and metadata edits decode to the same pictures, a CRF + 1 copy and a
transcode of an answer are closer to it than to the reference, honest answers of other settings
(preset, CRF two steps away, codec) are not."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scoring.claims import ClaimPrint, claim_print, cross_ratio, same_solution
from scoring.media.ffmpeg import run_ffmpeg
from scoring.media.frames import DecodeError
from scoring.metrics.config import MetricsConfig
from services.compression.encoder import encode_args
from tests.media_factory import make_clip, remux

CFG = MetricsConfig()
IDX = [3, 11, 19, 27, 40]


def _print(ref: Path, path: Path, idx: list[int] = IDX, crop: int = 64) -> ClaimPrint:
    return claim_print(ref, path, idx, seed="task-seed", crop=crop)


def _same(a: ClaimPrint, b: ClaimPrint) -> str | None:
    return same_solution(
        a, b, max_cross_ratio=CFG.claim_max_cross_ratio["hevc"], max_size_ratio=CFG.claim_max_size_ratio
    )


def _encode(src: Path, out: Path, codec: str, crf: int, preset: str) -> Path:
    run_ffmpeg(encode_args(src, out, codec, crf, preset=preset, threads=1), timeout_s=120)
    return out


def _p(hashes: str, crop_value: int, ref_value: int = 100) -> ClaimPrint:
    idx = (1, 2, 3, 4, 5)
    crop = np.full((4, 4), crop_value, np.uint8)
    se = float((crop_value - ref_value) ** 2 * crop.size)
    return ClaimPrint(idx, tuple(hashes), tuple(crop for _ in idx), tuple(se for _ in idx), 1000)


def test_rule_on_prints() -> None:
    a = _p("abcde", 110)  # 10 from the reference on every pixel
    assert "5 of 5" in (_same(a, a) or "")
    assert "4 of 5 sampled frames" in (_same(a, _p("abXde", 90)) or "")
    assert _same(a, _p("aYXde", 90)) is None  # 20 from a: twice as far from it as from the reference
    near = _p("vwxyz", 108)  # 2 from a, 8 from the reference: ratio 4/64
    assert "0.06x as much" in (_same(a, near) or "")
    assert same_solution(a, near, max_cross_ratio=0) is None  # near-copy rule off
    bigger = ClaimPrint(near.indices, near.frame_sha256, near.crops, near.ref_se, 1300)
    assert _same(a, bigger) is None  # close pictures but 1.3x the size: another CRF, not a copy
    assert cross_ratio(a, _p("vwxyz", 100 - 10)) == pytest.approx(4.0)
    other = ClaimPrint((1, 2, 3, 4, 6), a.frame_sha256, a.crops, a.ref_se)
    assert _same(a, other) is None  # only prints of the same frames compare
    with pytest.raises(ValueError, match="same frames"):
        cross_ratio(a, other)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("claims")
    ref = make_clip(d / "ref.mp4", (192, 108), fps=24, frames=48, crf=12, pattern="testsrc2")
    base = _encode(ref, d / "base.mp4", "hevc", 26, "medium")
    out = {"ref": ref, "base": base}
    out["remux"] = remux(base, d / "remux.mp4", extra=["-metadata", "title=mine"])  # no +faststart: moov at the end
    out["crf+1"] = _encode(ref, d / "crf27.mp4", "hevc", 27, "medium")
    out["transcode"] = _encode(base, d / "transcode.mp4", "hevc", 26, "medium")
    out["slow preset"] = _encode(ref, d / "slow.mp4", "hevc", 26, "slow")
    out["ultrafast preset"] = _encode(ref, d / "ultrafast.mp4", "hevc", 22, "ultrafast")
    out["crf+4"] = _encode(ref, d / "crf30.mp4", "hevc", 30, "medium")
    out["h264"] = _encode(ref, d / "h264.mp4", "h264", 23, "medium")
    return out


def test_remux_with_new_metadata_is_the_same_solution(clips: dict[str, Path]) -> None:
    base, moved = _print(clips["ref"], clips["base"]), _print(clips["ref"], clips["remux"])
    assert clips["remux"].read_bytes() != clips["base"].read_bytes()
    assert base.frame_sha256 == moved.frame_sha256
    assert "5 of 5 sampled frames decode to identical pictures" in (_same(base, moved) or "")


@pytest.mark.parametrize("copy", ["crf+1", "transcode"])
def test_copies_are_closer_to_their_original_than_to_the_reference(clips: dict[str, Path], copy: str) -> None:
    base, theirs = _print(clips["ref"], clips["base"]), _print(clips["ref"], clips[copy])
    assert base.frame_sha256 != theirs.frame_sha256
    assert "one is derived from the other" in (_same(base, theirs) or ""), cross_ratio(base, theirs)


@pytest.mark.parametrize("other", ["slow preset", "ultrafast preset", "crf+4", "h264"])
def test_honest_answers_of_other_settings_are_different_solutions(clips: dict[str, Path], other: str) -> None:
    base, theirs = _print(clips["ref"], clips["base"]), _print(clips["ref"], clips[other])
    assert _same(base, theirs) is None, cross_ratio(base, theirs)


def test_crops_follow_the_seed_and_bad_inputs_are_named(clips: dict[str, Path]) -> None:
    a = _print(clips["ref"], clips["base"])
    b = claim_print(clips["ref"], clips["base"], IDX, seed="another", crop=64)
    assert a.crops[0].shape == (64, 64) and any((x != y).any() for x, y in zip(a.crops, b.crops, strict=True))
    whole = _print(clips["ref"], clips["base"], crop=4096)
    assert whole.crops[0].shape == (108, 192)
    with pytest.raises(ValueError, match="non-negative"):
        _print(clips["ref"], clips["base"], [])
    with pytest.raises(DecodeError, match="only 48 frames"):
        _print(clips["ref"], clips["base"], [2, 60])
