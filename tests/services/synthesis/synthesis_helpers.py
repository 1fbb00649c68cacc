"""Helpers for the synthesis tests (imported by module name; pytest puts this folder on sys.path)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from scoring.media.ffmpeg import run_ffmpeg
from scoring.media.probe import probe


def decode_yuv(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All frames of a yuv420p clip as (Y [N,H,W], U [N,H/2,W/2], V [N,H/2,W/2]) uint8."""
    info = probe(path, count_frames=False)
    w, h = info.width, info.height
    raw = run_ffmpeg(["-loglevel", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]).stdout
    frame = w * h * 3 // 2
    data = np.frombuffer(raw, dtype=np.uint8)
    n = data.size // frame
    frames = data[: n * frame].reshape(n, frame)
    y = frames[:, : w * h].reshape(n, h, w)
    u = frames[:, w * h : w * h + w * h // 4].reshape(n, h // 2, w // 2)
    v = frames[:, w * h + w * h // 4 :].reshape(n, h // 2, w // 2)
    return y, u, v


def frames_hash(path: Path) -> str:
    """SHA-256 of every decoded yuv420p frame of a clip."""
    y, u, v = decode_yuv(path)
    digest = hashlib.sha256()
    for plane in (y, u, v):
        digest.update(plane.tobytes())
    return digest.hexdigest()


def files_under(directory: Path) -> list[Path]:
    """Every file and folder below `directory` (sorted)."""
    return sorted(directory.rglob("*")) if directory.exists() else []
