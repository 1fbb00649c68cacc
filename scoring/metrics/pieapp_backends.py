"""PIE-APP backends (docs/scoring.md#metrics): pyiqa (default) and piq (Apache-2.0 alternative).

Both run the same PieAPP network (64x64 patches, stride 27, per-patch score and weight heads,
score = Σ(w·s)/Σw) but each with its own weights file and input convention:

- pyiqa: RGB [0,1] → BGR ×255, weights `$TORCH_HOME/hub/pyiqa/PieAPPv0.1-0937b014.pth`.
- piq: RGB [0,1] → RGB ×255, weights `$TORCH_HOME/hub/checkpoints/PieAPPv0.1.pth`
  (its `ref_score_subtract.weight` is stored with shape (1,), piq unsqueezes it on load).

The two files share key names but are not interchangeable (different channel order); pick one
backend and its file. Patches are run in chunks of `chunk_size` so memory stays flat at 4K; the
library classes are used for the network itself (no vendored code: pyiqa is non-commercial).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import torch
import torch.nn.functional as F
from loguru import logger
from torch import nn

PATCH_SIZE = 64
PATCH_STRIDE = 27
WEIGHT_EPS = 1e-6
RANDOM_INIT_SEED = 0

PYIQA_WEIGHTS_NAME = "PieAPPv0.1-0937b014.pth"
PYIQA_WEIGHTS_URL = f"https://huggingface.co/chaofengc/IQA-PyTorch-Weights/resolve/main/{PYIQA_WEIGHTS_NAME}"
PIQ_WEIGHTS_NAME = "PieAPPv0.1.pth"
PIQ_WEIGHTS_URL = f"https://github.com/photosynthesis-team/piq/releases/download/v0.5.4/{PIQ_WEIGHTS_NAME}"

BackendName = Literal["pyiqa", "piq"]
BACKENDS: tuple[str, ...] = ("pyiqa", "piq")


class PieAppWeightsError(RuntimeError):
    """PIE-APP weights cannot be used (missing or invalid)."""


class PieAppWeightsMissing(PieAppWeightsError):
    """No PIE-APP weights file was found or could be downloaded, and random weights were not allowed."""


class PieAppWeightsInvalid(PieAppWeightsError):
    """A PIE-APP weights file exists but is not a state dict for the backend's network."""


@runtime_checkable
class PieAppBackend(Protocol):
    """One loaded PIE-APP network. `score_pair` returns the signed raw PieAPP value (lower = better)."""

    name: str
    device: str
    random_weights: bool

    def score_pair(self, ref: torch.Tensor, dist: torch.Tensor) -> float: ...


# --------------------------------------------------------------------------------------------
# helpers


def resolve_device(spec: str) -> torch.device:
    """`auto` → CUDA when available, else CPU; an explicit accelerator that is absent is an error."""
    value = spec.strip().lower()
    if value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if value.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"PIE-APP device {spec!r} requested but torch.cuda.is_available() is False")
        return torch.device(value)
    if value == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError("PIE-APP device 'mps' requested but torch.backends.mps.is_available() is False")
        return torch.device("mps")
    if value == "cpu":
        return torch.device("cpu")
    raise ValueError(f"unknown PIE-APP device {spec!r} (expected auto, cpu, cuda, cuda:N or mps)")


def default_weights_path(backend: str) -> Path:
    """Where the backend's own loader caches its weights (reads `$TORCH_HOME` at call time)."""
    hub = Path(torch.hub.get_dir())
    if backend == "pyiqa":
        return hub / "pyiqa" / PYIQA_WEIGHTS_NAME
    if backend == "piq":
        return hub / "checkpoints" / PIQ_WEIGHTS_NAME
    raise ValueError(f"unknown PIE-APP backend {backend!r} (expected one of {', '.join(BACKENDS)})")


def patch_grid(
    height: int, width: int, size: int = PATCH_SIZE, stride: int = PATCH_STRIDE
) -> tuple[int, int]:
    """Rows and columns of patches pyiqa/piq cut (no padding: the right/bottom remainder is unused)."""
    if height < size or width < size:
        raise ValueError(f"frame {width}x{height} is smaller than the {size}x{size} PIE-APP patch")
    return (height - size) // stride + 1, (width - size) // stride + 1


def iter_patch_chunks(
    x: torch.Tensor, chunk_size: int, size: int = PATCH_SIZE, stride: int = PATCH_STRIDE
) -> Iterator[torch.Tensor]:
    """Yield the patches of a 1xCxHxW tensor, row-major like `F.unfold`, `chunk_size` at a time.

    The unfold is a view, so only one chunk of patches is ever materialised.
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    rows, cols = patch_grid(x.shape[-2], x.shape[-1], size, stride)
    view = x[0].unfold(1, size, stride).unfold(2, size, stride)  # C x rows x cols x size x size
    total = rows * cols
    for start in range(0, total, chunk_size):
        idx = torch.arange(start, min(start + chunk_size, total), device=x.device)
        yield view[:, idx // cols, idx % cols].permute(1, 0, 2, 3).contiguous()


def check_pair(ref: torch.Tensor, dist: torch.Tensor) -> None:
    """Both 1x3xHxW float tensors in [0,1], same shape, at least one patch large."""
    for label, t in (("ref", ref), ("dist", dist)):
        if t.ndim != 4 or t.shape[0] != 1 or t.shape[1] != 3:
            raise ValueError(f"PIE-APP {label} must be a 1x3xHxW tensor, got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise ValueError(f"PIE-APP {label} must be a float tensor in [0,1], got {t.dtype}")
        lo, hi = float(t.min()), float(t.max())
        if lo < 0.0 or hi > 1.0:
            raise ValueError(f"PIE-APP {label} must be in [0,1], got values in [{lo:.4g}, {hi:.4g}]")
    if ref.shape != dist.shape:
        raise ValueError(f"PIE-APP ref and dist shapes differ: {tuple(ref.shape)} vs {tuple(dist.shape)}")
    patch_grid(ref.shape[-2], ref.shape[-1])


def missing_weights_message(backend: str, path: Path, reason: str) -> str:
    url = PYIQA_WEIGHTS_URL if backend == "pyiqa" else PIQ_WEIGHTS_URL
    return (
        f"PIE-APP weights for backend {backend!r} not available: {reason}. "
        f"Download {url} (about 273 MB) and either put it at {path} "
        f"(the {backend} cache under $TORCH_HOME) or set VIDAIO_METRICS__PIEAPP_WEIGHTS_PATH "
        f"(metrics.pieapp_weights_path) to the file. Demo/test runs only: "
        f"VIDAIO_METRICS__ALLOW_RANDOM_WEIGHTS=true scores with random weights, labelled as such."
    )


def _load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any unpickling/IO failure: unusable file
        raise PieAppWeightsInvalid(f"cannot read PIE-APP weights {path}: {exc}") from exc
    if isinstance(obj, dict):
        for key in ("params", "state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise PieAppWeightsInvalid(f"PIE-APP weights {path} is not a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in obj.items()}


def _apply_state_dict(net: nn.Module, state: dict[str, torch.Tensor], path: Path) -> None:
    expected = net.state_dict()
    state = dict(state)
    key = "ref_score_subtract.weight"  # (1,) in pyiqa and in piq's file, (1, 1) in piq's module
    if key in state and key in expected and state[key].numel() == 1:
        state[key] = state[key].reshape(expected[key].shape)
    try:
        net.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as exc:
        raise PieAppWeightsInvalid(f"PIE-APP weights {path} do not fit the network: {exc}") from exc


def _download(backend: str, target: Path) -> None:
    """The backend library's own download to its cache path (fails offline)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if backend == "pyiqa":
        from pyiqa.utils.download_util import load_file_from_url

        load_file_from_url(PYIQA_WEIGHTS_URL, model_dir=str(target.parent), file_name=target.name)
    else:
        torch.hub.download_url_to_file(PIQ_WEIGHTS_URL, str(target), progress=False)


def _first_missing_ancestor(directory: Path) -> Path | None:
    missing = None
    for d in (directory, *directory.parents):
        if d.exists():
            break
        missing = d
    return missing


def _remove_empty_dirs(top: Path | None) -> None:
    """Undo the cache folders a failed download created (only if they hold no file)."""
    if top is None or not top.is_dir() or any(p.is_file() for p in top.rglob("*")):
        return
    for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        d.rmdir()
    top.rmdir()


def find_weights(
    backend: str, configured: Path | None, *, allow_random: bool, allow_download: bool = True
) -> Path | None:
    """The weights file to load, or None for random init (only when `allow_random`).

    Order: the configured path (must exist), else the library cache path, else the library's own
    download into that cache. Anything else raises `PieAppWeightsMissing` naming where to put the file.
    """
    if configured is not None:
        path = Path(configured).expanduser()
        if path.is_file():
            return path
        reason = f"configured file {path} does not exist"
    else:
        path = default_weights_path(backend)
        if path.is_file():
            return path
        reason = f"no file at the {backend} cache path {path}"
        if allow_download:
            created = _first_missing_ancestor(path.parent)
            try:
                _download(backend, path)
            except Exception as exc:  # offline: URLError, OSError, HTTPError
                reason += f" and the download failed ({type(exc).__name__}: {exc})"
            if path.is_file():
                return path
            if "download failed" not in reason:
                reason += " and the download produced no file"
            _remove_empty_dirs(created)
    if allow_random:
        return None
    raise PieAppWeightsMissing(missing_weights_message(backend, path, reason))


def _new_network(backend: str, seed: int = RANDOM_INIT_SEED, *, meta: bool = False) -> nn.Module:
    """A deterministically random-initialised network (global RNG untouched), or an empty one on
    the meta device (`meta=True`, instant) to receive a state dict with `assign=True`."""
    with torch.random.fork_rng(devices=[]), torch.device("meta" if meta else "cpu"):
        torch.manual_seed(seed)
        if backend == "pyiqa":
            from pyiqa.archs.pieapp_arch import PieAPP

            return PieAPP(pretrained=False)
        if backend == "piq":
            from piq.pieapp import PieAPPModel

            return PieAPPModel()
    raise ValueError(f"unknown PIE-APP backend {backend!r} (expected one of {', '.join(BACKENDS)})")


def save_random_weights(path: str | Path, backend: str = "pyiqa", seed: int = 0) -> Path:
    """Write a random-initialised state dict in the backend's file format (tests and demo only).

    Written atomically (temp file + rename), so a failed write leaves nothing behind.
    """
    target = Path(path)
    state = _new_network(backend, seed).state_dict()
    if backend == "piq":  # piq's file stores this as (1,) and unsqueezes it when loading
        state["ref_score_subtract.weight"] = state["ref_score_subtract.weight"].reshape(1)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# --------------------------------------------------------------------------------------------
# backends


class _ChunkedPieApp:
    """Shared chunked scoring: features per patch chunk, heads, Σ(w·s) and Σw accumulated."""

    name: str = ""

    def __init__(
        self,
        *,
        weights_path: Path | None = None,
        chunk_size: int = 256,
        device: str = "auto",
        allow_random_weights: bool = False,
        allow_download: bool = True,
    ) -> None:
        if chunk_size < 1:
            raise ValueError(f"PIE-APP chunk_size must be >= 1, got {chunk_size}")
        self.chunk_size = chunk_size
        torch_device = resolve_device(device)
        self.device = str(torch_device)
        found = find_weights(
            self.name, weights_path, allow_random=allow_random_weights, allow_download=allow_download
        )
        if found is not None:
            net = _new_network(self.name, meta=True)
            _apply_state_dict(net, _load_state_dict(found), found)
        else:
            net = _new_network(self.name)
        self.weights_file: Path | None = found
        self.random_weights = found is None
        for param in net.parameters():
            param.requires_grad_(False)
        self.net = net.to(device=torch_device, dtype=torch.float32).eval()
        logger.info(
            "PIE-APP {} backend on {} (chunk {}): weights {}",
            self.name,
            self.device,
            chunk_size,
            found if found is not None else "RANDOM (demo/test only)",
        )

    # subclass hooks ------------------------------------------------------------------------
    def _preprocess(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _features(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _heads(self, diff_ms: torch.Tensor, diff_coarse: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    # ---------------------------------------------------------------------------------------
    def score_pair(self, ref: torch.Tensor, dist: torch.Tensor) -> float:
        """Signed PieAPP value of `dist` against `ref` (1x3xHxW, RGB in [0,1]); lower is better."""
        check_pair(ref, dist)
        with torch.inference_mode():
            device = torch.device(self.device)
            r = self._preprocess(ref.to(device=device, dtype=torch.float32))
            d = self._preprocess(dist.to(device=device, dtype=torch.float32))
            weighted = torch.zeros((), dtype=torch.float64, device=device)
            total = torch.zeros((), dtype=torch.float64, device=device)
            chunks = zip(
                iter_patch_chunks(d, self.chunk_size), iter_patch_chunks(r, self.chunk_size), strict=True
            )
            for d_patches, r_patches in chunks:
                d_ms, d_coarse = self._features(d_patches)
                r_ms, r_coarse = self._features(r_patches)
                scores, weights = self._heads(r_ms - d_ms, r_coarse - d_coarse)
                weighted += (weights * scores).sum(dtype=torch.float64)
                total += weights.sum(dtype=torch.float64)
            value = float(weighted / total)
        return value


class PyiqaPieApp(_ChunkedPieApp):
    """pyiqa's `PieAPP` network (pyiqa 0.1.16, PolyForm-Noncommercial), run patch-chunked."""

    name = "pyiqa"

    def _preprocess(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.preprocess(x)  # RGB [0,1] -> BGR [0,255]

    def _features(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.compute_features(patches)

    def _heads(self, diff_ms: torch.Tensor, diff_coarse: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # same expressions as pyiqa.archs.pieapp_arch.PieAPP.forward (it has no separate head method)
        net = self.net
        scores = net.ref_score_subtract(0.01 * net.fc2_score(F.relu(net.fc1_score(diff_ms))))
        weights = net.fc2_weight(F.relu(net.fc1_weight(diff_coarse))) + WEIGHT_EPS
        return scores, weights


class PiqPieApp(_ChunkedPieApp):
    """piq's `PieAPPModel` (piq 0.8.0, Apache-2.0), run patch-chunked like `piq.PieAPP(stride=27)`."""

    name = "piq"

    def _preprocess(self, x: torch.Tensor) -> torch.Tensor:
        return x * 255.0  # piq: RGB, data_range 1 -> [0,255]

    def _features(self, patches: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net(patches)

    def _heads(self, diff_ms: torch.Tensor, diff_coarse: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.net.compute_difference(diff_ms, diff_coarse)


def build_backend(
    backend: str,
    *,
    weights_path: Path | None = None,
    chunk_size: int = 256,
    device: str = "auto",
    allow_random_weights: bool = False,
    allow_download: bool = True,
) -> PieAppBackend:
    """Construct a loaded backend by name (`pyiqa` or `piq`)."""
    classes: dict[str, type[_ChunkedPieApp]] = {"pyiqa": PyiqaPieApp, "piq": PiqPieApp}
    if backend not in classes:
        raise ValueError(f"unknown PIE-APP backend {backend!r} (expected one of {', '.join(BACKENDS)})")
    return classes[backend](
        weights_path=weights_path,
        chunk_size=chunk_size,
        device=device,
        allow_random_weights=allow_random_weights,
        allow_download=allow_download,
    )
