"""Compression engines on generated clips: validator-side VMAF, output format, deadline, cleanup."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from scoring.media.probe import probe
from scoring.metrics.vmaf import vmaf_full
from services.compression import (
    CompressionFailed,
    CompressionSettings,
    DeadlineExceeded,
    FixedCrfEngine,
    SearchingEngine,
    build_compression_engine,
)
from services.compression.engine import CompressionEngine
from tests.media_factory import make_clip

FAST = {"av1": "12", "hevc": "ultrafast", "h264": "veryfast"}


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """1.5 s of noisy testsrc2, 160x90 @ 24 fps, high-quality (not lossless) x264: room to compress."""
    d = tmp_path_factory.mktemp("compression_src")
    return make_clip(
        d / "source.mp4", size=(160, 90), fps=24, frames=36, codec="h264", crf=14,
        pattern="testsrc2", vf="noise=alls=6:allf=t",
    )  # fmt: skip


def fast_settings(work: Path, **kw) -> CompressionSettings:
    return CompressionSettings(presets=FAST, threads=2, work_dir=work, **kw)


def assert_valid_output(out: Path, src: Path, codec: str) -> None:
    """The validator's §6.4 checks that the engine is responsible for."""
    ref, got = probe(src), probe(out)
    assert got.is_mp4
    assert got.codec == codec, got.codec
    assert (got.width, got.height) == (ref.width, ref.height)
    assert got.pix_fmt == "yuv420p"
    assert got.sar == "1:1"
    assert abs(got.avg_fps - ref.avg_fps) < 0.3
    assert got.frame_count == ref.frame_count
    assert got.size_bytes < ref.size_bytes
    import av

    with av.open(str(out)) as c:
        assert len(c.streams.audio) == 0


@pytest.mark.slow
@pytest.mark.parametrize(
    "codec,threshold,objective",
    [(c, t, "paid") for c in ("av1", "hevc") for t in (85.0, 89.0, 93.0)] + [("av1", 89.0, "single_round")],
)
def test_search_meets_threshold_validator_side_and_shrinks(
    source: Path, tmp_path: Path, codec: str, threshold: float, objective: str
) -> None:
    work = tmp_path / "work"
    out = tmp_path / "out.mp4"
    engine = SearchingEngine(fast_settings(work, objective=objective))
    messages: list[str] = []
    outcome = engine.compress(source, out, codec=codec, vmaf_threshold=threshold, progress=messages.append)

    assert_valid_output(out, source, codec)
    # the strictest reading of what the validator does: harmonic mean over every frame, NEG model
    check = vmaf_full(source, out, model="vmaf_v0.6.1neg", threads=2)
    assert len(check.per_frame) == 36
    assert check.harmonic_mean >= threshold, (check.harmonic_mean, outcome)
    assert outcome.verified and outcome.vmaf is not None
    assert outcome.vmaf <= check.harmonic_mean + 1e-6  # the engine's reading is the conservative one
    assert outcome.size_bytes == out.stat().st_size < outcome.input_size_bytes
    budget = engine.settings.paid_max_probes if objective == "paid" else engine.settings.max_probes
    assert 1 <= len(outcome.probes) <= budget
    assert outcome.crf in {p.crf for p in outcome.probes}
    assert messages and any("search" in m for m in messages)
    assert list(work.iterdir()) == [], "temporary files left behind"


@pytest.mark.slow
def test_higher_threshold_never_gives_a_smaller_file(source: Path, tmp_path: Path) -> None:
    engine = SearchingEngine(fast_settings(tmp_path / "work"))
    sizes = []
    for thr in (80.0, 92.0):
        o = engine.compress(source, tmp_path / f"o{thr:g}.mp4", codec="h264", vmaf_threshold=thr)
        sizes.append((o.crf, o.size_bytes))
    assert sizes[0][0] > sizes[1][0] and sizes[0][1] < sizes[1][1]


@pytest.mark.slow
def test_sampled_probing_then_verified_final_encode(source: Path, tmp_path: Path) -> None:
    # 2 samples of 0.25 s from a 2 s clip: probes run on a lossless cut, the final file is re-encoded
    settings = fast_settings(tmp_path / "work", sample_seconds=0.25, n_samples=2, full_clip_fraction=0.9)
    out = tmp_path / "out.mp4"
    outcome = SearchingEngine(settings).compress(source, out, codec="av1", vmaf_threshold=89.0)
    assert_valid_output(out, source, "av1")
    assert outcome.verified
    assert vmaf_full(source, out, model="vmaf_v0.6.1neg").harmonic_mean >= 89.0
    assert list((tmp_path / "work").iterdir()) == []


@pytest.mark.slow
def test_fixed_engine_uses_the_tier_crf(source: Path, tmp_path: Path) -> None:
    settings = fast_settings(tmp_path / "work")
    engine = build_compression_engine("fixed", settings)
    assert isinstance(engine, FixedCrfEngine) and isinstance(engine, CompressionEngine)
    out = tmp_path / "lazy.mp4"
    outcome = engine.compress(source, out, codec="hevc", vmaf_threshold=88.0)
    assert outcome.crf == settings.fixed_crf[89]["hevc"]
    assert outcome.probes == [] and outcome.vmaf is None and not outcome.verified
    assert_valid_output(out, source, "hevc")
    assert list((tmp_path / "work").iterdir()) == []


def test_unmeetable_deadline_raises_in_time_and_leaves_nothing(tmp_path: Path) -> None:
    big = make_clip(
        tmp_path / "big.mp4", size=(320, 180), fps=24, frames=72, codec="h264", crf=12,
        pattern="mandelbrot", vf="noise=alls=8:allf=t",
    )  # fmt: skip
    work = tmp_path / "work"
    out = tmp_path / "out.mp4"
    settings = CompressionSettings(presets={"hevc": "veryslow"}, threads=1, work_dir=work)
    engine = SearchingEngine(settings)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        engine.compress(big, out, codec="hevc", vmaf_threshold=89.0, deadline=started + 0.5)
    assert time.monotonic() - started < 60  # generous: a hang, not a busy machine (veryslow on the whole clip takes minutes)
    assert not out.exists()
    assert list(work.iterdir()) == []
    assert not list(tmp_path.glob(".*partial"))
    # a deadline already in the past fails before any work
    with pytest.raises(DeadlineExceeded):
        engine.compress(big, out, codec="hevc", vmaf_threshold=89.0, deadline=time.monotonic() - 1)
    assert list(work.iterdir()) == []


def test_bad_tasks_fail_with_a_reason(tmp_path: Path) -> None:
    engine = SearchingEngine(fast_settings(tmp_path / "work"))
    missing = tmp_path / "missing.mp4"
    with pytest.raises(CompressionFailed, match="not a usable video"):
        engine.compress(missing, tmp_path / "o.mp4", codec="av1", vmaf_threshold=89.0)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(CompressionFailed, match="not a usable video"):
        engine.compress(junk, tmp_path / "o.mp4", codec="av1", vmaf_threshold=89.0)
    with pytest.raises(CompressionFailed, match="unsupported codec"):
        engine.compress(junk, tmp_path / "o.mp4", codec="vp9", vmaf_threshold=89.0)
    with pytest.raises(CompressionFailed, match="threshold"):
        engine.compress(junk, tmp_path / "o.mp4", codec="av1", vmaf_threshold=100.0)
    assert not (tmp_path / "o.mp4").exists()
    with pytest.raises(ValueError, match="unknown compression engine"):
        build_compression_engine("magic")


def test_deadline_near_falls_back_to_the_conservative_crf(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After a first failing probe the clock says "no time for more": conservative CRF, unverified."""
    from services.compression.errors import Deadline

    monkeypatch.setattr(Deadline, "allows", lambda self, seconds: False)
    settings = fast_settings(
        tmp_path / "work",
        objective="single_round",
        fixed_crf={89: {"av1": 62, "hevc": 50, "h264": 50}},  # a first probe that surely fails
        conservative_crf={"av1": 24, "hevc": 18, "h264": 18},
    )
    out = tmp_path / "out.mp4"
    outcome = SearchingEngine(settings).compress(source, out, codec="av1", vmaf_threshold=89.0)
    assert [p.crf for p in outcome.probes] == [62]
    assert outcome.fell_back and not outcome.verified
    assert outcome.crf <= 24
    assert_valid_output(out, source, "av1")
    assert vmaf_full(source, out, model="vmaf_v0.6.1neg").harmonic_mean >= 89.0
    assert list((tmp_path / "work").iterdir()) == []


@pytest.mark.slow
def test_paid_objective_deadline_falls_back_below_a_failing_first_probe(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.compression.errors import Deadline

    monkeypatch.setattr(Deadline, "allows", lambda self, seconds: False)
    settings = fast_settings(tmp_path / "work", fixed_crf={89: {"av1": 63, "hevc": 51, "h264": 51}},
                             conservative_crf={"av1": 24, "hevc": 18, "h264": 18})  # fmt: skip
    out = tmp_path / "out.mp4"
    outcome = SearchingEngine(settings).compress(source, out, codec="av1", vmaf_threshold=89.0)
    assert len(outcome.probes) == 1 and outcome.probes[0].crf > 24
    assert outcome.fell_back and not outcome.verified and outcome.crf <= 24
    assert_valid_output(out, source, "av1")
    assert vmaf_full(source, out, model="vmaf_v0.6.1neg").harmonic_mean >= 89.0
    assert list((tmp_path / "work").iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("threshold", [85.0, 93.0])
def test_paid_objective_answers_the_best_probe_by_the_validators_rules(
    source: Path, tmp_path: Path, threshold: float
) -> None:
    """Real encodes: the engine answers the probe with the best paid figure (re-measured here from
    scratch for every CRF it probed), and its answer is that probe's file."""
    from scoring.config import ScoringConfig
    from services.compression.encoder import encode
    from services.compression.errors import Deadline
    from services.compression.objective import estimate_paid

    settings = fast_settings(tmp_path / "work")
    out = tmp_path / "out.mp4"
    outcome = SearchingEngine(settings).compress(source, out, codec="av1", vmaf_threshold=threshold)
    assert len(outcome.probes) >= 2
    cfg, values = ScoringConfig(), {}
    for p in outcome.probes:
        enc = tmp_path / f"check{p.crf}.mp4"
        encode(source, enc, "av1", p.crf, preset=settings.preset("av1"), threads=2, deadline=Deadline(None),
               **settings.encoder_options("av1"))  # fmt: skip
        r = vmaf_full(source, enc, model="vmaf_v0.6.1neg", threads=2)
        assert enc.stat().st_size == p.size_bytes  # deterministic encodes: the same file the engine measured
        per_frame = [r.per_frame[i] for i in sorted(r.per_frame)]
        ok = r.harmonic_mean >= threshold and p.size_bytes < outcome.input_size_bytes
        values[p.crf] = estimate_paid(per_frame, p.size_bytes, outcome.input_size_bytes, threshold, cfg,
                                      draws=settings.paid_draws).paid if ok else -1.0  # fmt: skip
    assert values[outcome.crf] == max(values.values()), values
    assert not outcome.fell_back  # answered the probe itself: no step down on a stricter reading
    assert outcome.size_bytes == out.stat().st_size
