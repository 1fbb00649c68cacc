"""Settings validation, tier lookup, encoder command lines and probe-sample planning (no encoding)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.compression.encoder import codec_args, encode_args
from services.compression.probing import plan_samples
from services.compression.settings import CompressionSettings


def test_defaults_follow_the_issue() -> None:
    s = CompressionSettings()
    assert s.safety_margin == 0.0 and s.risk_quantile == 0.05 and s.max_probes == 6  # tuned (benchmark)
    assert s.vmaf_model == "vmaf_v0.6.1neg"
    assert set(s.fixed_crf) == {85, 89, 93}
    for codec in ("av1", "hevc", "h264"):
        lo, hi = s.crf_range(codec)
        assert lo < s.fixed_crf[93][codec] < s.fixed_crf[89][codec] < s.fixed_crf[85][codec] <= hi
        assert lo <= s.conservative_crf[codec] <= s.fixed_crf[93][codec]


def test_tier_lookup_takes_the_next_tier_up() -> None:
    s = CompressionSettings()
    assert s.tier_crf("av1", 85) == s.fixed_crf[85]["av1"]
    assert s.tier_crf("av1", 86) == s.fixed_crf[89]["av1"]
    assert s.tier_crf("hevc", 93) == s.fixed_crf[93]["hevc"]
    assert s.tier_crf("hevc", 97) == s.fixed_crf[93]["hevc"]  # above every tier: the strictest one
    assert s.tier_crf("h264", 50) == s.fixed_crf[85]["h264"]
    with pytest.raises(ValueError, match="unsupported codec"):
        s.tier_crf("vp9", 89)


@pytest.mark.parametrize(
    "kw, reason",
    [
        ({"crf_ranges": {"av1": (40, 20)}}, "outside"),
        ({"crf_ranges": {"hevc": (0, 60)}}, "outside"),
        ({"crf_ranges": {"vp9": (0, 10)}}, "unknown codec"),
        ({"presets": {"mpeg2": "fast"}}, "unknown codec"),
        ({"fixed_crf": {89: {"hevc": 70}}}, "invalid"),
        ({"fixed_crf": {}}, "at least one"),
        ({"safety_margin": -1}, "greater than or equal"),
        ({"max_probes": 0}, "greater than or equal"),
        ({"typo_field": 1}, "Extra inputs"),
    ],
)
def test_bad_settings_are_rejected_with_a_reason(kw: dict, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        CompressionSettings(**kw)


def test_encoder_command_lines() -> None:
    from pathlib import Path

    av1 = codec_args("av1", 35, preset="8", threads=2)
    assert av1[:2] == ["-c:v", "libsvtav1"] and "35" in av1 and "lp=2" in av1
    hevc = codec_args("hevc", 28, preset="medium", threads=4)
    assert hevc[:2] == ["-c:v", "libx265"] and "hvc1" in hevc
    assert codec_args("h264", 23, preset="fast", threads=1)[:2] == ["-c:v", "libx264"]
    args = encode_args(Path("in.mkv"), Path("out.mp4"), "av1", 30, preset="8", threads=2)
    for flag in ("-an", "-sn", "-dn", "+faststart", "setsar=1", "yuv420p", "passthrough"):
        assert flag in args
    assert args[-1] == "out.mp4" and args[args.index("-map") + 1] == "0:v:0"
    with pytest.raises(ValueError, match="outside"):
        codec_args("hevc", 60, preset="fast", threads=1)
    with pytest.raises(ValueError, match="unsupported codec"):
        codec_args("vp9", 30, preset="fast", threads=1)


def test_plan_samples() -> None:
    # a 5 s clip with 3 x 2 s samples: whole clip
    assert plan_samples(125, 25.0, n_samples=3, sample_seconds=2.0, full_clip_fraction=0.6) is None
    # a 60 s clip: 3 evenly spread 2 s windows, inside the clip, non-overlapping
    ranges = plan_samples(1500, 25.0, n_samples=3, sample_seconds=2.0, full_clip_fraction=0.6)
    assert ranges is not None and len(ranges) == 3
    assert all(b - a + 1 == 50 for a, b in ranges)
    assert ranges[0][0] > 0 and ranges[-1][1] < 1499
    assert all(ranges[i][1] < ranges[i + 1][0] for i in range(2))
    # unknown fps falls back to 25 fps: 25-frame windows centred in each half
    assert plan_samples(1000, 0.0, n_samples=2, sample_seconds=1.0, full_clip_fraction=0.5) == [
        (244, 268),
        (731, 755),
    ]
    with pytest.raises(ValueError, match="no frames"):
        plan_samples(0, 25.0, n_samples=3, sample_seconds=2.0, full_clip_fraction=0.6)


def test_encoder_options_reach_the_command_line() -> None:
    av1 = codec_args("av1", 30, preset="6", threads=2, params="tune=0", gop=999)
    assert av1[av1.index("-g") + 1] == "999"
    assert av1[av1.index("-svtav1-params") + 1] == "lp=2:tune=0"
    hevc = codec_args("hevc", 28, preset="medium", threads=2, params="aq-mode=3")
    assert hevc[hevc.index("-x265-params") + 1].endswith(":aq-mode=3") and "-g" not in hevc
    with pytest.raises(ValueError, match="without spaces"):
        codec_args("av1", 30, preset="6", threads=2, params="tune=0 ; rm")
    s = CompressionSettings()
    assert s.encoder_options("av1")["gop"] == 999 and s.objective == "paid"
    with pytest.raises(ValueError, match="must not contain spaces"):
        CompressionSettings(encoder_params={"av1": "a b"})
    with pytest.raises(ValueError, match="gop"):
        CompressionSettings(gop={"av1": 0})
    with pytest.raises(ValueError, match="objective"):
        CompressionSettings(objective="best")
