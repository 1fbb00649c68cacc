"""Reference frames prepared once per task at task creation (issue 19): same verdicts, no reference decode
per answer, a safe fallback when the frames are missing, stale or not the ones an answer needs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import scoring.answer_check as answer_check
from scoring.answer_check import _REFERENCES, prepare_reference, reference_plan
from scoring.config import ScoringConfig
from scoring.evaluate import evaluate_compression
from scoring.media.decode import decode_pass
from scoring.media.prepared import frames_dir, load_frames, prepare_frames
from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from tests.media_factory import make_clip, reencode

FRAMES = 30
SCFG, MCFG = ScoringConfig(), MetricsConfig()


@pytest.fixture()
def pair(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "task").mkdir()
    ref = make_clip(tmp_path / "task" / "ref.mp4", (128, 72), frames=FRAMES, crf=12, bframes=2)
    dist = reencode(ref, tmp_path / "answer.mp4", "hevc", crf=30)
    return ref, dist


def _score(ref: Path, dist: Path, task: str):  # type: ignore[no-untyped-def]
    _REFERENCES.clear()
    return evaluate_compression(
        ref,
        dist,
        vmaf_threshold=50,
        codec="hevc",
        task_id=task,
        secret="s",
        scoring_cfg=SCFG,
        metrics_cfg=MCFG,
    )


def test_prepared_frames_give_the_same_verdict_without_decoding_the_reference(
    pair: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, dist = pair
    before = _score(ref, dist, "t1")
    assert before.ok, before.messages
    done = prepare_reference(
        probe(ref), ["t1", "t2"], secret="s", vmaf_samples=SCFG.vmaf_samples, pieapp_frames=0, cfg=MCFG,
        max_bytes=1 << 30,
    )  # fmt: skip
    assert done is not None and done.directory == frames_dir(ref)
    # no temporary directory left next to the reference: only the clip and its frames
    assert sorted(p.name for p in ref.parent.iterdir()) == ["ref.mp4", "ref.mp4.frames"]
    decoded: list[str] = []
    real = answer_check.decode_pass
    monkeypatch.setattr(answer_check, "decode_pass", lambda p, **kw: decoded.append(str(p)) or real(p, **kw))
    for task, expected in (("t1", before), ("t2", _score(ref, dist, "t2"))):
        decoded.clear()
        after = _score(ref, dist, task)
        assert str(ref) not in decoded  # the reference came from the prepared frames
        assert after.vmaf_per_frame == expected.vmaf_per_frame
        assert (after.score, after.vmaf_passed, after.chroma_psnr) == (
            expected.score, expected.vmaf_passed, expected.chroma_psnr,
        )  # fmt: skip
    # a task that was not prepared decodes the reference, with the same result as ever
    decoded.clear()
    other = _score(ref, dist, "t3")
    assert str(ref) in decoded and other.ok


def test_loaded_frames_equal_decoded_frames_and_stale_or_missing_ones_are_refused(
    pair: tuple[Path, Path],
) -> None:
    ref, _ = pair
    plan = reference_plan(probe(ref), "t1", secret="s", vmaf_samples=5, pieapp_frames=3, cfg=MCFG)
    prepare_frames(ref, plan.yuv, plan.rgb)
    got = load_frames(ref, plan.yuv, plan.rgb)
    want = decode_pass(ref, keep_yuv=plan.yuv, keep_rgb=plan.rgb).sampled
    assert got is not None and set(got.yuv) == set(plan.yuv) and set(got.rgb) == set(plan.rgb)
    for n in plan.yuv:
        assert all(np.array_equal(a, b) for a, b in zip(got.yuv[n], want.yuv[n], strict=True))
    for n in plan.rgb:
        assert np.array_equal(got.rgb[n], want.rgb[n])
    not_prepared = next(n for n in range(FRAMES) if n not in plan.yuv)
    assert load_frames(ref, {not_prepared}) is None  # e.g. an answer with fewer frames draws other frames
    ref.touch()  # a different file now: its old frames are never used
    assert load_frames(ref, plan.yuv) is None


def test_a_failed_preparation_leaves_nothing_behind(pair: tuple[Path, Path]) -> None:
    ref, _ = pair
    with pytest.raises(ValueError, match="past its"):
        prepare_frames(ref, {2, FRAMES + 5})
    assert sorted(p.name for p in ref.parent.iterdir()) == ["ref.mp4"]


def test_preparation_stops_at_the_byte_cap(pair: tuple[Path, Path]) -> None:
    ref, _ = pair
    info = probe(ref)
    one = reference_plan(info, "t1", secret="s", vmaf_samples=5, pieapp_frames=0, cfg=MCFG)
    per_frame = 128 * 72 * 3 // 2
    done = prepare_reference(
        info, ["t1", "t2", "t3"], secret="s", vmaf_samples=5, pieapp_frames=0, cfg=MCFG,
        max_bytes=len(one.yuv) * per_frame,
    )  # fmt: skip
    assert done is not None and done.yuv == one.yuv  # t2 did not fit: it decodes the reference itself
    assert (
        prepare_reference(info, ["t1"], secret="s", vmaf_samples=5, pieapp_frames=0, cfg=MCFG, max_bytes=1)
        is None
    )


def test_the_reference_is_probed_once_per_file_identity(pair: tuple[Path, Path]) -> None:
    ref, _ = pair
    first = answer_check.probe_reference(ref, "reference")
    assert answer_check.probe_reference(ref, "reference") is first
    make_clip(ref.with_name("other.mp4"), (64, 64), frames=5).replace(ref)  # another file, same path
    again = answer_check.probe_reference(ref, "reference")
    assert again is not first and (again.width, again.frame_count) == (64, 5)
