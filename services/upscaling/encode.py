"""Encoding side shared by the engines: codec options, a raw-frame ffmpeg pipe, the size cap,
and the temp-file discipline (write ``.partial`` next to the output, rename when complete).

Size cap: the encode is "capped CRF" (CRF plus a VBV max rate derived from the cap), and if the
file still ends up over the cap it is re-encoded from itself at a higher CRF (rare: only when
the input was tiny for its resolution).
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

from loguru import logger

from scoring.media.ffmpeg import FfmpegError, run_ffmpeg, stderr_tail
from services.upscaling.errors import DeadlineExceeded, UpscaleError, remaining_s

ENCODERS = {"hevc": "libx265", "av1": "libsvtav1", "h264": "libx264"}
VBV_SHARE = 0.8  # max rate = 80 % of the cap spread over the clip; the buffer adds at most the rest
REENCODE_CRF_STEP = 6
MAX_REENCODES = 3


def codec_args(
    codec: str, crf: int, preset: str, threads: int, maxrate_bps: int | None, duration_s: float
) -> list[str]:
    """ffmpeg output options for one codec: CRF, preset, VBV cap, yuv420p, MP4-friendly tag."""
    if codec not in ENCODERS:
        raise UpscaleError(f"unsupported codec {codec!r} (allowed: {', '.join(ENCODERS)})")
    args = ["-c:v", ENCODERS[codec], "-crf", str(crf), "-preset", preset, "-pix_fmt", "yuv420p"]
    if codec == "hevc":
        args += ["-x265-params", "log-level=error", "-tag:v", "hvc1"]
    if threads > 0:
        args += ["-threads", str(threads)]
    if maxrate_bps is not None and maxrate_bps > 0:
        bufsize = max(int(maxrate_bps * min(1.0, max(duration_s, 0.04) / 4.0)), 8000)
        args += ["-maxrate", str(maxrate_bps), "-bufsize", str(bufsize)]
    return args


def cap_maxrate(cap_bytes: int, duration_s: float) -> int | None:
    if cap_bytes <= 0 or duration_s <= 0:
        return None
    return int(cap_bytes * 8 * VBV_SHARE / duration_s)


def container_args() -> list[str]:
    return ["-an", "-sn", "-dn", "-map_metadata", "-1", "-movflags", "+faststart", "-f", "mp4"]


def encoder_env() -> dict[str, str]:
    return {**os.environ, "SVT_LOG": "1"}  # silence SVT-AV1's banner


@contextmanager
def partial_output(output_path: Path) -> Iterator[Path]:
    """Yield a temp path next to ``output_path``; it is removed unless the caller renamed it."""
    output_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = output_path.with_name(f".{output_path.stem}.{uuid.uuid4().hex[:8]}.partial.mp4")
    try:
        yield tmp
    finally:
        tmp.unlink(missing_ok=True)


class RawEncoder:
    """An ffmpeg process reading raw yuv420p frames on stdin and writing the MP4 to ``out_path``.

    Frames are handed to a writer thread through a bounded queue, so the caller (the GPU) keeps
    working while ffmpeg encodes; memory stays at ``queue_frames`` raw frames.
    """

    def __init__(
        self,
        ffmpeg: str,
        out_path: Path,
        *,
        width: int,
        height: int,
        fps: Fraction,
        colour_tags: list[str],
        codec_opts: list[str],
        queue_frames: int = 8,
    ) -> None:
        self.frame_bytes = width * height + 2 * ((width + 1) // 2) * ((height + 1) // 2)
        self.frames = 0
        cmd = [
            ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
            "-f", "rawvideo", "-pix_fmt", "yuv420p", "-s", f"{width}x{height}",
            "-framerate", f"{fps.numerator}/{fps.denominator}", *colour_tags, "-i", "pipe:0",
            *codec_opts, *colour_tags, *container_args(), str(out_path),
        ]  # fmt: skip
        self._stderr: deque[bytes] = deque(maxlen=200)
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=max(queue_frames, 1))
        self._write_error: BaseException | None = None
        try:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=encoder_env(),
            )
        except OSError as exc:
            raise FfmpegError(f"cannot start ffmpeg {ffmpeg}: {exc}", args=cmd) from exc
        self._reader = threading.Thread(target=self._drain, name="upscale-enc-stderr", daemon=True)
        self._writer = threading.Thread(target=self._write_loop, name="upscale-enc-writer", daemon=True)
        self._reader.start()
        self._writer.start()

    def _drain(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._stderr.append(line)

    def _write_loop(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        while True:
            item = self._queue.get()
            if item is None:
                break
            if self._write_error is None:
                try:
                    stdin.write(item)
                except (OSError, ValueError) as exc:  # BrokenPipe: ffmpeg died or was killed
                    self._write_error = exc
        try:
            stdin.close()
        except (OSError, ValueError):
            pass

    def _error(self, message: str) -> FfmpegError:
        self._reader.join(timeout=2)
        return FfmpegError(
            message, returncode=self.proc.returncode, stderr_tail=stderr_tail(b"".join(self._stderr))
        )

    def _put(self, item: bytes | None, deadline: float | None) -> None:
        while True:
            if self._write_error is not None:
                self.abort()
                raise self._error(f"ffmpeg encoder stopped after {self.frames} frames")
            left = remaining_s(deadline)
            if left is not None and left <= 0:
                raise DeadlineExceeded(
                    f"deadline passed while the encoder was busy ({self.frames} frames sent)"
                )
            try:
                self._queue.put(item, timeout=0.1 if left is None else min(0.1, left))
                return
            except queue.Full:
                continue

    def write(self, frame: bytes, deadline: float | None = None) -> None:
        if len(frame) != self.frame_bytes:
            raise UpscaleError(f"raw frame has {len(frame)} bytes, expected {self.frame_bytes}")
        self._put(frame, deadline)
        self.frames += 1

    def finish(self, deadline: float | None) -> None:
        """Flush the queue, close stdin and wait for the encoder; on a missed deadline raise
        DeadlineExceeded (the caller aborts, which kills ffmpeg)."""
        self._put(None, deadline)
        left = remaining_s(deadline)
        self._writer.join(timeout=None if left is None else max(left, 0.01))
        if self._writer.is_alive():
            raise DeadlineExceeded("deadline passed while the encoder was finishing")
        if self._write_error is not None:
            self.proc.wait(timeout=10)
            raise self._error(f"ffmpeg encoder stopped after {self.frames} frames")
        left = remaining_s(deadline)
        try:
            rc = self.proc.wait(timeout=None if left is None else max(left, 0.01))
        except subprocess.TimeoutExpired as exc:
            raise DeadlineExceeded("deadline passed while the encoder was finishing") from exc
        if rc != 0:
            raise self._error(f"ffmpeg encoder exited with status {rc}")
        self._reader.join(timeout=2)

    def abort(self) -> None:
        """Kill ffmpeg and stop the writer thread (idempotent)."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - kill should not hang
            logger.warning("ffmpeg encoder pid {} did not exit after kill", self.proc.pid)
        while self._writer.is_alive():  # unblock it: it drains to the sentinel after a write error
            try:
                self._queue.put_nowait(None)
            except queue.Full:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
            self._writer.join(timeout=0.05)
        self._reader.join(timeout=2)  # EOF once ffmpeg is gone
        if self.proc.stderr is not None and not self._reader.is_alive():
            self.proc.stderr.close()


def _next_crf(codec: str, crf: int) -> int:
    top = 63 if codec == "av1" else 51
    return min(crf + max(REENCODE_CRF_STEP, (top - crf) // 3), top)


def enforce_size_cap(
    ffmpeg: str,
    tmp_path: Path,
    *,
    cap_bytes: int,
    codec: str,
    crf: int,
    preset: str,
    threads: int,
    colour_tags: list[str],
    deadline: float | None,
) -> tuple[int, bool]:
    """Re-encode ``tmp_path`` in place at higher CRF until it fits ``cap_bytes``; return (crf, reencoded).

    Each retry starts from the first encode (no generation loss piling up) with a bigger CRF step.
    """
    if tmp_path.stat().st_size <= cap_bytes:
        return crf, False
    first = tmp_path.with_name(tmp_path.name + ".first.mp4")
    os.replace(tmp_path, first)
    try:
        for _ in range(MAX_REENCODES):
            size = (tmp_path if tmp_path.exists() else first).stat().st_size
            new_crf = _next_crf(codec, crf)
            if new_crf == crf:
                break
            logger.info("output {} B over the cap {} B: re-encoding at crf {}", size, cap_bytes, new_crf)
            left = remaining_s(deadline)
            if left is not None and left <= 0:
                raise DeadlineExceeded("deadline passed before the size-cap re-encode")
            try:
                run_ffmpeg(
                    ["-i", str(first), "-map", "0:v:0", "-fps_mode", "passthrough",
                     *codec_args(codec, new_crf, preset, threads, None, 0.0), *colour_tags,
                     *container_args(), str(tmp_path)],
                    ffmpeg=ffmpeg,
                    timeout_s=600 if left is None else max(left, 0.01),
                )  # fmt: skip
            except FfmpegError as exc:
                if left is not None and "timed out" in str(exc):
                    raise DeadlineExceeded("deadline passed during the size-cap re-encode") from exc
                raise
            crf = new_crf
            if tmp_path.stat().st_size <= cap_bytes:
                return crf, True
    finally:
        first.unlink(missing_ok=True)
    size = tmp_path.stat().st_size if tmp_path.exists() else -1
    raise UpscaleError(f"output is {size} B, over the size cap of {cap_bytes} B even at crf {crf}")


def elapsed_since(started: float) -> float:
    return round(time.monotonic() - started, 3)
