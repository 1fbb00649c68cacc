"""A reference's sampled frames decoded once per task, at task creation, for every scoring worker (issue 19).

Every answer to a task samples frames drawn from (secret, task id, clip length), all known when the
validator creates the task, so the reference's frames can be decoded before any answer arrives:
`prepare_frames` decodes the reference once (up to the last frame asked) and writes the frames asked
as raw planes into `<reference>.frames/` next to it (inside the task's directory, so removed with the
task's files); `load_frames` gives them back to a scoring worker when they cover what an answer
needs (mapped, not copied), else None and the worker decodes the reference as before. The values are the very arrays
`scoring.media.decode.decode_pass` keeps (same decoder, same conversion), written and read raw.

The directory appears whole or not at all (written under a temporary name, then renamed); its
`meta.json` names the reference's size and mtime, so frames of another file are never used.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from loguru import logger

from scoring.media.decode import Planes, SampledFrames, decode_pass

SUFFIX = ".frames"
_META = "meta.json"


@dataclass(frozen=True)
class PreparedFrames:
    """What `prepare_frames` wrote: the frames kept and the bytes on disk."""

    directory: Path
    yuv: frozenset[int]
    rgb: frozenset[int]
    bytes: int


def frames_dir(reference: str | Path) -> Path:
    ref = Path(reference)
    return ref.with_name(ref.name + SUFFIX)


def frame_bytes(width: int, height: int) -> tuple[int, int]:
    """Bytes of one kept frame as (Y+U+V 4:2:0, RGB24)."""
    return width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2), width * height * 3


def _identity(reference: Path) -> dict[str, int]:
    st = reference.stat()
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}


def prepare_frames(reference: str | Path, yuv: Collection[int], rgb: Collection[int] = ()) -> PreparedFrames:
    """Decode `reference` once and write its frames `yuv` (planes) and `rgb` to `frames_dir(reference)`.

    Raises `ValueError` when the reference does not give every frame asked (nothing is left behind)."""
    ref = Path(reference)
    final = frames_dir(ref)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=ref.parent))
    shapes: dict[str, list[int]] = {}
    written = [0]

    def sink(n: int, planes: Planes | None, rgb_frame: np.ndarray | None) -> None:
        if planes is not None:
            shapes["y"], shapes["c"] = list(planes[0].shape), list(planes[1].shape)
            with open(tmp / f"{n}.yuv", "wb") as fh:
                for p in planes:
                    fh.write(np.ascontiguousarray(p).data)
            written[0] += sum(p.size for p in planes)
        if rgb_frame is not None:
            shapes["rgb"] = list(rgb_frame.shape)
            np.ascontiguousarray(rgb_frame).tofile(tmp / f"{n}.rgb")
            written[0] += rgb_frame.size

    try:
        identity = _identity(ref)
        got = decode_pass(ref, keep_yuv=yuv, keep_rgb=rgb, stop_when_kept=True, sink=sink)
        missing = (set(yuv) | set(rgb)) - {int(p.stem) for p in tmp.iterdir()}
        if got.error or missing:
            raise ValueError(
                f"{ref}: {got.error or f'frames {sorted(missing)[:5]} are past its {got.frames} frames'}"
            )
        meta = {**identity, "shapes": shapes, "yuv": sorted(set(yuv)), "rgb": sorted(set(rgb))}
        (tmp / _META).write_text(json.dumps(meta))
        shutil.rmtree(final, ignore_errors=True)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return PreparedFrames(final, frozenset(yuv), frozenset(rgb), written[0])


def _mapped(path: Path) -> np.ndarray:
    """The file's bytes, mapped copy-on-write (read without a copy; writes never reach the file)."""
    return np.memmap(path, dtype=np.uint8, mode="c").view(np.ndarray)


def load_frames(
    reference: str | Path, yuv: Collection[int], rgb: Collection[int] = ()
) -> SampledFrames | None:
    """The prepared frames `yuv` / `rgb` of `reference`, or None when they are not all there (or stale)."""
    ref = Path(reference)
    folder = frames_dir(ref)
    try:
        meta = json.loads((folder / _META).read_text())
        if meta["size"] != ref.stat().st_size or meta["mtime_ns"] != ref.stat().st_mtime_ns:
            return None
        if not set(yuv) <= set(meta["yuv"]) or not set(rgb) <= set(meta["rgb"]):
            return None
        out = SampledFrames()
        if yuv:
            (h, w), (ch, cw) = meta["shapes"]["y"], meta["shapes"]["c"]
            for n in yuv:
                buf = _mapped(folder / f"{n}.yuv")
                if buf.size != h * w + 2 * ch * cw:
                    return None
                out.yuv[n] = (
                    buf[: h * w].reshape(h, w),
                    buf[h * w : h * w + ch * cw].reshape(ch, cw),
                    buf[h * w + ch * cw :].reshape(ch, cw),
                )
        for n in rgb:
            shape = meta["shapes"]["rgb"]
            out.rgb[n] = _mapped(folder / f"{n}.rgb").reshape(shape)
        return out
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        logger.warning("prepared frames of {} unusable ({}): decoding the reference instead", ref, exc)
        return None


def remove_frames(reference: str | Path) -> None:
    shutil.rmtree(frames_dir(reference), ignore_errors=True)
