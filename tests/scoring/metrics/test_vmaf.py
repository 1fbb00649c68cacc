"""scoring.metrics.vmaf: exact frame-sampled VMAF, timestamp normalisation, pooling, refusal."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from scoring.media.ffmpeg import run_ffmpeg
from scoring.metrics.vmaf import (
    VmafInputError,
    harmonic_mean,
    model_for_height,
    sample_frame_indices,
    vmaf_frames,
    vmaf_full,
    window_frames,
)
from tests.media_factory import make_clip, reencode, remux

SIZE = (160, 90)
BLACK_AT_20 = "drawbox=c=black:t=fill:enable='eq(n,20)'"


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A lossless 60-frame reference in MKV (1 ms time base) and distorted copies."""
    d = tmp_path_factory.mktemp("vmaf")
    ref = make_clip(d / "ref.mkv", SIZE, fps=24, frames=60, qp=0)
    dist_mp4 = reencode(ref, d / "dist.mp4", crf=36)  # B-frames, 1/12288 time base
    return {
        "ref": ref,
        "dist_mp4": dist_mp4,
        "dist_mkv": remux(dist_mp4, d / "dist.mkv"),
        "heavy": reencode(ref, d / "heavy.mp4", crf=51),
        "black": reencode(ref, d / "black.mp4", qp=0, vf=BLACK_AT_20),
        "small": make_clip(d / "small.mp4", (96, 54), fps=24, frames=60),
    }


def test_sampled_equals_full_clip_per_frame(clips: dict[str, Path]) -> None:
    full = vmaf_full(clips["ref"], clips["dist_mp4"])
    assert len(full.per_frame) == 60
    indices = [0, 1, 17, 30, 58, 59]  # first and last frame included
    sampled = vmaf_frames(clips["ref"], clips["dist_mp4"], indices)
    assert sorted(sampled.per_frame) == indices
    for i in indices:
        assert sampled.per_frame[i] == pytest.approx(full.per_frame[i], abs=0.01), f"frame {i}"
    # the content is not trivially flat: scores vary across frames, so a wrong frame would show
    assert max(full.per_frame.values()) - min(full.per_frame.values()) > 3
    assert sampled.harmonic_mean == pytest.approx(
        harmonic_mean([full.per_frame[i] for i in indices]), abs=0.01
    )


def test_adjacent_and_overlapping_windows_stay_exact(clips: dict[str, Path]) -> None:
    full = vmaf_full(clips["ref"], clips["dist_mp4"])
    indices = [10, 11, 13, 57]
    sampled = vmaf_frames(clips["ref"], clips["dist_mp4"], indices, window=2)
    for i in indices:
        assert sampled.per_frame[i] == pytest.approx(full.per_frame[i], abs=0.01)


def test_mp4_and_mkv_give_the_same_vmaf(clips: dict[str, Path]) -> None:
    indices = [3, 24, 47]
    a = vmaf_frames(clips["ref"], clips["dist_mp4"], indices)
    b = vmaf_frames(clips["ref"], clips["dist_mkv"], indices)
    assert a.per_frame == pytest.approx(b.per_frame, abs=1e-6)
    fa, fb = vmaf_full(clips["ref"], clips["dist_mp4"]), vmaf_full(clips["ref"], clips["dist_mkv"])
    assert fa.harmonic_mean == pytest.approx(fb.harmonic_mean, abs=1e-6)


def test_without_pts_normalisation_this_pair_is_misaligned(clips: dict[str, Path], tmp_path: Path) -> None:
    """Guard that the previous test is meaningful: plain libvmaf pairs the wrong frames here."""
    proc = run_ffmpeg(
        [
            "-i",
            str(clips["dist_mp4"]),
            "-i",
            str(clips["ref"]),
            "-lavfi",
            "[0:v][1:v]libvmaf",
            "-f",
            "null",
            "-",
        ]
    )
    raw = float(proc.stderr.decode().rsplit("VMAF score:", 1)[1].split()[0])
    assert abs(raw - vmaf_full(clips["ref"], clips["dist_mp4"]).mean) > 2


def test_identical_scores_high_and_heavy_compression_lower(clips: dict[str, Path]) -> None:
    idx = sample_frame_indices(60, 5, secret="s", task_id="t1")
    same = vmaf_frames(clips["ref"], clips["ref"], idx)
    assert same.harmonic_mean >= 99
    heavy = vmaf_frames(clips["ref"], clips["heavy"], idx)
    assert heavy.harmonic_mean < same.harmonic_mean - 40


def test_one_black_frame_drives_harmonic_mean_down(clips: dict[str, Path]) -> None:
    res = vmaf_frames(clips["ref"], clips["black"], [5, 20, 33, 40, 51])
    assert res.per_frame[20] < 5
    assert res.mean > 75  # the arithmetic mean would hide it
    assert res.harmonic_mean < 10


def test_zero_frame_is_kept_not_dropped(tmp_path: Path) -> None:
    """Static content: motion is 0, so a black frame scores exactly 0 and so does the pool."""
    ref = make_clip(tmp_path / "ref.mkv", SIZE, frames=30, qp=0, pattern="smptebars")
    black = reencode(ref, tmp_path / "black.mp4", qp=0, vf=BLACK_AT_20)
    res = vmaf_frames(ref, black, [5, 20, 25])
    assert res.per_frame[20] == 0.0
    assert res.per_frame[5] > 90
    assert res.harmonic_mean == 0.0


def test_resolution_mismatch_is_refused(clips: dict[str, Path]) -> None:
    with pytest.raises(VmafInputError, match="resolution mismatch: distorted is 96x54, reference is 160x90"):
        vmaf_frames(clips["ref"], clips["small"], [1])
    with pytest.raises(VmafInputError, match="resolution mismatch"):
        vmaf_full(clips["ref"], clips["small"])


def test_bad_indices_and_model_are_refused(clips: dict[str, Path]) -> None:
    with pytest.raises(VmafInputError, match=r"\[0, 60\)"):
        vmaf_frames(clips["ref"], clips["dist_mp4"], [60])
    with pytest.raises(VmafInputError, match="no frame indices"):
        vmaf_frames(clips["ref"], clips["dist_mp4"], [])
    with pytest.raises(VmafInputError, match="unknown VMAF model"):
        vmaf_frames(clips["ref"], clips["dist_mp4"], [1], model="vmaf_v9")


def test_models_neg_and_4k_run(clips: dict[str, Path]) -> None:
    std = vmaf_frames(clips["ref"], clips["dist_mp4"], [10, 30])
    neg = vmaf_frames(clips["ref"], clips["dist_mp4"], [10, 30], model="vmaf_v0.6.1neg")
    k4 = vmaf_frames(clips["ref"], clips["dist_mp4"], [10, 30], model="vmaf_4k_v0.6.1")
    assert neg.model == "vmaf_v0.6.1neg" and k4.model == "vmaf_4k_v0.6.1"
    assert neg.harmonic_mean <= std.harmonic_mean + 1e-6
    assert k4.harmonic_mean != pytest.approx(std.harmonic_mean, abs=0.5)


def test_full_clip_subsample_keeps_exact_values(clips: dict[str, Path]) -> None:
    full = vmaf_full(clips["ref"], clips["dist_mp4"])
    sub = vmaf_full(clips["ref"], clips["dist_mp4"], subsample=7)
    assert sorted(sub.per_frame) == list(range(0, 60, 7))
    for i, v in sub.per_frame.items():
        assert v == pytest.approx(full.per_frame[i], abs=0.01)


@pytest.mark.parametrize(
    ("scores", "expected"),
    [
        ([], 0.0),
        ([80.0], 80.0),
        ([50.0, 100.0], 2 / (1 / 50 + 1 / 100)),
        ([90.0, 0.0, 95.0], 0.0),
        ([90.0, -1.0], 0.0),
        ([60.0, 60.0, 60.0], 60.0),
    ],
)
def test_harmonic_mean_table(scores: list[float], expected: float) -> None:
    assert math.isclose(harmonic_mean(scores), expected, rel_tol=1e-12)


def test_sample_frame_indices_are_seeded_distinct_and_in_range() -> None:
    a = sample_frame_indices(300, 5, secret="validator-secret", task_id="task-1")
    assert a == sample_frame_indices(300, 5, secret="validator-secret", task_id="task-1")
    assert len(set(a)) == 5 and a == sorted(a) and all(0 <= i < 300 for i in a)
    draws = {tuple(sample_frame_indices(300, 5, secret=s, task_id="task-1")) for s in ("a", "b", "c", "d")}
    assert len(draws) == 4  # the secret changes the draw
    assert sample_frame_indices(300, 5, secret="x", task_id="t", salt="pieapp") != sample_frame_indices(
        300, 5, secret="x", task_id="t"
    )
    assert sample_frame_indices(3, 5, secret="x", task_id="t") == [0, 1, 2]
    with pytest.raises(ValueError):
        sample_frame_indices(0, 5, secret="x", task_id="t")


def test_window_frames_clip_at_the_ends() -> None:
    assert window_frames([0, 59], 60, 1) == [0, 1, 58, 59]
    assert window_frames([10, 11], 60, 1) == [9, 10, 11, 12]


def test_gate_model_by_height() -> None:
    assert model_for_height(1080) == "vmaf_v0.6.1"
    assert model_for_height(2160) == "vmaf_4k_v0.6.1"
    assert model_for_height(4320) == "vmaf_4k_v0.6.1"
