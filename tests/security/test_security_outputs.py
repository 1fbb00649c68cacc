"""Exploit suite, file level: every answer a cheating miner could upload, scored by `scoring.evaluate`
exactly as the validator scores it. Each must end with score 0 and a named reason, or score no more
than the honest encode of the same clip ("no gain"), and nothing may raise."""

from __future__ import annotations

from pathlib import Path

import pytest
import security_media as sm

from scoring.config import ScoringConfig
from scoring.evaluate import CompressionVerdict, UpscalingVerdict, evaluate_compression, evaluate_upscaling
from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from scoring.metrics.vmaf import vmaf_full
from scoring.validation import expected_for_compression, validate_output
from tests.media_factory import remux

pytestmark = pytest.mark.slow

SCFG = ScoringConfig()
MCFG = MetricsConfig(vmaf_threads=1)
THRESHOLD = 70.0


@pytest.fixture(scope="module")
def d(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("attacks")


@pytest.fixture(scope="module")
def ref(d: Path) -> Path:
    return sm.reference(d)


@pytest.fixture(scope="module")
def bomb(d: Path) -> Path:
    return sm.decompression_bomb(d)


@pytest.fixture(scope="module")
def honest(ref: Path, d: Path) -> CompressionVerdict:
    v = compress(ref, sm.honest(ref, d))
    assert v.ok and v.vmaf_passed and v.score > 0.5, v.messages  # the bar every attack is held to
    return v


def compress(ref: Path, dist: Path, codec: str = "hevc") -> CompressionVerdict:
    return evaluate_compression(
        ref, dist, vmaf_threshold=THRESHOLD, codec=codec, task_id="t-attack", secret="validator-secret",
        scoring_cfg=SCFG, metrics_cfg=MCFG,
    )  # fmt: skip


def refused(v: CompressionVerdict | UpscalingVerdict, reason: str) -> None:
    assert v.score == 0.0 and v.status == "invalid", (v.status, v.messages)
    assert reason in v.reasons, v.messages
    assert any(m.startswith(f"{reason}: ") for m in v.messages), v.messages


def no_credit(v: CompressionVerdict) -> None:
    """Valid file, but VMAF below the threshold: the judge records `vmaf_below_threshold`, score 0."""
    assert v.status == "ok" and not v.vmaf_passed and v.score == 0.0, (v.vmaf, v.messages)


# ------------------------------------------------------------------ copies of the reference


def test_returning_the_reference_or_a_remux_of_it(ref: Path, d: Path) -> None:
    refused(compress(ref, ref, codec="h264"), "same_as_reference")
    v = compress(ref, sm.remuxed(ref, d), codec="h264")
    refused(v, "same_as_reference")
    assert "stream-identical" in " ".join(v.messages)


@pytest.mark.parametrize("kind", ["lossless", "near_lossless"])
def test_lossless_or_near_lossless_copy_is_oversized(ref: Path, d: Path, kind: str) -> None:
    out = sm.lossless(ref, d) if kind == "lossless" else sm.honest(ref, d, crf=6)
    refused(compress(ref, out), "oversized")


# ------------------------------------------------------------------ timing attacks


def test_dropped_frames(ref: Path, d: Path, honest: CompressionVerdict) -> None:
    refused(compress(ref, sm.drop_frames(ref, d, 5)), "frame_count_mismatch")
    # within the tolerance, every later frame is paired with the wrong reference frame
    no_credit(compress(ref, sm.drop_frames(ref, d, 1)))


def test_duplicated_frames(ref: Path, d: Path) -> None:
    v = compress(ref, sm.duplicate_frames(ref, d, 5))
    refused(v, "frame_count_mismatch")
    no_credit(compress(ref, sm.half_rate_doubled(ref, d)))


def test_changed_fps(ref: Path, d: Path) -> None:
    refused(compress(ref, sm.other_fps(ref, d, 30)), "fps_mismatch")


def test_lower_resolution_scaled_back_gains_nothing(ref: Path, d: Path, honest: CompressionVerdict) -> None:
    v = compress(ref, sm.down_up(ref, d, 2))
    assert v.vmaf is not None and honest.vmaf is not None and v.vmaf < honest.vmaf
    assert v.score < honest.score
    no_credit(compress(ref, sm.down_up(ref, d, 4)))


# ------------------------------------------------------------------ format attacks


def test_wrong_codec_or_container(ref: Path, d: Path) -> None:
    refused(compress(ref, sm.honest(ref, d, "h264")), "wrong_codec")
    refused(compress(ref, sm.container(ref, d, "mkv")), "wrong_container")
    refused(compress(ref, sm.container(ref, d, "mov")), "wrong_container")


@pytest.mark.parametrize("fmt", ["yuv444p", "yuv420p10le"])
def test_444_or_10_bit_when_8_bit_420_is_required(ref: Path, d: Path, fmt: str) -> None:
    v = compress(ref, sm.pix_fmt(ref, d, fmt))
    refused(v, "wrong_pix_fmt")
    assert fmt in v.messages[0]


# ------------------------------------------------------------------ metric gaming


@pytest.mark.parametrize("vf", ["unsharp=5:5:1.5", "eq=contrast=1.3"], ids=["sharpen", "contrast"])
def test_sharpening_or_contrast_is_not_rewarded_by_the_neg_model(
    ref: Path, d: Path, honest: CompressionVerdict, vf: str
) -> None:
    plain = sm.honest(ref, d)
    boosted = sm.filtered(ref, d, vf.split("=")[0], vf)
    # the attack is real: the standard model rewards the boost
    assert vmaf_full(ref, boosted, threads=1).mean > vmaf_full(ref, plain, threads=1).mean + 5
    v = compress(ref, boosted)
    assert v.vmaf_model == "vmaf_v0.6.1neg"
    assert v.vmaf is not None and honest.vmaf is not None and v.vmaf < honest.vmaf
    assert v.score <= honest.score


@pytest.mark.parametrize("vf", ["hue=s=0", "hue=s=0.4"], ids=["grayscale", "crushed_chroma"])
def test_grayscale_or_crushed_chroma(ref: Path, d: Path, honest: CompressionVerdict, vf: str) -> None:
    out = sm.filtered(ref, d, "chroma-" + vf.replace("=", ""), vf)
    assert out.stat().st_size < sm.honest(ref, d).stat().st_size  # the gain the attack is after
    v = compress(ref, out)
    assert v.vmaf is not None and v.vmaf >= THRESHOLD  # VMAF alone would have paid for it
    refused(v, "chroma_mismatch")
    assert v.chroma_saturation is not None and v.chroma_saturation < MCFG.chroma_min_saturation_ratio
    assert honest.chroma_saturation is not None and honest.chroma_saturation > 0.9


# ------------------------------------------------------------------ hostile files


def test_decompression_bomb_is_refused_before_decoding(ref: Path, bomb: Path) -> None:
    assert bomb.stat().st_size < 250_000  # two frames of 8192x8192 (~100 MB each decoded) in ~200 kB
    res = validate_output(bomb, expected_for_compression(probe(ref), "hevc", MCFG), reference=ref)
    assert res.probe is None and res.decoded_frames is None  # neither probed nor decoded
    assert "wrong_resolution" in res.reasons and "not decoded" in res.messages[0]
    refused(compress(ref, bomb), "wrong_resolution")


def test_resolution_switch_mid_stream_stops_the_decode(ref: Path, d: Path) -> None:
    v = compress(ref, sm.resolution_switch(sm.SIZE, d))
    refused(v, "decode_error")
    assert "1024x1024" in " ".join(v.messages)


def test_frame_flood_decodes_no_more_than_the_tolerance(ref: Path, d: Path) -> None:
    flood = sm.frame_flood(d, 3000)
    exp = expected_for_compression(probe(ref), "hevc", MCFG)
    res = validate_output(flood, exp, reference=ref)
    assert res.reasons == ["frame_count_mismatch"], res.messages
    # the MP4 header declares the 3000 frames: refused before anything is probed or decoded
    assert res.probe is None and res.decoded_frames is None
    assert "declared by the MP4 header" in res.messages[0]
    mkv = remux(flood, d / "flood.mkv")  # no MP4 header to read: the probe and decode pass are capped
    res = validate_output(mkv, exp, reference=ref)
    assert "frame_count_mismatch" in res.reasons and "wrong_container" in res.reasons, res.messages
    assert res.decoded_frames == exp.frame_count + exp.frame_tolerance + 1
    assert res.probe is not None and res.probe.frame_count == exp.frame_count + exp.frame_tolerance + 2


def test_garbage_truncated_and_lying_files(ref: Path, d: Path) -> None:
    good = sm.honest(ref, d)
    junk = d / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40)
    refused(compress(ref, junk), "not_a_video")
    empty = d / "empty.mp4"
    empty.write_bytes(b"")
    refused(compress(ref, empty), "empty_file")
    refused(compress(ref, sm.lying_box_sizes(good, d)), "not_a_video")
    v = compress(ref, sm.truncated(good, d))
    assert v.score == 0.0 and v.status == "invalid" and "decode_error" in v.reasons, v.messages


# ------------------------------------------------------------------ upscaling


class CountingPieApp:
    """Stands in for PIE-APP: counts the frames it is asked to score (its value is not under test)."""

    def __init__(self) -> None:
        self.frames = 0

    def score_frames(self, ref_frames: list, dist_frames: list) -> object:
        self.frames += len(ref_frames)
        return type("R", (), {"per_frame": [0.5] * len(ref_frames), "random_weights": True})()


@pytest.fixture(scope="module")
def up(d: Path) -> dict[str, Path]:
    ref, inp = sm.upscaling_pair(d)
    return {"ref": ref, "input": inp, "lanczos": sm.upscaled(inp, d, "lanczos")}


def upscale(
    up: dict[str, Path], dist: Path, metric: CountingPieApp, scoring_cfg: ScoringConfig = SCFG
) -> UpscalingVerdict:
    return evaluate_upscaling(
        up["ref"], dist, input_path=up["input"], scale=2, content_length=5, task_id="u-attack",
        secret="validator-secret", scoring_cfg=scoring_cfg, metrics_cfg=MCFG, pieapp_metric=metric,
    )  # fmt: skip


def test_upscaling_honest_lanczos_passes_the_integrity_checks(up: dict[str, Path]) -> None:
    metric = CountingPieApp()
    v = upscale(up, up["lanczos"], metric)
    assert v.ok and v.vmaf_passed and metric.frames == SCFG.pieapp_frames, v.messages
    assert v.vmaf is not None and v.vmaf_neg is not None and v.vmaf - v.vmaf_neg < 5


BOOSTS = pytest.mark.parametrize(
    "vf,flags", [("eq=contrast=1.3", "lanczos"), ("unsharp=5:5:3", "bicubic")], ids=["contrast", "sharpen"]
)
# A gate this output passes on VMAF (> 90) but fails on VMAF-NEG (the boosts measure 11-22 points
# apart): the enhancement is exactly what would carry it across.
HIGH_GATE = ScoringConfig(upscaling_vmaf_threshold=88.0)


@BOOSTS
def test_upscaling_boost_carrying_the_output_across_the_gate_is_refused(
    up: dict[str, Path], d: Path, vf: str, flags: str
) -> None:
    metric = CountingPieApp()
    v = upscale(up, sm.upscaled(up["input"], d, f"boost-{flags}", vf, flags), metric, HIGH_GATE)
    refused(v, "vmaf_enhancement_gap")
    assert v.vmaf is not None and v.vmaf > 90  # what the gate model alone would have said
    assert v.vmaf_neg is not None and v.vmaf_neg < HIGH_GATE.upscaling_vmaf_threshold
    assert metric.frames == 0  # refused before PIE-APP is spent on it


@BOOSTS
def test_upscaling_boost_gains_nothing_at_a_gate_passed_on_vmaf_neg(
    up: dict[str, Path], d: Path, vf: str, flags: str
) -> None:
    """Honest SR sharpens too: a large gap alone is not refused when VMAF-NEG also clears the gate,
    because the gate is all VMAF decides in upscaling; PIE-APP scores the rest."""
    metric = CountingPieApp()
    v = upscale(up, sm.upscaled(up["input"], d, f"boost-{flags}", vf, flags), metric)
    assert v.vmaf is not None and v.vmaf_neg is not None
    assert v.vmaf - v.vmaf_neg > MCFG.vmaf_enhancement_gap_max  # the gap is there...
    assert v.vmaf_neg >= SCFG.upscaling_vmaf_threshold  # ...but NEG alone clears the gate
    assert v.ok and "vmaf_enhancement_gap" not in v.reasons
    assert metric.frames == SCFG.pieapp_frames  # scored by PIE-APP like any honest output


def test_upscaling_grayscale_and_lower_resolution(up: dict[str, Path], d: Path) -> None:
    metric = CountingPieApp()
    refused(upscale(up, sm.upscaled(up["input"], d, "gray", "hue=s=0"), metric), "chroma_mismatch")
    w, h = sm.UP_SIZE
    honest = upscale(up, up["lanczos"], CountingPieApp())
    worse = upscale(
        up, sm.upscaled(up["input"], d, "down-up", f"scale={w // 4}:{h // 4},scale={w}:{h}"), metric
    )
    assert worse.vmaf is not None and honest.vmaf is not None and worse.vmaf < honest.vmaf - 10
    assert worse.score < honest.score and metric.frames == 0


def test_upscaling_input_returned_or_bomb(up: dict[str, Path], bomb: Path) -> None:
    refused(upscale(up, up["input"], CountingPieApp()), "wrong_resolution")
    v = upscale(up, bomb, CountingPieApp())
    refused(v, "wrong_resolution")
    assert "not decoded" in v.messages[0]
