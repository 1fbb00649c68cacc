"""Single-pass sampled VMAF (issue 19 item 5): frames decoded once, every model in one libvmaf run.

`vmaf_windows` must give, per sampled frame, the values the previous per-model, decode-again path
(`vmaf_frames`) gives: within 0.01, for every codec the miners use, at the clip's first and last
frames too, and for several models in the same run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.media.decode import decode_pass
from scoring.metrics.vmaf import VmafInputError, layout, vmaf_frames, vmaf_windows, window_frames
from tests.media_factory import make_clip, reencode

FRAMES = 36


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("vw") / "ref.mp4", (128, 72), frames=FRAMES, crf=10, bframes=3)


@pytest.mark.parametrize("codec,crf", [("hevc", 34), ("h264", 30), ("av1", 45)])
def test_windows_equal_the_per_model_runs(ref: Path, codec: str, crf: int, tmp_path: Path) -> None:
    dist = reencode(ref, tmp_path / f"d-{codec}.mp4", codec, crf=crf, vf="unsharp=5:5:0.8")
    idx = [0, 5, 17, 18, FRAMES - 1]
    frames = window_frames(idx, FRAMES, 1)
    r = decode_pass(ref, keep_yuv=frames).sampled.yuv
    d = decode_pass(dist, keep_yuv=frames).sampled.yuv
    models = ["vmaf_v0.6.1", "vmaf_v0.6.1neg"]
    one_run = vmaf_windows(r, d, idx, FRAMES, models=models, threads=1)
    for model in models:
        before = vmaf_frames(ref, dist, idx, model=model, threads=1)
        assert set(one_run[model].per_frame) == set(idx)
        for i in idx:
            assert one_run[model].per_frame[i] == pytest.approx(before.per_frame[i], abs=0.01), (model, i)
        assert one_run[model].harmonic_mean == pytest.approx(before.harmonic_mean, abs=0.01)
    assert one_run["vmaf_v0.6.1"].mean > one_run["vmaf_v0.6.1neg"].mean  # two models really ran


def test_layout_puts_each_sampled_frame_on_a_scored_position_with_its_true_neighbours() -> None:
    for window in (1, 2):
        step = 2 * window + 1
        idx = [0, 5, 17, 18, FRAMES - 1]
        seq, at = layout(idx, FRAMES, window)
        assert set(at) == set(idx)
        # frame 0 first (motion 0, as in a full run), the last frame last (no next frame)
        assert at[0] == 0 and at[FRAMES - 1] == len(seq) - 1
        for i in idx:
            assert at[i] % step == 0 and seq[at[i]] == i
            lo, hi = max(0, i - window), min(FRAMES - 1, i + window)
            assert seq[at[i] - (i - lo) : at[i] + (hi - i) + 1] == list(range(lo, hi + 1))
        # libvmaf's spatial features run on ceil(len/step) positions: the samples plus at most one filler
        assert -(-len(seq) // step) <= len(idx) + 1


def test_windows_of_two_equal_the_per_model_run(ref: Path, tmp_path: Path) -> None:
    dist = reencode(ref, tmp_path / "d.mp4", "h264", crf=30)
    idx = [1, 9, 10, FRAMES - 2]
    frames = window_frames(idx, FRAMES, 2)
    r = decode_pass(ref, keep_yuv=frames).sampled.yuv
    d = decode_pass(dist, keep_yuv=frames).sampled.yuv
    got = vmaf_windows(r, d, idx, FRAMES, models=["vmaf_v0.6.1"], threads=1, window=2)["vmaf_v0.6.1"]
    before = vmaf_frames(ref, dist, idx, model="vmaf_v0.6.1", threads=1, window=2)
    for i in idx:
        assert got.per_frame[i] == pytest.approx(before.per_frame[i], abs=0.01), i


def test_windows_need_every_window_frame(ref: Path) -> None:
    r = decode_pass(ref, keep_yuv=[4, 5]).sampled.yuv
    with pytest.raises(VmafInputError, match="not decoded"):
        vmaf_windows(r, r, [5], FRAMES, models=["vmaf_v0.6.1"])
    with pytest.raises(VmafInputError, match="unknown VMAF model"):
        vmaf_windows(r, r, [5], FRAMES, models=["nope"])
