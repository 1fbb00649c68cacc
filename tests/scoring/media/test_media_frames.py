"""scoring.media.frames: decoding by index equals the sequential decode (I, P and B frames)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scoring.media.frames import DecodeError, count_decoded_frames, decode_frames, iter_frames
from tests.media_factory import decode_all_y, make_clip, remux

SIZE = (96, 64)


@pytest.fixture(scope="module")
def gop_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """x264 with B-frames and short GOPs, muxed in MKV (ms time base) to make it harder."""
    d = tmp_path_factory.mktemp("frames")
    mp4 = make_clip(d / "b.mp4", SIZE, fps=30, frames=40, codec="h264", bframes=3, gop=12, crf=30)
    return remux(mp4, d / "b.mkv")


def test_index_decode_equals_sequential_decode_for_i_p_b_frames(gop_clip: Path) -> None:
    types = [int(f.pict_type) for f in iter_frames(gop_clip)]  # 1 = I, 2 = P, 3 = B
    picks = [types.index(1, 1), types.index(2), types.index(3), len(types) - 1, 0]
    picks += [i for i in range(len(types)) if types[i] == 3][-1:]
    assert {types[i] for i in picks} == {1, 2, 3}
    truth = decode_all_y(gop_clip, SIZE)  # ffmpeg CLI sequential decode, independent of PyAV
    assert truth.shape[0] == len(types) == 40
    got = decode_frames(gop_clip, picks, fmt="gray")
    for i, arr in zip(picks, got, strict=True):
        assert arr.shape == (SIZE[1], SIZE[0])
        assert np.array_equal(arr, truth[i]), f"frame {i} differs"
    # neighbours differ (moving content), so an off-by-one would have been caught
    assert not np.array_equal(truth[picks[0]], truth[picks[0] - 1])


def test_rgb_frames_in_requested_order_with_repeats(gop_clip: Path) -> None:
    seq = [f.to_ndarray(format="rgb24") for f in iter_frames(gop_clip)]
    got = decode_frames(gop_clip, [17, 3, 17, 39])
    assert [g.shape for g in got] == [(SIZE[1], SIZE[0], 3)] * 4
    assert got[0].dtype == np.uint8
    for i, g in zip([17, 3, 17, 39], got, strict=True):
        assert np.array_equal(g, seq[i])


def test_index_past_end_and_bad_args(gop_clip: Path) -> None:
    with pytest.raises(DecodeError, match="only 40 frames"):
        decode_frames(gop_clip, [40])
    with pytest.raises(ValueError, match=">= 0"):
        decode_frames(gop_clip, [-1])
    with pytest.raises(ValueError, match="unsupported frame format"):
        decode_frames(gop_clip, [0], fmt="bgr")  # type: ignore[arg-type]
    assert decode_frames(gop_clip, []) == []
    assert count_decoded_frames(gop_clip) == 40
