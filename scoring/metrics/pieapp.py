"""PIE-APP quality metric (docs/scoring.md#metrics): raw = mean(|d_i|) over the sampled frames.

`get_metric(cfg)` gives the one metric instance of the process (the network is ~273 MB and slow to
build). Frames are HxWx3 uint8 RGB arrays; each pair is scored patch-chunked by a backend from
`scoring.metrics.pieapp_backends`. The cap p = min(raw, 2.0) and the normalisation live in
`scoring.quality`; this module returns raw values.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from loguru import logger
from pydantic import BaseModel, ConfigDict

from scoring.metrics.config import MetricsConfig
from scoring.metrics.pieapp_backends import (
    BACKENDS,
    PieAppBackend,
    PieAppWeightsError,
    PieAppWeightsInvalid,
    PieAppWeightsMissing,
    build_backend,
    default_weights_path,
    save_random_weights,
)

__all__ = [
    "BACKENDS",
    "PieAppBackend",
    "PieAppMetric",
    "PieAppResult",
    "PieAppWeightsError",
    "PieAppWeightsInvalid",
    "PieAppWeightsMissing",
    "clear_metric_cache",
    "default_weights_path",
    "frame_to_tensor",
    "get_metric",
    "save_random_weights",
]


class PieAppResult(BaseModel):
    """PIE-APP over a set of frame pairs. `per_frame` holds the signed values d_i."""

    model_config = ConfigDict(frozen=True)

    raw_mean: float
    per_frame: list[float]
    random_weights: bool
    backend: str
    device: str


def frame_to_tensor(frame: np.ndarray) -> torch.Tensor:
    """HxWx3 uint8 RGB array → 1x3xHxW float32 tensor in [0,1]."""
    arr = np.asarray(frame)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"PIE-APP frames must be HxWx3 RGB arrays, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise ValueError(f"PIE-APP frames must be uint8 RGB, got dtype {arr.dtype}")
    return torch.from_numpy(np.ascontiguousarray(arr)).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


_random_warned = False
_warn_lock = threading.Lock()


def _warn_random_once(backend: PieAppBackend) -> None:
    global _random_warned
    with _warn_lock:
        if _random_warned:
            return
        _random_warned = True
    logger.warning(
        "PIE-APP {} backend runs with RANDOM weights (allow_random_weights): scores are meaningless "
        "and labelled random_weights=True; demo/test only",
        backend.name,
    )


class PieAppMetric:
    """Scores distorted frames against reference frames with one loaded backend."""

    def __init__(self, backend: PieAppBackend) -> None:
        self.backend = backend
        if backend.random_weights:
            _warn_random_once(backend)

    @classmethod
    def from_config(cls, cfg: MetricsConfig) -> PieAppMetric:
        """Build the backend named by `cfg.pieapp_backend` (raises `PieAppWeightsMissing` without weights)."""
        return cls(
            build_backend(
                cfg.pieapp_backend,
                weights_path=cfg.pieapp_weights_path,
                chunk_size=cfg.pieapp_chunk_size,
                device=cfg.pieapp_device,
                allow_random_weights=cfg.allow_random_weights,
            )
        )

    def score_pair(self, ref_frame: np.ndarray, dist_frame: np.ndarray) -> float:
        """Signed PieAPP value d of one frame pair (uint8 RGB), lower = better."""
        ref, dist = frame_to_tensor(ref_frame), frame_to_tensor(dist_frame)
        if ref.shape != dist.shape:
            raise ValueError(
                f"PIE-APP frame sizes differ: ref {tuple(ref_frame.shape)} vs dist {tuple(dist_frame.shape)}"
            )
        value = self.backend.score_pair(ref, dist)
        if not math.isfinite(value):
            raise ValueError(f"PIE-APP produced a non-finite value ({value}); Σ of patch weights is 0?")
        return value

    def score_frames(
        self, ref_frames: Sequence[np.ndarray], dist_frames: Sequence[np.ndarray]
    ) -> PieAppResult:
        """raw_mean = mean(|d_i|) over the pairs (docs/scoring.md#metrics); the cap at 2.0 is applied by `scoring.quality`."""
        if len(ref_frames) != len(dist_frames):
            raise ValueError(
                f"PIE-APP needs as many reference as distorted frames, got {len(ref_frames)} vs {len(dist_frames)}"
            )
        if not ref_frames:
            raise ValueError("PIE-APP needs at least one frame pair")
        per_frame = [self.score_pair(r, d) for r, d in zip(ref_frames, dist_frames, strict=True)]
        return PieAppResult(
            raw_mean=float(np.mean(np.abs(per_frame))),
            per_frame=per_frame,
            random_weights=self.backend.random_weights,
            backend=self.backend.name,
            device=self.backend.device,
        )


# -- one instance per process ------------------------------------------------------------------

_cache_lock = threading.Lock()
_cached: tuple[tuple[object, ...], PieAppMetric] | None = None


def _cache_key(cfg: MetricsConfig) -> tuple[object, ...]:
    path: Path | None = cfg.pieapp_weights_path
    return (
        cfg.pieapp_backend,
        str(path) if path is not None else None,
        str(default_weights_path(cfg.pieapp_backend)) if path is None else None,
        cfg.pieapp_chunk_size,
        cfg.pieapp_device,
        cfg.allow_random_weights,
    )


def get_metric(cfg: MetricsConfig) -> PieAppMetric:
    """The process-wide PIE-APP metric. A different PIE-APP config replaces it (the old one is freed)."""
    global _cached
    key = _cache_key(cfg)
    with _cache_lock:
        if _cached is not None and _cached[0] == key:
            return _cached[1]
        if _cached is not None:
            logger.info("PIE-APP settings changed: replacing the process metric")
            _cached = None
        metric = PieAppMetric.from_config(cfg)
        _cached = (key, metric)
        return metric


def clear_metric_cache() -> None:
    """Drop the process metric (tests)."""
    global _cached
    with _cache_lock:
        _cached = None
