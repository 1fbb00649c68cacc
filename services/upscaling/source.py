"""Input side: inspect a clip (size, exact frame rate, colour) and decode it as a stream of
yuv420p plane batches in a background thread (bounded queue: memory stays a few batches)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from scoring.media.probe import ProbeError, probe
from services.upscaling.colour import ColourInfo
from services.upscaling.errors import UpscaleError

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]  # Y [H,W], U [h,w], V [h,w] uint8


@dataclass(frozen=True)
class InputInfo:
    path: Path
    width: int
    height: int
    fps: Fraction
    frames: int
    duration_s: float
    size_bytes: int
    pix_fmt: str
    colour: ColourInfo


def inspect_input(path: Path) -> InputInfo:
    """Probe the input (frame count by demux) and read its exact frame rate and colour properties."""
    try:
        info = probe(path, count_frames=True)
    except ProbeError as exc:
        raise UpscaleError(f"cannot read input clip: {exc}") from exc
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            cc = stream.codec_context
            rate = stream.average_rate or stream.guessed_rate or stream.base_rate
            colour = ColourInfo(
                matrix=int(cc.colorspace or 2),
                primaries=int(cc.color_primaries or 2),
                trc=int(cc.color_trc or 2),
                range=int(cc.color_range or 0) if cc.format.name != "yuvj420p" else 2,
                height=int(cc.height),
            )
    except (av.FFmpegError, OSError, IndexError) as exc:
        raise UpscaleError(f"cannot read input clip {path}: {exc}") from exc
    if rate is None or rate <= 0:
        raise UpscaleError(f"{path}: video stream has no usable frame rate")
    if info.frame_count <= 0:
        raise UpscaleError(f"{path}: video stream has no frames")
    fps = Fraction(rate).limit_denominator(1_000_000)
    duration = info.duration_s if info.duration_s > 0 else info.frame_count / float(fps)
    return InputInfo(
        path, info.width, info.height, fps, info.frame_count, duration, info.size_bytes, info.pix_fmt, colour
    )


def _plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    p = frame.planes[index]
    arr = np.frombuffer(p, dtype=np.uint8).reshape(-1, p.line_size)
    return arr[: p.height, : p.width].copy()


def frame_planes(frame: av.VideoFrame) -> Planes:
    """The three 8-bit 4:2:0 planes of a frame (other formats are converted to yuv420p first)."""
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        frame = frame.reformat(format="yuv420p")
    return _plane(frame, 0), _plane(frame, 1), _plane(frame, 2)


_DONE = object()


class FrameBatches:
    """Iterate batches of decoded frames; decoding runs ahead in a thread. Use as a context manager."""

    def __init__(self, path: Path, batch: int, prefetch: int = 2) -> None:
        self.path = path
        self.batch = batch
        self._q: queue.Queue[object] = queue.Queue(maxsize=prefetch)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="upscale-decode", daemon=True)

    def __enter__(self) -> FrameBatches:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        while self._thread.is_alive():
            try:
                self._q.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            with av.open(str(self.path)) as container:
                stream = container.streams.video[0]
                stream.thread_type = "AUTO"
                pending: list[Planes] = []
                for frame in container.decode(stream):
                    if self._stop.is_set():
                        return
                    pending.append(frame_planes(frame))
                    if len(pending) == self.batch:
                        if not self._put(pending):
                            return
                        pending = []
                if pending and not self._put(pending):
                    return
            self._put(_DONE)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer thread
            self._put(UpscaleError(f"decoding {self.path} failed: {exc}"))

    def __iter__(self) -> Iterator[list[Planes]]:
        while True:
            item = self._q.get()
            if item is _DONE:
                return
            if isinstance(item, Exception):
                raise item
            yield item  # type: ignore[misc]
