"""scoring.evaluate: validation + metrics + formulas for one response, on real small clips."""

from __future__ import annotations

from pathlib import Path

import pytest

from scoring.compression import compression_score
from scoring.config import ScoringConfig
from scoring.evaluate import BadReferenceError, evaluate_compression, evaluate_upscaling
from scoring.metrics.config import MetricsConfig
from scoring.metrics.pieapp import PieAppMetric, get_metric
from scoring.metrics.vmaf import sample_frame_indices, vmaf_frames
from scoring.upscaling import upscaling_score
from tests.media_factory import make_clip, reencode

SCFG = ScoringConfig()
MCFG = MetricsConfig()


@pytest.fixture(scope="module")
def comp(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("evalc")
    ref = make_clip(d / "ref.mp4", (160, 90), fps=24, frames=48, crf=12)
    return {
        "ref": ref,
        "good": reencode(ref, d / "good.mp4", crf=28),
        "bad": reencode(ref, d / "bad.mp4", crf=51),
        "hevc": reencode(ref, d / "hevc.mp4", "hevc", crf=28),
    }


def _compress(ref: Path, dist: Path, thr: float = 50.0, codec: str = "h264", cfg: MetricsConfig = MCFG):
    return evaluate_compression(
        ref,
        dist,
        vmaf_threshold=thr,
        codec=codec,
        task_id="t-1",
        secret="sec",
        scoring_cfg=SCFG,
        metrics_cfg=cfg,
    )


def test_compression_good_response(comp: dict[str, Path]) -> None:
    steps: list[str] = []
    v = evaluate_compression(
        comp["ref"],
        comp["good"],
        vmaf_threshold=50.0,
        codec="h264",
        task_id="t-1",
        secret="sec",
        scoring_cfg=SCFG,
        metrics_cfg=MCFG,
        progress=steps.append,
    )
    assert v.ok and v.status == "ok" and v.reasons == []
    assert v.vmaf_model == "vmaf_v0.6.1neg"
    assert v.vmaf_indices == sample_frame_indices(48, 5, secret="sec", task_id="t-1")
    direct = vmaf_frames(comp["ref"], comp["good"], v.vmaf_indices, model="vmaf_v0.6.1neg")
    assert v.vmaf == pytest.approx(direct.harmonic_mean, abs=1e-9)
    assert 50 < v.vmaf < 100
    assert v.compressed_size == comp["good"].stat().st_size
    assert v.original_size == comp["ref"].stat().st_size
    assert v.compression_rate == pytest.approx(v.compressed_size / v.original_size)
    b = compression_score(v.compression_rate, v.vmaf, 50.0, SCFG)
    assert v.score == pytest.approx(b.s_f) and v.score > 0
    assert v.compression_term + v.quality_term == pytest.approx(v.score)
    assert {"validate_s", "vmaf_s", "total_s"} <= set(v.timings)
    assert steps == ["validating output", "scoring VMAF"]
    d = v.to_dict()
    assert (
        d["ok"] is True
        and d["score"] == v.score
        and set(d["vmaf_per_frame"]) == {str(i) for i in v.vmaf_indices}
    )


def test_compression_below_threshold_scores_zero_but_is_valid(comp: dict[str, Path]) -> None:
    v = _compress(comp["ref"], comp["bad"], thr=85.0)
    assert v.status == "ok" and v.vmaf is not None and v.vmaf < 85
    assert not v.vmaf_passed and v.score == 0.0


def test_compression_wrong_codec_is_invalid(comp: dict[str, Path]) -> None:
    v = _compress(comp["ref"], comp["hevc"], codec="av1")
    assert v.status == "invalid" and not v.ok
    assert v.reasons == ["wrong_codec"]
    assert v.score == 0.0 and v.vmaf is None
    assert _compress(comp["ref"], comp["hevc"], codec="hevc").ok


def test_compression_copy_of_reference(comp: dict[str, Path]) -> None:
    v = _compress(comp["ref"], comp["ref"])
    assert v.status == "invalid" and "same_as_reference" in v.reasons and "oversized" in v.reasons
    assert v.score == 0.0


def test_bad_reference_raises(comp: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(BadReferenceError, match="reference cannot be used"):
        _compress(tmp_path / "missing.mp4", comp["good"])


def test_metric_failure_scores_zero_with_reason(comp: dict[str, Path], tmp_path: Path) -> None:
    fake = tmp_path / "ffmpeg"
    fake.write_text("#!/bin/sh\necho 'libvmaf exploded' >&2\nexit 3\n")
    fake.chmod(0o755)
    v = _compress(comp["ref"], comp["good"], cfg=MetricsConfig(ffmpeg_path=fake))
    assert v.status == "error" and v.reasons == ["metric_error"]
    assert "libvmaf exploded" in v.messages[0]
    assert v.score == 0.0


# -- upscaling -----------------------------------------------------------------------------


# a path that never exists: random weights without any download attempt; the same settings as the
# CLI test, so the process-wide metric (get_metric) is built once for both
ABSENT_WEIGHTS = Path("/nonexistent/vidaio-tests/pieapp-absent.pth")


@pytest.fixture(scope="module")
def pieapp() -> PieAppMetric:
    cfg = MetricsConfig(pieapp_weights_path=ABSENT_WEIGHTS, allow_random_weights=True, pieapp_device="cpu")
    return get_metric(cfg)


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("evalu")
    ref = make_clip(d / "ref.mp4", (128, 128), fps=24, frames=30, crf=12)
    inp = reencode(ref, d / "in.mp4", crf=18, vf="scale=64:64:flags=area")
    return {
        "ref": ref,
        "input": inp,
        "lanczos": reencode(inp, d / "up.mp4", "hevc", crf=20, vf="scale=128:128:flags=lanczos"),
        "garbage": make_clip(d / "garbage.mp4", (128, 128), fps=24, frames=30, pattern="mandelbrot", crf=30),
    }


def _upscale(up: dict[str, Path], dist: Path, metric: PieAppMetric, **kw: object):
    return evaluate_upscaling(
        up["ref"],
        dist,
        input_path=up["input"],
        scale=2,
        content_length=5,
        task_id="u-1",
        secret="sec",
        scoring_cfg=SCFG,
        metrics_cfg=MCFG,
        pieapp_metric=metric,
        **kw,  # type: ignore[arg-type]
    )


@pytest.mark.slow
def test_upscaling_good_response(up: dict[str, Path], pieapp: PieAppMetric) -> None:
    steps: list[str] = []
    v = _upscale(up, up["lanczos"], pieapp, progress=steps.append)
    assert v.ok, v.messages
    assert v.vmaf_model == "vmaf_v0.6.1" and v.vmaf is not None and v.vmaf >= 50 and v.vmaf_passed
    assert v.pieapp_indices == sample_frame_indices(30, 4, secret="sec", task_id="u-1", salt="pieapp")
    assert len(v.pieapp_per_frame) == 4 and v.pieapp_random_weights
    assert v.pieapp == pytest.approx(sum(abs(x) for x in v.pieapp_per_frame) / 4)
    b = upscaling_score(v.pieapp, v.vmaf, 5, SCFG)
    assert (v.s_q, v.s_l, v.s_pre, v.s_f) == pytest.approx((b.s_q, b.s_l, b.s_pre, b.s_f))
    assert v.score == v.s_f > 0
    assert steps[-1] == "PIE-APP frame 4/4" and "scoring VMAF gate" in steps


class MustNotRun:
    """Stands in for PIE-APP where the code must not reach it (it fails the test if it does)."""

    def score_frames(self, ref_frames: object, dist_frames: object) -> None:
        raise AssertionError("PIE-APP must not run here")


def test_upscaling_failed_gate_skips_pieapp(up: dict[str, Path]) -> None:
    v = _upscale(up, up["garbage"], MustNotRun())  # type: ignore[arg-type]
    assert v.status == "ok" and v.vmaf is not None and v.vmaf < 50
    assert not v.vmaf_passed and v.pieapp is None and v.s_q == 0.0
    assert v.s_l == pytest.approx(0.3105, abs=1e-4)
    assert v.score == pytest.approx(upscaling_score(2.0, v.vmaf, 5, SCFG).s_f)


def test_upscaling_returning_the_reference_is_invalid(up: dict[str, Path]) -> None:
    v = _upscale(up, up["ref"], MustNotRun())  # type: ignore[arg-type]
    assert v.status == "invalid" and v.reasons == ["same_as_reference"] and v.score == 0.0


def test_upscaling_input_not_matching_reference_raises(up: dict[str, Path]) -> None:
    with pytest.raises(BadReferenceError, match="x4"):
        evaluate_upscaling(
            up["ref"],
            up["lanczos"],
            input_path=up["input"],
            scale=4,
            content_length=5,
            task_id="u",
            secret="s",
            scoring_cfg=SCFG,
            metrics_cfg=MCFG,
            pieapp_metric=MustNotRun(),  # type: ignore[arg-type]
        )
