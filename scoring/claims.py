"""One claim per solution: a fingerprint of an answer and the rule that says two answers are the same solution.

Byte or packet hashes catch only exact copies; an operator with several hotkeys can hand each one a
slightly different copy of one answer (a remux, a changed metadata byte, one frame re-encoded, the
same encode at CRF + 1) and be paid once per hotkey. The fingerprint is taken on frames drawn per
*task* (the same clip and parameters for every miner, seeded with the validator's secret, so every
answer to it is compared on the same pictures and no miner can predict which):

- the sha256 of each sampled frame's decoded Y, U and V planes: a remux, a metadata change or a
  re-encode of a frame that was not sampled decodes to the same pictures;
- a luma crop of each sampled frame (seeded position, at most `crop` x `crop`) and its squared
  error against the reference.

`same_solution` calls two answers one claim when all but at most one of the sampled frames decode
identically, or when the two answers are closer to *each other* than `max_cross_ratio` times the
closer one's distance to the reference *and* their sizes agree within `max_size_ratio`:
independent encodes make independent errors (another preset, another codec: 1.0-2.5 on the shared
clips), while a copy inherits its original's errors (the same encode at CRF + 1: 0.75-0.91, a
transcode 0.2-0.93); a CRF several steps away shares the encoder's decisions too but is much
smaller or larger. `benchmarks/calibrate_claims.py` measures both sides. Honest miners running the
same encoder at the same preset one CRF step apart collide: they are one solution by this measure
(smooth synthetic content can bring two presets of one encoder that close too).

(The reference subnet compares VMAF within 0.2 and compression rate within 0.01. Here each miner's
VMAF is taken on its own secret frames, so those values are not comparable between miners, and on
the shared clips the same encoder one CRF apart differed by 0.25 dB luma PSNR and 0.035 rate while
honest pairs of other settings came as close as 0.42 dB and 0.017: no tolerance separates them.)
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scoring.chroma import decode_chroma


@dataclass(frozen=True)
class ClaimPrint:
    """One answer's solution: per sampled frame, the decoded planes' hash, a luma crop and its error vs the reference."""

    indices: tuple[int, ...]
    frame_sha256: tuple[str, ...]
    crops: tuple[np.ndarray, ...]
    ref_se: tuple[float, ...]
    size_bytes: int = 0

    @property
    def ref_mse(self) -> float:
        """Mean squared luma error against the reference over the crops."""
        return sum(self.ref_se) / max(1, sum(c.size for c in self.crops))


def _crop_box(seed: str, index: int, h: int, w: int, crop: int) -> tuple[int, int, int, int]:
    ch, cw = min(h, crop), min(w, crop)
    r = int.from_bytes(hashlib.sha256(f"{seed}\x1f{index}".encode()).digest()[:8], "big")
    y0, x0 = r % (h - ch + 1), (r // (h - ch + 1)) % (w - cw + 1)
    return y0, x0, ch, cw


def _se(a: np.ndarray, b: np.ndarray) -> float:
    d = a.astype(np.int32) - b.astype(np.int32)
    return float(np.einsum("ij,ij->", d, d, dtype=np.int64))


def _frames(path: str | Path, wanted: Sequence[int]) -> dict[int, tuple[np.ndarray, ...]]:
    """The (Y, U, V) planes of the frames at `wanted` (sorted, distinct), by index."""
    return dict(zip(wanted, decode_chroma(path, wanted), strict=True))


@dataclass(frozen=True)
class ReferenceCrops:
    """The reference's side of a task's fingerprints: computed once per task, shared by every answer."""

    indices: tuple[int, ...]
    shapes: tuple[tuple[int, int], ...]
    crops: tuple[np.ndarray, ...]


def _wanted(indices: Sequence[int]) -> list[int]:
    wanted = sorted(set(indices))
    if not wanted or wanted[0] < 0:
        raise ValueError(f"need non-negative frame indices, got {list(indices)}")
    return wanted


def _crop(y: np.ndarray, seed: str, index: int, crop: int) -> np.ndarray:
    y0, x0, ch, cw = _crop_box(seed, index, y.shape[0], y.shape[1], crop)
    return y[y0 : y0 + ch, x0 : x0 + cw].copy()


def reference_crops(reference: str | Path, indices: Sequence[int], *, seed: str, crop: int = 384) -> ReferenceCrops:
    """The reference's luma crops at `indices` (the same `seed` and `crop` as the answers' prints)."""
    wanted = _wanted(indices)
    ref = _frames(reference, wanted)
    shapes = tuple((int(ref[i][0].shape[0]), int(ref[i][0].shape[1])) for i in wanted)
    return ReferenceCrops(tuple(wanted), shapes, tuple(_crop(ref[i][0], seed, i, crop) for i in wanted))


def answer_print(answer: str | Path, reference: ReferenceCrops, *, seed: str, crop: int = 384) -> ClaimPrint:
    """Fingerprint of `answer` on the reference's frames (decodes the answer only)."""
    wanted = list(reference.indices)
    dist = _frames(answer, wanted)
    hashes, crops, errors = [], [], []
    for i, shape, ref_crop in zip(wanted, reference.shapes, reference.crops, strict=True):
        h = hashlib.sha256()
        for plane in dist[i]:
            h.update(np.ascontiguousarray(plane).tobytes())
        hashes.append(h.hexdigest())
        dy = dist[i][0]
        if dy.shape != shape:
            raise ValueError(f"frame {i} is {dy.shape[1]}x{dy.shape[0]} but the reference is {shape[1]}x{shape[0]}")
        c = _crop(dy, seed, i, crop)
        crops.append(c)
        errors.append(_se(ref_crop, c))
    return ClaimPrint(tuple(wanted), tuple(hashes), tuple(crops), tuple(errors), Path(answer).stat().st_size)


def claim_print(
    reference: str | Path, answer: str | Path, indices: Sequence[int], *, seed: str, crop: int = 384
) -> ClaimPrint:
    """Fingerprint of `answer` on the frames at `indices` (distinct; same size as the reference).

    `seed` places the crops (the same seed for every answer to a task, so their crops coincide)."""
    return answer_print(answer, reference_crops(reference, indices, seed=seed, crop=crop), seed=seed, crop=crop)


def cross_ratio(a: ClaimPrint, b: ClaimPrint) -> float:
    """Squared distance between the two answers over the distance of the closer one to the reference."""
    if a.indices != b.indices or any(x.shape != y.shape for x, y in zip(a.crops, b.crops, strict=True)):
        raise ValueError("the two prints were not taken on the same frames and crops")
    cross = sum(_se(x, y) for x, y in zip(a.crops, b.crops, strict=True)) / max(1, sum(c.size for c in a.crops))
    closer = min(a.ref_mse, b.ref_mse)
    if closer <= 1e-12:
        return 0.0 if cross <= 1e-12 else math.inf
    return cross / closer


def same_solution(
    a: ClaimPrint, b: ClaimPrint, *, max_cross_ratio: float, max_size_ratio: float = 0.0
) -> str | None:
    """Why `a` and `b` are one solution (None when they are different answers).

    Near copy: `cross_ratio <= max_cross_ratio` and, when `max_size_ratio` > 0, the larger file at most
    that many times the smaller. A `max_cross_ratio` of 0 turns the near-copy rule off."""
    if a.indices != b.indices:
        return None
    if len(a.indices) >= 2:
        same = sum(x == y for x, y in zip(a.frame_sha256, b.frame_sha256, strict=True))
        if same >= len(a.indices) - 1:
            return f"{same} of {len(a.indices)} sampled frames decode to identical pictures"
    if max_cross_ratio > 0:
        small, big = sorted((a.size_bytes, b.size_bytes))
        if max_size_ratio > 0 and big > max_size_ratio * max(small, 1):
            return None
        ratio = cross_ratio(a, b)
        if ratio <= max_cross_ratio:
            return (
                f"the two answers differ from each other {ratio:.2f}x as much as from the reference "
                f"(at most {max_cross_ratio:g}) and their sizes by {big / max(small, 1):.2f}x: "
                "one is derived from the other"
            )
    return None
