"""VMAF through the imageio-ffmpeg libvmaf: exact frame-sampled scoring and full-clip scoring (docs/scoring.md#metrics).

Sampled mode scores, for each sampled frame i, the window (i-w .. i+w) of BOTH clips, selected by
frame number with `select`, and keeps frame i's value. vmaf_v0.6.1's motion feature is
min(SAD(i-1, i), SAD(i, i+1)) on the reference, 0 for the first frame and SAD(i-1, i) for the last,
so with w >= 1 each kept value equals what a full-clip run gives at i (frame 0 and the last frame
are handled by the window simply being clipped at the clip's ends). Frames are never concatenated
across windows into one scored frame: the values kept always have their true neighbours. Both
streams are trimmed after the last window, so ffmpeg stops decoding there.

Timestamps: miners pick the container, and ffmpeg's framesync pairs frames by timestamp, so both
inputs are re-timed by frame number after selection (`settb=1/25,setpts=N`, i.e. the usual
`setpts=N/FRAME_RATE/TB` normalisation with one fixed rate for both inputs, so a 29.97 vs 30 fps
pair cannot drift either). Both inputs must have the same resolution: nothing is scaled here.
"""

from __future__ import annotations

import json
import math
import os
import random
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from hashlib import sha256
from pathlib import Path

import numpy as np
from loguru import logger

from scoring.budget import Budget
from scoring.media.decode import Planes
from scoring.media.ffmpeg import run_ffmpeg
from scoring.media.probe import ProbeInfo, probe
from scoring.metrics.config import VMAF_MODELS

_LOG_NAME = "vmaf.json"
_NORMALISE_PTS = "settb=1/25,setpts=N"


class VmafInputError(ValueError):
    """The inputs cannot be compared: different resolutions, bad indices, unknown model."""


class VmafError(RuntimeError):
    """libvmaf ran but its log is missing, unreadable or does not cover the requested frames."""


@dataclass(frozen=True)
class VmafResult:
    """Per-frame VMAF by frame index, their harmonic mean (zeros kept), and the model used."""

    per_frame: dict[int, float]
    harmonic_mean: float
    model: str
    elapsed_s: float = field(default=0.0, compare=False)

    @property
    def mean(self) -> float:
        vals = list(self.per_frame.values())
        return sum(vals) / len(vals) if vals else 0.0

    @property
    def min(self) -> float:
        return min(self.per_frame.values()) if self.per_frame else 0.0


def harmonic_mean(scores: Sequence[float]) -> float:
    """H = n / Σ(1/S_i). A score <= 0 makes H = 0 (never dropped); an empty list gives 0."""
    if not scores:
        return 0.0
    if any(s <= 0 for s in scores):
        return 0.0
    return len(scores) / math.fsum(1.0 / s for s in scores)


def sample_frame_indices(
    n_frames: int, n: int, *, secret: str, task_id: str, salt: str = "vmaf"
) -> list[int]:
    """`n` distinct frame indices in [0, n_frames), sorted, seeded by sha256(secret, task_id, salt).

    Without the secret a miner cannot predict them; the same (secret, task_id, salt) always gives the
    same indices. `salt` separates independent draws for the same task (e.g. "vmaf", "pieapp").
    """
    if n_frames <= 0:
        raise ValueError(f"cannot sample frames from a clip with {n_frames} frames")
    if n <= 0:
        raise ValueError(f"number of samples must be >= 1, got {n}")
    seed = sha256("\x1f".join((secret, task_id, salt)).encode()).digest()
    rng = random.Random(int.from_bytes(seed, "big"))
    return sorted(rng.sample(range(n_frames), min(n, n_frames)))


def model_for_height(height: int, *, standard: str = "vmaf_v0.6.1", four_k: str = "vmaf_4k_v0.6.1") -> str:
    """The upscaling gate model: the 4K model at >= 2160 lines, else the standard one."""
    return four_k if height >= 2160 else standard


def _check_model(model: str) -> None:
    if model not in VMAF_MODELS:
        raise VmafInputError(f"unknown VMAF model {model!r}; built-in models: {', '.join(VMAF_MODELS)}")


def _check_same_size(ref: ProbeInfo, dist: ProbeInfo) -> None:
    if (ref.width, ref.height) != (dist.width, dist.height):
        raise VmafInputError(
            f"resolution mismatch: distorted is {dist.width}x{dist.height}, reference is "
            f"{ref.width}x{ref.height}; VMAF compares same-size frames and nothing is scaled implicitly"
        )


def window_frames(indices: Sequence[int], n_frames: int, window: int) -> list[int]:
    """Sorted union of [i - window, i + window] ∩ [0, n_frames) over the sampled indices."""
    out: set[int] = set()
    for i in indices:
        out.update(range(max(0, i - window), min(n_frames - 1, i + window) + 1))
    return sorted(out)


def _select_expr(frames: Sequence[int]) -> str:
    """`between(n,a,b)+...` over the contiguous runs of `frames` (sorted)."""
    runs: list[tuple[int, int]] = []
    for f in frames:
        if runs and f == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], f)
        else:
            runs.append((f, f))
    return "+".join(f"between(n,{a},{b})" for a, b in runs)


def _run_libvmaf(
    reference: Path,
    distorted: Path,
    *,
    pre: str,
    model: str,
    threads: int,
    timeout_s: float,
    subsample: int,
    ffmpeg: str | None,
) -> list[tuple[int, float]]:
    """Run libvmaf (distorted = main input, reference = second); return (frameNum, vmaf) from its log."""
    chain = f"{pre},{_NORMALISE_PTS},format=yuv420p" if pre else f"{_NORMALISE_PTS},format=yuv420p"
    opts = f"model=version={model}:n_threads={threads}:n_subsample={subsample}:shortest=1"
    graph = f"[0:v]{chain}[d];[1:v]{chain}[r];[d][r]libvmaf={opts}:log_fmt=json:log_path={_LOG_NAME}"
    with tempfile.TemporaryDirectory(prefix="vidaio-vmaf-") as tmp:
        args = ["-i", str(distorted.resolve()), "-i", str(reference.resolve()), "-an", "-sn", "-dn"]
        run_ffmpeg([*args, "-lavfi", graph, "-f", "null", "-"], timeout_s=timeout_s, ffmpeg=ffmpeg, cwd=tmp)
        log_path = Path(tmp) / _LOG_NAME
        try:
            data = json.loads(log_path.read_text())
            return [(int(f["frameNum"]), float(f["metrics"]["vmaf"])) for f in data["frames"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise VmafError(f"cannot read the libvmaf log: {exc}") from exc


def vmaf_frames(
    reference: str | Path,
    distorted: str | Path,
    indices: Sequence[int],
    *,
    model: str = "vmaf_v0.6.1",
    threads: int = 2,
    timeout_s: float = 600,
    window: int = 1,
    ffmpeg: str | None = None,
) -> VmafResult:
    """VMAF of `distorted` vs `reference` at frame `indices`, each exactly as a full-clip run scores it."""
    _check_model(model)
    if not indices:
        raise VmafInputError("no frame indices to score")
    if window < 1:
        raise VmafInputError(f"window must be >= 1 (the motion feature needs neighbours), got {window}")
    ref_p, dist_p = Path(reference), Path(distorted)
    ref, dist = probe(ref_p), probe(dist_p)
    _check_same_size(ref, dist)
    n_frames = min(ref.frame_count, dist.frame_count)
    wanted = sorted(set(indices))
    if wanted[0] < 0 or wanted[-1] >= n_frames:
        raise VmafInputError(
            f"frame indices must be in [0, {n_frames}) (reference {ref.frame_count} frames, "
            f"distorted {dist.frame_count}), got {wanted[0]}..{wanted[-1]}"
        )
    frames = window_frames(wanted, n_frames, window)
    started = time.monotonic()
    rows = _run_libvmaf(
        ref_p,
        dist_p,
        # trim ends both streams after the last window: ffmpeg then stops decoding them
        pre=f"trim=end_frame={frames[-1] + 1},select='{_select_expr(frames)}'",
        model=model,
        threads=threads,
        timeout_s=timeout_s,
        subsample=1,
        ffmpeg=ffmpeg,
    )
    if len(rows) != len(frames):
        raise VmafError(
            f"libvmaf scored {len(rows)} frames, expected the {len(frames)} selected window frames"
        )
    by_pos = dict(rows)
    per_frame = {i: by_pos[frames.index(i)] for i in wanted}
    elapsed = time.monotonic() - started
    result = VmafResult(per_frame, harmonic_mean(list(per_frame.values())), model, elapsed)
    logger.debug("VMAF {} sampled {} -> H={:.3f} in {:.2f} s", model, wanted, result.harmonic_mean, elapsed)
    return result


def layout(wanted: Sequence[int], n_frames: int, window: int) -> tuple[list[int], dict[int, int]]:
    """The frame sequence one libvmaf run scores with `n_subsample = 2 * window + 1`, and each
    sampled frame's position in it.

    libvmaf computes its spatial features (VIF, ADM) only at positions that are multiples of
    `n_subsample` but its temporal one (motion) at every position, and predicts only those
    positions. Each sampled frame's own window (its true neighbours, clipped at the clip's ends) is
    laid out so the sampled frame lands on such a position; the gaps are filled with copies of the
    next window's first frame (their values are never read: a kept frame's motion uses only its
    own window). Frame 0, when sampled, stays at position 0, where libvmaf's motion is 0 as in a
    full run; the last frame, when sampled, stays last. VIF/ADM then run on ~1 frame in
    `n_subsample` instead of every window frame, with the same kept values.
    """
    step = 2 * window + 1
    seq: list[int] = []
    at: dict[int, int] = {}
    for i in wanted:
        start, end = max(0, i - window), min(n_frames - 1, i + window)
        # the first multiple of step with room for i's left side
        pos = -(-(len(seq) + i - start) // step) * step
        seq.extend([start] * (pos - (i - start) - len(seq)))
        at[i] = pos
        seq.extend(range(start, end + 1))
    return seq, at


def vmaf_windows(
    reference: Mapping[int, Planes],
    distorted: Mapping[int, Planes],
    indices: Sequence[int],
    n_frames: int,
    *,
    models: Sequence[str],
    threads: int = 2,
    timeout_s: float = 600,
    window: int = 1,
    ffmpeg: str | None = None,
    budget: Budget | None = None,
) -> dict[str, VmafResult]:
    """Sampled VMAF from frames already decoded (`scoring.media.decode`), every model in ONE libvmaf run.

    `reference` / `distorted` map frame numbers to (Y, U, V) planes and must hold every frame of
    `window_frames(indices, n_frames, window)`. Those frames are written as raw yuv420p in the
    order of `layout` and scored with `n_subsample` so that only the sampled frames (plus at most
    one filler) get the spatial features; each kept value equals a full-clip run's at that index
    (same frame, same true neighbours for motion); nothing is decoded again. Returns {model: result}.
    """
    if not indices:
        raise VmafInputError("no frame indices to score")
    if window < 1:
        raise VmafInputError(f"window must be >= 1 (the motion feature needs neighbours), got {window}")
    for m in models:
        _check_model(m)
    wanted = sorted(set(indices))
    if wanted[0] < 0 or wanted[-1] >= n_frames:
        raise VmafInputError(f"frame indices must be in [0, {n_frames}), got {wanted[0]}..{wanted[-1]}")
    frames = window_frames(wanted, n_frames, window)
    missing = [f for f in frames if f not in reference or f not in distorted]
    if missing:
        raise VmafInputError(f"frames {missing[:5]} were not decoded for the VMAF windows")
    h, w = reference[frames[0]][0].shape
    if distorted[frames[0]][0].shape != (h, w):
        dh, dw = distorted[frames[0]][0].shape
        raise VmafInputError(f"resolution mismatch: distorted is {dw}x{dh}, reference is {w}x{h}")
    seq, at = layout(wanted, n_frames, window)
    step = 2 * window + 1
    uniq = list(dict.fromkeys(models))
    names = {m: f"m{k}" for k, m in enumerate(uniq)}
    spec = "|".join(f"version={m}\\:name={names[m]}" for m in uniq)
    raw = ["-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{w}x{h}", "-framerate", "25", "-i"]
    started = time.monotonic()
    shm = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix="vidaio-vmaf-", dir=shm) as tmp:  # raw frames: RAM if possible
        for name, src in (("d.yuv", distorted), ("r.yuv", reference)):
            with open(Path(tmp) / name, "wb") as fh:
                for f in seq:
                    for plane in src[f]:
                        fh.write(np.ascontiguousarray(plane).data)
        graph = (
            f"[0:v][1:v]libvmaf=model='{spec}':n_threads={threads}:n_subsample={step}:shortest=1:"
            f"log_fmt=json:log_path={_LOG_NAME}"
        )
        run_ffmpeg(
            [*raw, "d.yuv", *raw, "r.yuv", "-lavfi", graph, "-f", "null", "-"],
            timeout_s=timeout_s,
            ffmpeg=ffmpeg,
            cwd=tmp,
            budget=budget,
        )
        try:
            data = json.loads((Path(tmp) / _LOG_NAME).read_text())
            rows = {int(fr["frameNum"]): fr["metrics"] for fr in data["frames"]}
            per_model = {m: {i: float(rows[at[i]][names[m]]) for i in wanted} for m in uniq}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise VmafError(f"cannot read the libvmaf log: {exc}") from exc
    if len(rows) != -(-len(seq) // step):
        raise VmafError(f"libvmaf scored {len(rows)} frames, expected {-(-len(seq) // step)} of {len(seq)}")
    elapsed = time.monotonic() - started
    out = {m: VmafResult(pf, harmonic_mean(list(pf.values())), m, elapsed) for m, pf in per_model.items()}
    logger.debug("VMAF {} sampled {} in one run: {:.2f} s", uniq, wanted, elapsed)
    return out


def vmaf_full(
    reference: str | Path,
    distorted: str | Path,
    *,
    model: str = "vmaf_v0.6.1",
    threads: int = 2,
    timeout_s: float = 600,
    subsample: int = 1,
    ffmpeg: str | None = None,
) -> VmafResult:
    """VMAF over the whole clip (every `subsample`-th frame scored, motion still exact); pairs by frame number."""
    _check_model(model)
    if subsample < 1:
        raise VmafInputError(f"subsample must be >= 1, got {subsample}")
    ref_p, dist_p = Path(reference), Path(distorted)
    _check_same_size(probe(ref_p, count_frames=False), probe(dist_p, count_frames=False))
    started = time.monotonic()
    rows = _run_libvmaf(
        ref_p,
        dist_p,
        pre="",
        model=model,
        threads=threads,
        timeout_s=timeout_s,
        subsample=subsample,
        ffmpeg=ffmpeg,
    )
    if not rows:
        raise VmafError("libvmaf scored no frames")
    per_frame = dict(rows)
    elapsed = time.monotonic() - started
    return VmafResult(per_frame, harmonic_mean(list(per_frame.values())), model, elapsed)
