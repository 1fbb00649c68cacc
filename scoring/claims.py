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
identically, or, their sizes agreeing within `max_size_ratio`, when either

- they have the same coding structure (`coding_print`: per packet in decode order, keyframe flag and
  presentation position, i.e. the GOP and B-frame decisions) and every frame's size in the same
  ratio (`size_pattern` at most `max_size_pattern`): the same encoder and preset on the same source
  one CRF apart. x265 CRF + 1 spreads 0.019-0.043 on the shared clips (0.019-0.14 on synthetic
  content), x265 medium vs slow at one CRF from 0.043 (synthetic; 0.064 on the shared clips), hence
  the hevc limit 0.04; x264 medium vs slow (from 0.008) and SVT-AV1 presets (from 0.024) are as close
  as their CRF + 1 (0.018-0.035, 0.010-0.025), so the rule is on for hevc only; or
- (opt-in, off by default) they are closer to *each other* than `max_cross_ratio` times the closer
  one's distance to the reference. A copy inherits its original's errors, but so do independent
  encoders where all of them lose the same detail: on grainy or finely textured content (the
  synthetic source's grain, fractals) honest pairs within the size ratio came as close as 0.15
  (hevc), and a CRF + 1 copy was often no closer than another preset, so no limit separates them. On the shared
  real clips honest pairs stayed at 0.95 and above (hevc).

`benchmarks/calibrate_claims.py` measures both sides. Honest miners running the same encoder at
the same preset one CRF step apart collide: they are one solution by this measure.

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

import av
import numpy as np
from loguru import logger

from scoring.chroma import decode_chroma

SIZE_FLOOR = 0.1
"""`size_pattern` adds this fraction of the mean packet size to every packet."""


@dataclass(frozen=True)
class Coding:
    """An answer's coding structure, read by a demux pass (no decode): per packet in decode order, its
    keyframe flag and presentation position (the GOP and B-frame reorder pattern, hashed), and its size."""

    structure_sha256: str
    sizes: tuple[int, ...]


@dataclass(frozen=True)
class ClaimPrint:
    """One answer's solution: per sampled frame, the decoded planes' hash, a luma crop and its error vs the
    reference; the file size and the coding structure (None when it could not be read)."""

    indices: tuple[int, ...]
    frame_sha256: tuple[str, ...]
    crops: tuple[np.ndarray, ...]
    ref_se: tuple[float, ...]
    size_bytes: int = 0
    coding: Coding | None = None

    @property
    def ref_mse(self) -> float:
        """Mean squared luma error against the reference over the crops."""
        return sum(self.ref_se) / max(1, sum(c.size for c in self.crops))


def coding_print(path: str | Path, max_packets: int) -> Coding | None:
    """The coding structure of the first video stream; None past `max_packets` non-empty packets (a
    hostile file cannot make this read more) or when a packet has no timestamps."""
    marks: list[tuple[bool, int]] = []
    sizes: list[int] = []
    with av.open(str(path), mode="r") as container:
        for packet in container.demux(container.streams.video[0]):
            if packet.size <= 0:
                continue
            if len(sizes) >= max_packets or packet.pts is None:
                return None
            marks.append((bool(packet.is_keyframe), int(packet.pts)))
            sizes.append(packet.size)
    if not sizes:
        return None
    rank = {pts: i for i, pts in enumerate(sorted({pts for _, pts in marks}))}
    h = hashlib.sha256()
    for i, (key, pts) in enumerate(marks):
        h.update(f"{int(key)}:{rank[pts] - i};".encode())
    return Coding(h.hexdigest(), tuple(sizes))


def size_pattern(a: Coding, b: Coding, floor: float = SIZE_FLOOR) -> float | None:
    """Spread (standard deviation) of the per-packet log size ratio when the two structures are identical,
    else None: one encode at another CRF scales every frame alike (spread near 0). Each packet's size is
    counted plus `floor` times the mean packet size, so frames of a few bytes (a static picture) do not
    dominate with ratios that are noise."""
    if a.structure_sha256 != b.structure_sha256 or len(a.sizes) != len(b.sizes) or len(a.sizes) < 2:
        return None
    x, y = np.asarray(a.sizes, np.float64), np.asarray(b.sizes, np.float64)
    return float(np.std(np.log(x + floor * x.mean()) - np.log(y + floor * y.mean())))


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


def reference_crops(
    reference: str | Path, indices: Sequence[int], *, seed: str, crop: int = 384
) -> ReferenceCrops:
    """The reference's luma crops at `indices` (the same `seed` and `crop` as the answers' prints)."""
    wanted = _wanted(indices)
    ref = _frames(reference, wanted)
    shapes = tuple((int(ref[i][0].shape[0]), int(ref[i][0].shape[1])) for i in wanted)
    return ReferenceCrops(tuple(wanted), shapes, tuple(_crop(ref[i][0], seed, i, crop) for i in wanted))


def answer_print(
    answer: str | Path, reference: ReferenceCrops, *, seed: str, crop: int = 384, max_packets: int = 0
) -> ClaimPrint:
    """Fingerprint of `answer` on the reference's frames (decodes the answer only); with `max_packets` > 0
    also its coding structure (a demux pass of at most that many packets)."""
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
            raise ValueError(
                f"frame {i} is {dy.shape[1]}x{dy.shape[0]} but the reference is {shape[1]}x{shape[0]}"
            )
        c = _crop(dy, seed, i, crop)
        crops.append(c)
        errors.append(_se(ref_crop, c))
    coding = None
    if max_packets > 0:
        try:
            coding = coding_print(answer, max_packets)
        except (av.FFmpegError, OSError) as exc:  # the pixel rules still apply
            logger.warning("{}: no coding structure ({})", answer, exc)
    size = Path(answer).stat().st_size
    return ClaimPrint(tuple(wanted), tuple(hashes), tuple(crops), tuple(errors), size, coding)


def claim_print(
    reference: str | Path,
    answer: str | Path,
    indices: Sequence[int],
    *,
    seed: str,
    crop: int = 384,
    max_packets: int = 0,
) -> ClaimPrint:
    """Fingerprint of `answer` on the frames at `indices` (distinct; same size as the reference).

    `seed` places the crops (the same seed for every answer to a task, so their crops coincide)."""
    ref = reference_crops(reference, indices, seed=seed, crop=crop)
    return answer_print(answer, ref, seed=seed, crop=crop, max_packets=max_packets)


def cross_ratio(a: ClaimPrint, b: ClaimPrint) -> float:
    """Squared distance between the two answers over the distance of the closer one to the reference."""
    if a.indices != b.indices or any(x.shape != y.shape for x, y in zip(a.crops, b.crops, strict=True)):
        raise ValueError("the two prints were not taken on the same frames and crops")
    cross = sum(_se(x, y) for x, y in zip(a.crops, b.crops, strict=True)) / max(
        1, sum(c.size for c in a.crops)
    )
    closer = min(a.ref_mse, b.ref_mse)
    if closer <= 1e-12:
        return 0.0 if cross <= 1e-12 else math.inf
    return cross / closer


def same_solution(
    a: ClaimPrint,
    b: ClaimPrint,
    *,
    max_cross_ratio: float,
    max_size_ratio: float = 0.0,
    max_size_pattern: float = 0.0,
) -> str | None:
    """Why `a` and `b` are one solution (None when they are different answers).

    Near copy: the larger file at most `max_size_ratio` times the smaller (when > 0) and either
    `cross_ratio <= max_cross_ratio` (0 turns that rule off) or the same coding structure with a
    `size_pattern` spread of at most `max_size_pattern` (0 turns that rule off)."""
    if a.indices != b.indices:
        return None
    if len(a.indices) >= 2:
        same = sum(x == y for x, y in zip(a.frame_sha256, b.frame_sha256, strict=True))
        if same >= len(a.indices) - 1:
            return f"{same} of {len(a.indices)} sampled frames decode to identical pictures"
    small, big = sorted((a.size_bytes, b.size_bytes))
    size_ratio = big / max(small, 1)
    if max_size_ratio > 0 and size_ratio > max_size_ratio:
        return None
    if max_size_pattern > 0 and a.coding is not None and b.coding is not None:
        spread = size_pattern(a.coding, b.coding)
        if spread is not None and spread <= max_size_pattern:
            return (
                f"the same coding structure ({len(a.coding.sizes)} frames: frame types and order) with every "
                f"frame's size in the same ratio (spread {spread:.3f}, at most {max_size_pattern:g}) and sizes "
                f"within {size_ratio:.2f}x: the same encode at another quality"
            )
    if max_cross_ratio > 0:
        ratio = cross_ratio(a, b)
        if ratio <= max_cross_ratio:
            return (
                f"the two answers differ from each other {ratio:.2f}x as much as from the reference "
                f"(at most {max_cross_ratio:g}) and their sizes by {size_ratio:.2f}x: "
                "one is derived from the other"
            )
    return None
