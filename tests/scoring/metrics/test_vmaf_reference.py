"""VMAF exactness against an independent reference: both clips decoded to Y4M here, then plain libvmaf.

The reference path shares nothing with `scoring.metrics.vmaf` but the ffmpeg binary: each clip is
decoded once to raw yuv420p (every frame, in decode order, no frame-rate conversion), written as a
Y4M file with one common frame rate, and the two Y4M files go straight into `libvmaf` (no trim,
select, setpts or format filters). Frames therefore pair by number, which is the rule the scorer
implements. The project's API must give the same per-frame values within 1e-6 (the JSON log's own
precision) for vmaf_v0.6.1, vmaf_v0.6.1neg and the 4K model, in full-clip and frame-sampled mode,
including a 29.97 fps reference against a 30 fps answer (same frames, other timestamps).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scoring.media.ffmpeg import run_ffmpeg
from scoring.metrics.vmaf import harmonic_mean, vmaf_frames, vmaf_full
from tests.media_factory import make_clip, reencode

pytestmark = pytest.mark.slow

SIZE = (192, 108)
FRAMES = 36
MODELS = ("vmaf_v0.6.1", "vmaf_v0.6.1neg", "vmaf_4k_v0.6.1")
SAMPLED = (0, 7, 18, 29, FRAMES - 1)  # both clip ends and interior frames
TOL = 1e-6


def to_y4m(src: Path, dst: Path) -> Path:
    """Every decoded frame of `src` as yuv420p, wrapped in a Y4M file at 25 fps (frame number = order)."""
    w, h = SIZE
    raw = run_ffmpeg(
        ["-loglevel", "error", "-i", str(src), "-map", "0:v:0", "-fps_mode", "passthrough",
         "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"], timeout_s=120,
    ).stdout  # fmt: skip
    frame = w * h * 3 // 2
    assert len(raw) % frame == 0 and len(raw) // frame == FRAMES, (len(raw), frame)
    with open(dst, "wb") as fh:
        fh.write(f"YUV4MPEG2 W{w} H{h} F25:1 Ip A1:1 C420jpeg\n".encode())
        for k in range(FRAMES):
            fh.write(b"FRAME\n" + raw[k * frame : (k + 1) * frame])
    return dst


def plain_libvmaf(ref_y4m: Path, dist_y4m: Path, model: str, tmp: Path) -> dict[int, float]:
    """libvmaf on two Y4M files, nothing else in the filter graph: {frame: vmaf}."""
    log = tmp / f"plain-{model}.json"
    run_ffmpeg(
        ["-loglevel", "error", "-i", str(dist_y4m), "-i", str(ref_y4m),
         "-lavfi", f"[0:v][1:v]libvmaf=model=version={model}:n_threads=2:log_fmt=json:log_path={log.name}",
         "-f", "null", "-"], timeout_s=300, cwd=tmp,
    )  # fmt: skip
    frames = json.loads(log.read_text())["frames"]
    return {int(f["frameNum"]): float(f["metrics"]["vmaf"]) for f in frames}


@pytest.fixture(scope="module")
def pairs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path, Path]]:
    """name -> (reference clip, distorted clip, folder with their Y4M decodes)."""
    d = tmp_path_factory.mktemp("vmafref")
    ref = make_clip(d / "ref.mkv", SIZE, fps=25, frames=FRAMES, qp=0, pattern="mandelbrot")
    dist = reencode(ref, d / "dist.mp4", "hevc", crf=34)
    ref_2997 = make_clip(d / "ref2997.mkv", SIZE, fps=30000 / 1001, frames=FRAMES, qp=0, pattern="mandelbrot")
    # the same pictures re-timed to exactly 30 fps, then compressed: an answer at another frame rate
    dist_30 = reencode(ref_2997, d / "dist30.mp4", "h264", crf=32, vf="setpts=N/30/TB", extra=["-r", "30"])
    out = {}
    for name, (r, x) in {"25fps": (ref, dist), "29.97_vs_30": (ref_2997, dist_30)}.items():
        sub = d / name.replace(".", "_")
        sub.mkdir()
        to_y4m(r, sub / "ref.y4m")
        to_y4m(x, sub / "dist.y4m")
        out[name] = (r, x, sub)
    return out


@pytest.mark.parametrize("pair", ["25fps", "29.97_vs_30"])
@pytest.mark.parametrize("model", MODELS)
def test_full_clip_vmaf_equals_plain_libvmaf_on_y4m(pairs: dict, pair: str, model: str) -> None:
    ref, dist, folder = pairs[pair]
    truth = plain_libvmaf(folder / "ref.y4m", folder / "dist.y4m", model, folder)
    assert sorted(truth) == list(range(FRAMES))
    assert 20 < min(truth.values()) and max(truth.values()) < 100  # a real distortion, not a copy
    got = vmaf_full(ref, dist, model=model)
    assert sorted(got.per_frame) == sorted(truth)
    for i, v in truth.items():
        assert got.per_frame[i] == pytest.approx(v, abs=TOL), (model, pair, i)
    assert got.harmonic_mean == pytest.approx(harmonic_mean(list(truth.values())), abs=TOL)


@pytest.mark.parametrize("pair", ["25fps", "29.97_vs_30"])
@pytest.mark.parametrize("model", MODELS)
def test_sampled_vmaf_equals_plain_libvmaf_at_the_sampled_frames(pairs: dict, pair: str, model: str) -> None:
    ref, dist, folder = pairs[pair]
    truth = plain_libvmaf(folder / "ref.y4m", folder / "dist.y4m", model, folder)
    got = vmaf_frames(ref, dist, SAMPLED, model=model)
    assert sorted(got.per_frame) == sorted(SAMPLED)
    for i in SAMPLED:
        assert got.per_frame[i] == pytest.approx(truth[i], abs=TOL), (model, pair, i)


def test_the_reference_path_sees_the_frame_rates_differ(pairs: dict) -> None:
    """The 29.97-vs-30 pair really has two frame rates (else that case would prove nothing)."""
    from scoring.media.probe import probe

    ref, dist, _ = pairs["29.97_vs_30"]
    assert probe(ref).avg_fps == pytest.approx(30000 / 1001, rel=1e-4)
    assert probe(dist).avg_fps == pytest.approx(30.0, rel=1e-4)
