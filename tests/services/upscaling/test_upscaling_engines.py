"""Both engines, x2 and x4, on a generated clip: the output passes docs/scoring.md#output-validation (scoring.validation)."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from scoring.media.ffmpeg import ffmpeg_exe
from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from scoring.validation import expected_for_upscaling, validate_output
from services.upscaling import UpscaleError, UpscaleSettings, build_engine
from services.upscaling.encode import enforce_size_cap
from tests.media_factory import make_clip


def _check_output(src: Path, out: Path, scale: int, codec: str = "hevc") -> None:
    inp, got = probe(src), probe(out)
    assert got.is_mp4
    assert (got.width, got.height) == (inp.width * scale, inp.height * scale)
    assert got.pix_fmt == "yuv420p"
    assert got.sar == "1:1"
    assert got.frame_count == inp.frame_count
    assert got.avg_fps == pytest.approx(inp.avg_fps, abs=1e-6)
    assert got.codec == codec
    result = validate_output(out, expected_for_upscaling(inp, scale, MetricsConfig()), reference=src)
    assert result.ok, result.messages
    assert result.decoded_frames == inp.frame_count


def _colour_tags(path: Path) -> tuple[int, int, int, int]:
    with av.open(str(path)) as c:
        cc = c.streams.video[0].codec_context
        return (int(cc.colorspace), int(cc.color_primaries), int(cc.color_trc), int(cc.color_range))


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("engine", ["lanczos", "model"])
def test_engine_output_passes_validation(
    engine: str, scale: int, small_clip: Path, tiny_weights: Path, tmp_path: Path
) -> None:
    """Format plumbing; the model engine runs a tiny random-init net here (real weights: below)."""
    settings = UpscaleSettings(
        engine=engine,
        weights_path=tiny_weights,
        device="cpu",
        tile=32,
        batch=3,
        preset="ultrafast",
        threads=1,
    )
    eng = build_engine(settings)
    assert eng.name == engine
    seen: list[tuple[int, int]] = []
    out = tmp_path / "out" / "up.mp4"
    outcome = eng.upscale(
        small_clip,
        out,
        scale=scale,
        target=(64 * scale, 36 * scale),
        progress=lambda d, t: seen.append((d, t)),
    )
    _check_output(small_clip, out, scale)
    assert outcome.output_path == out and outcome.frames == 8 and outcome.size_bytes == out.stat().st_size
    assert (outcome.width, outcome.height) == (64 * scale, 36 * scale)
    assert seen and seen[-1] == (8, 8)
    # colour properties of the input (BT.709 matrix, limited range) are carried over
    assert _colour_tags(out) == _colour_tags(small_clip)
    assert _colour_tags(out)[0] == 1 and _colour_tags(out)[3] == 1
    assert sorted(p.name for p in out.parent.iterdir()) == ["up.mp4"]  # no temp files left


@pytest.mark.parametrize("codec", ["av1", "h264"])
def test_lanczos_other_codecs(codec: str, small_clip: Path, tmp_path: Path) -> None:
    preset = "12" if codec == "av1" else "ultrafast"
    eng = build_engine(UpscaleSettings(engine="lanczos", codec=codec, preset=preset))
    out = tmp_path / "up.mp4"
    eng.upscale(small_clip, out, scale=2, target=(128, 72))
    _check_output(small_clip, out, 2, codec=codec)


def test_size_cap_forces_higher_crf(tmp_path: Path) -> None:
    """A heavily compressed input leaves little room: the output still lands under the cap."""
    src = make_clip(tmp_path / "tiny.mp4", size=(96, 54), frames=12, pattern="mandelbrot", crf=40)
    eng = build_engine(UpscaleSettings(engine="lanczos", crf=0, preset="ultrafast", max_size_ratio_x2=3.0))
    out = tmp_path / "out" / "up.mp4"
    outcome = eng.upscale(src, out, scale=2, target=(192, 108))
    assert out.stat().st_size <= 3.0 * src.stat().st_size
    assert probe(out).frame_count == 12
    assert sorted(p.name for p in out.parent.iterdir()) == ["up.mp4"]
    # without the cap, the same CRF-0 encode is well over it: the cap did the work
    free = build_engine(UpscaleSettings(engine="lanczos", crf=0, preset="ultrafast", max_size_ratio_x2=1000))
    big = free.upscale(src, tmp_path / "big.mp4", scale=2, target=(192, 108))
    assert big.size_bytes > 3.0 * src.stat().st_size > outcome.size_bytes

    # the fallback: a finished file over its cap is re-encoded (from itself) at a higher CRF
    cap = big.size_bytes // 2
    crf, reencoded = enforce_size_cap(
        ffmpeg_exe(), tmp_path / "big.mp4", cap_bytes=cap, codec="hevc", crf=0, preset="ultrafast",
        threads=0, colour_tags=[], deadline=None,
    )  # fmt: skip
    assert reencoded and crf > 0
    assert (tmp_path / "big.mp4").stat().st_size <= cap
    assert probe(tmp_path / "big.mp4").frame_count == 12
    assert not list(tmp_path.glob("*.first.mp4"))


def test_bad_requests_fail_clearly(small_clip: Path, tmp_path: Path) -> None:
    eng = build_engine(UpscaleSettings(engine="lanczos"))
    with pytest.raises(UpscaleError, match="even"):
        eng.upscale(small_clip, tmp_path / "o.mp4", scale=2, target=(129, 72))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all")
    with pytest.raises(UpscaleError, match="cannot read input"):
        eng.upscale(junk, tmp_path / "o.mp4", scale=2, target=(128, 72))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.mp4"]
