"""PIE-APP metric: weights loading, missing-weights policy, chunked == library forward, bounded memory.

No real PieAPP weights exist offline, so every test saves random-initialised weights itself
(`save_random_weights`) at the configured path or in the `$TORCH_HOME` cache.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from loguru import logger

import scoring.metrics.pieapp as pieapp_module
import scoring.metrics.pieapp_backends as pieapp_backends
from scoring.media.ffmpeg import ffmpeg_exe
from scoring.metrics.config import MetricsConfig
from scoring.metrics.pieapp import (
    PieAppMetric,
    PieAppResult,
    PieAppWeightsInvalid,
    PieAppWeightsMissing,
    clear_metric_cache,
    default_weights_path,
    frame_to_tensor,
    get_metric,
    save_random_weights,
)
from scoring.metrics.pieapp_backends import PieAppBackend, build_backend, iter_patch_chunks, patch_grid

REPO = Path(__file__).resolve().parents[3]


def lavfi_frame(width: int, height: int, extra: str = "") -> np.ndarray:
    """One RGB24 frame of ffmpeg's testsrc2 (optionally filtered), as HxWx3 uint8."""
    src = f"testsrc2=size={width}x{height}:rate=1:duration=1{extra}"
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", src,
         "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
        check=True, capture_output=True, timeout=60,
    ).stdout  # fmt: skip
    return np.frombuffer(out, dtype=np.uint8).reshape(height, width, 3).copy()


@pytest.fixture(scope="module")
def pyiqa_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_random_weights(
        tmp_path_factory.mktemp("pieapp") / "pieapp_pyiqa.pth", backend="pyiqa", seed=0
    )


@pytest.fixture(scope="module")
def frames() -> tuple[np.ndarray, np.ndarray]:
    ref = lavfi_frame(120, 96)  # 2x3 = 6 patches: small enough to run the library forward too
    dist = lavfi_frame(120, 96, ",gblur=sigma=3,noise=alls=30:allf=t")
    assert not np.array_equal(ref, dist)
    return ref, dist


@pytest.fixture(scope="module")
def pyiqa_backend(pyiqa_weights: Path) -> PieAppBackend:
    return build_backend("pyiqa", weights_path=pyiqa_weights, chunk_size=5, device="cpu")


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_metric_cache()
    yield
    clear_metric_cache()


def cfg(**kw: object) -> MetricsConfig:
    return MetricsConfig(pieapp_device="cpu", **kw)


def test_patch_chunks_match_unfold_order() -> None:
    x = torch.rand(1, 3, 100, 131)
    rows, cols = patch_grid(100, 131)
    assert (rows, cols) == (2, 3)  # (100-64)//27+1, (131-64)//27+1
    ours = torch.cat(list(iter_patch_chunks(x, chunk_size=4)))
    ref = F.unfold(x, 64, stride=27).transpose(1, 2).reshape(rows * cols, 3, 64, 64)
    assert torch.equal(ours, ref)
    with pytest.raises(ValueError, match="smaller than the 64x64"):
        patch_grid(63, 200)


def test_chunked_matches_pyiqa_one_batch(pyiqa_backend: PieAppBackend, frames) -> None:
    """Our chunked Σ(w·s)/Σw equals pyiqa's own single-batch forward (its `PieAPP.forward`)."""
    ref, dist = (frame_to_tensor(f) for f in frames)
    with torch.inference_mode():
        library = float(pyiqa_backend.net(dist, ref))
    for chunk in (4, 10_000):  # uneven chunks (4 + 2) and one batch
        pyiqa_backend.chunk_size = chunk
        assert pyiqa_backend.score_pair(ref, dist) == pytest.approx(library, abs=1e-4)
    pyiqa_backend.chunk_size = 5


def test_identical_frames_score_below_distorted(pyiqa_weights: Path, frames) -> None:
    """Random PieAPP weights give a near-constant value (≈ the affine head's bias), so with raw
    weights "identical < distorted" would only test luck. We zero the three biases of the score
    branch (fc1_score, fc2_score, ref_score_subtract): then a patch's score is a linear function
    of relu(fc1(ref_features - dist_features)), exactly 0 when the frames are identical and non-zero
    when they differ, so |d| — what docs/scoring.md#metrics averages — checks that the difference branch
    carries the distortion through the chunked pipeline, for any seed."""
    backend = build_backend("pyiqa", weights_path=pyiqa_weights, chunk_size=4, device="cpu")
    net = backend.net
    for bias in (net.fc1_score.bias, net.fc2_score.bias, net.ref_score_subtract.bias):
        bias.zero_()
    metric = PieAppMetric(backend)
    ref, dist = frames
    res = metric.score_frames([ref, ref], [ref, dist])
    identical, distorted = (abs(d) for d in res.per_frame)
    assert identical == 0.0
    assert distorted > 1e-6
    assert identical < distorted
    assert res.raw_mean == pytest.approx((identical + distorted) / 2)


def test_configured_path_and_torch_home_cache_load_same_weights(
    pyiqa_weights: Path, pyiqa_backend: PieAppBackend, frames, tmp_path: Path, monkeypatch
) -> None:
    ref, dist = frames
    expected = pyiqa_backend.score_pair(frame_to_tensor(ref), frame_to_tensor(dist))

    configured = get_metric(cfg(pieapp_weights_path=pyiqa_weights, pieapp_chunk_size=5))
    assert get_metric(cfg(pieapp_weights_path=pyiqa_weights, pieapp_chunk_size=5)) is configured
    res = configured.score_frames([ref], [dist])
    assert isinstance(res, PieAppResult)
    assert (res.backend, res.device, res.random_weights) == ("pyiqa", "cpu", False)
    assert res.per_frame == [pytest.approx(expected, abs=1e-6)]
    assert res.raw_mean == pytest.approx(abs(expected), abs=1e-6)

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cache = default_weights_path("pyiqa")
    assert cache == tmp_path / "torch" / "hub" / "pyiqa" / "PieAPPv0.1-0937b014.pth"
    cache.parent.mkdir(parents=True)
    cache.symlink_to(pyiqa_weights)
    cached = get_metric(cfg(pieapp_chunk_size=5))
    assert cached is not configured  # settings changed → replaced
    assert cached.backend.weights_file == cache
    assert cached.score_frames([ref], [dist]).per_frame == [pytest.approx(expected, abs=1e-6)]


def test_missing_weights_raise_clear_error(tmp_path: Path, monkeypatch) -> None:
    missing = tmp_path / "nowhere" / "pieapp.pth"
    with pytest.raises(PieAppWeightsMissing) as err:
        PieAppMetric.from_config(cfg(pieapp_weights_path=missing))
    msg = str(err.value)
    assert str(missing) in msg
    assert "VIDAIO_METRICS__PIEAPP_WEIGHTS_PATH" in msg
    assert "ALLOW_RANDOM_WEIGHTS" in msg
    assert not missing.parent.exists()

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(PieAppWeightsMissing, match="PieAPPv0.1-0937b014.pth"):
        build_backend("pyiqa", device="cpu", allow_download=False)
    with pytest.raises(PieAppWeightsMissing, match=r"hub/checkpoints/PieAPPv0\.1\.pth"):
        build_backend("piq", device="cpu", allow_download=False)


def test_failed_download_names_the_cause_and_leaves_nothing(tmp_path: Path, monkeypatch) -> None:
    """The library download is attempted when no file is cached; offline it fails (simulated here
    so the test never downloads 273 MB where there is internet)."""

    def offline(backend: str, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(pieapp_backends, "_download", offline)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(
        PieAppWeightsMissing, match="download failed.*URLError.*VIDAIO_METRICS__PIEAPP_WEIGHTS_PATH"
    ):
        PieAppMetric.from_config(cfg())
    assert not (tmp_path / "torch").exists()


def test_invalid_weights_file_is_rejected(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(PieAppWeightsInvalid, match="cannot read"):
        build_backend("pyiqa", weights_path=junk, device="cpu")
    partial = tmp_path / "partial.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 3, 3)}, partial)
    with pytest.raises(PieAppWeightsInvalid, match="do not fit"):
        build_backend("pyiqa", weights_path=partial, device="cpu")


def test_random_weights_flag_labels_results_and_warns_once(frames, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(pieapp_module, "_random_warned", False)
    messages: list[str] = []
    sink = logger.add(lambda m: messages.append(str(m)), level="WARNING")
    try:
        conf = cfg(pieapp_weights_path=tmp_path / "absent.pth", allow_random_weights=True)
        metric = get_metric(conf)
        ref, dist = frames
        res = metric.score_frames([ref], [dist])
        PieAppMetric(metric.backend)  # a second instance must not warn again
    finally:
        logger.remove(sink)
    assert res.random_weights is True
    assert math.isfinite(res.raw_mean) and res.raw_mean == pytest.approx(abs(res.per_frame[0]))
    assert sum("RANDOM weights" in m for m in messages) == 1
    assert metric.backend.weights_file is None


def test_bad_frames_are_rejected(pyiqa_backend: PieAppBackend, frames) -> None:
    metric = PieAppMetric(pyiqa_backend)
    ref, dist = frames
    with pytest.raises(ValueError, match="as many reference"):
        metric.score_frames([ref, ref], [dist])
    with pytest.raises(ValueError, match="at least one"):
        metric.score_frames([], [])
    with pytest.raises(ValueError, match="sizes differ"):
        metric.score_frames([ref], [dist[:80]])
    with pytest.raises(ValueError, match="uint8"):
        metric.score_frames([ref.astype(np.float32)], [dist.astype(np.float32)])
    with pytest.raises(ValueError, match="smaller than"):
        metric.score_frames([ref[:40]], [dist[:40]])
    with pytest.raises(ValueError, match=r"in \[0,1\]"):
        pyiqa_backend.score_pair(frame_to_tensor(ref) * 2, frame_to_tensor(dist))


def test_piq_backend_matches_piq_library(frames, tmp_path: Path, monkeypatch) -> None:
    """The piq file (its own format) loads from the cache path, and our chunked score equals
    `piq.PieAPP()` — which loads that same cached file itself — within 1e-4."""
    import piq

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    path = save_random_weights(default_weights_path("piq"), backend="piq", seed=1)
    assert torch.load(path, weights_only=True)["ref_score_subtract.weight"].shape == (1,)
    metric = PieAppMetric.from_config(cfg(pieapp_backend="piq", pieapp_chunk_size=3))
    ref, dist = frames
    res = metric.score_frames([ref], [dist])
    assert (res.backend, res.random_weights) == ("piq", False)
    with torch.inference_mode():
        library = float(piq.PieAPP(stride=27)(frame_to_tensor(dist), frame_to_tensor(ref)))
    assert res.per_frame[0] == pytest.approx(library, abs=1e-4)


MEMORY_SCRIPT = textwrap.dedent(
    """
    import json, resource, sys, torch
    from scoring.metrics.pieapp_backends import build_backend

    def status_mb(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
        raise RuntimeError(field)

    def reset_peak():  # Linux >= 4.0: "5" resets VmHWM to the current RSS
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
            return True
        except OSError:
            return False

    def growth(fn):
        before = status_mb("VmRSS")
        exact = reset_peak()
        value = fn()
        peak = status_mb("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return value, peak - before

    size, weights = int(sys.argv[1]), sys.argv[2]
    b = build_backend("pyiqa", weights_path=weights, allow_download=False, device="cpu", chunk_size=8)
    g = torch.Generator().manual_seed(0)
    ref = torch.rand(1, 3, size, size, generator=g)
    dist = (ref + 0.1 * torch.randn(1, 3, size, size, generator=g)).clamp(0, 1)
    b.score_pair(ref[..., :64, :64], dist[..., :64, :64])  # warm-up: allocator, kernels
    chunked, chunk_mb = growth(lambda: b.score_pair(ref, dist))
    b.chunk_size = 10**6
    one_batch, batch_mb = growth(lambda: b.score_pair(ref, dist))
    print(json.dumps(dict(chunk_mb=chunk_mb, batch_mb=batch_mb, values=[chunked, one_batch])))
    """
)


@pytest.mark.slow
def test_chunking_bounds_peak_memory(pyiqa_weights: Path) -> None:
    """Peak RSS growth (VmHWM after a reset, in a fresh process) with 8-patch chunks stays far below
    the growth with all 64 patches of a 256x256 frame in one batch; both give the same score."""
    out = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT, "256", str(pyiqa_weights)], cwd=REPO, check=True,
        capture_output=True, text=True, timeout=300,
    ).stdout  # fmt: skip
    m = json.loads(out.strip().splitlines()[-1])
    assert m["values"][0] == pytest.approx(m["values"][1], abs=1e-4)
    assert m["batch_mb"] > 100, m  # one batch of 64 patches needs hundreds of MB of activations
    assert m["chunk_mb"] < m["batch_mb"] / 3, m
