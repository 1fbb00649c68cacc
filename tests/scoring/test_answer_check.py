"""Validation orchestration: one decode of the answer keeps every frame the metrics need."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

import scoring.validation as validation
from scoring.answer_check import check_answer, draw
from scoring.budget import Budget
from scoring.config import ScoringConfig
from scoring.media.decode import decode_pass
from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from scoring.validation import expected_for_compression
from tests.media_factory import make_clip, reencode

MCFG = MetricsConfig()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("ac")
    ref = make_clip(d / "ref.mp4", (96, 64), frames=30, crf=10)
    short = reencode(ref, d / "short.mp4", "hevc", crf=30, vf="trim=end_frame=29")  # 29 frames: within 2
    return {"ref": ref, "short": short}


def _check(clips: dict[str, Path], answer: Path):
    ref = probe(clips["ref"])
    return check_answer(
        answer, expected_for_compression(ref, "hevc", MCFG), reference=ref, secret="s", task_id="t",
        vmaf_samples=5, pieapp_frames=4, cfg=MCFG, budget=Budget(120),
    )  # fmt: skip


def test_kept_frames_are_the_frames_a_decode_by_index_gives(clips: dict[str, Path]) -> None:
    c = _check(clips, clips["short"])
    assert c.ok and c.draw is not None and c.draw.n_frames == 29  # min(reference 30, answer 29)
    assert c.draw == draw(29, secret="s", task_id="t", vmaf_samples=5, pieapp_frames=4, cfg=MCFG)
    wanted = sorted(set(c.draw.windows) | set(c.draw.chroma))
    again = decode_pass(clips["short"], keep_yuv=wanted).sampled
    for i in wanted:
        assert all((a == b).all() for a, b in zip(c.answer.yuv[i], again.yuv[i], strict=True))
    assert set(c.answer.rgb) == set(c.draw.pieapp) == set(c.reference.rgb)


def test_packet_count_not_the_frame_count_redraws_and_decodes_again(
    clips: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the probe's packet count (the first draw) is not what decodes, the draw follows the decode."""
    real = validation.probe

    def lying_probe(path, **kw):  # noqa: ANN001, ANN202
        info = real(path, **kw)
        return dataclasses.replace(info, frame_count=30) if Path(path).name == "short.mp4" else info

    kw = dict(secret="s", task_id="t", vmaf_samples=5, pieapp_frames=4, cfg=MCFG)
    assert draw(30, **kw) != draw(29, **kw)  # the first draw would have been wrong
    monkeypatch.setattr(validation, "probe", lying_probe)
    c = _check(clips, clips["short"])
    assert c.ok and c.draw is not None and c.draw.n_frames == 29
    assert c.draw == draw(29, secret="s", task_id="t", vmaf_samples=5, pieapp_frames=4, cfg=MCFG)
    assert set(c.draw.windows) <= set(c.answer.yuv)


@pytest.mark.parametrize(
    "only",
    [
        {"chroma_max_luma_gap_db": 14.0},
        {"chroma_max_detail_loss_db": 2.2},
    ],
)
def test_any_single_colour_rule_keeps_its_frames(clips: dict[str, Path], only: dict[str, float]) -> None:
    """A validator that keeps only the luma-gap (or only the detail-loss) rule still gets the colour
    frames from the decode pass (the draw once asked only the saturation and PSNR floors: KeyError)."""
    from scoring.evaluate import evaluate_compression

    cfg = MetricsConfig(
        chroma_min_saturation_ratio=0,
        chroma_min_psnr_db=0,
        chroma_max_luma_gap_db=0,
        chroma_max_detail_loss_db=0,
    ).model_copy(update=only)
    d = draw(29, secret="s", task_id="t", vmaf_samples=5, pieapp_frames=0, cfg=cfg)
    assert len(d.chroma) == 5
    v = evaluate_compression(
        clips["ref"],
        clips["short"],
        vmaf_threshold=20,
        codec="hevc",
        task_id="t",
        secret="s",
        metrics_cfg=cfg,
        scoring_cfg=ScoringConfig(),
    )
    assert v.ok, v.messages
    assert v.chroma_psnr is not None  # the colour check ran on the kept frames
