"""Small synthetic clips for tests, generated with the imageio-ffmpeg binary and lavfi sources.

Reusable by every test package: `from tests.media_factory import make_clip, reencode, remux`.
Keep clips small (64x64..160x90, <= 60 frames) so the whole suite stays fast on 2 cores.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scoring.media.ffmpeg import run_ffmpeg

ENCODERS: dict[str, list[str]] = {
    "h264": ["-c:v", "libx264", "-preset", "ultrafast"],
    "hevc": ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error"],
    "av1": ["-c:v", "libsvtav1", "-preset", "12"],
    "mpeg4": ["-c:v", "mpeg4"],
    "ffv1": ["-c:v", "ffv1"],
}


def encoder_args(
    codec: str, *, crf: int | None = None, qp: int | None = None, bframes: int | None = None
) -> list[str]:
    """ffmpeg encoder options for a codec name (h264, hevc, av1, mpeg4, ffv1) or a raw encoder name."""
    args = list(ENCODERS.get(codec, ["-c:v", codec]))
    if qp is not None:
        args += ["-qp", str(qp)]
    if crf is not None:
        args += ["-crf", str(crf)]
    if bframes is not None:
        args += ["-bf", str(bframes)]
    return args


def make_clip(
    path: str | Path,
    size: tuple[int, int] = (64, 64),
    fps: float = 24,
    frames: int = 24,
    codec: str = "h264",
    pix_fmt: str = "yuv420p",
    pattern: str = "testsrc2",
    *,
    crf: int | None = None,
    qp: int | None = None,
    bframes: int | None = None,
    gop: int | None = None,
    extra: Sequence[str] = (),
    vf: str | None = None,
) -> Path:
    """Encode `frames` frames of a lavfi `pattern` (testsrc2, mandelbrot, smptebars, color=c=black, ...).

    The container follows the file extension. `vf` appends a filter chain (e.g. a black frame:
    `drawbox=c=black:t=fill:enable='eq(n,5)'`). Returns the path.
    """
    w, h = size
    sep = ":" if "=" in pattern else "="
    src = f"{pattern}{sep}size={w}x{h}:rate={fps}"
    out = Path(path)
    args = ["-loglevel", "error", "-f", "lavfi", "-i", src, "-frames:v", str(frames)]
    if vf:
        args += ["-vf", vf]
    args += encoder_args(codec, crf=crf, qp=qp, bframes=bframes)
    if gop is not None:
        args += ["-g", str(gop)]
    args += ["-pix_fmt", pix_fmt, *extra, str(out)]
    run_ffmpeg(args, timeout_s=120)
    return out


def reencode(
    src: str | Path,
    dst: str | Path,
    codec: str = "h264",
    *,
    crf: int | None = None,
    qp: int | None = None,
    vf: str | None = None,
    pix_fmt: str = "yuv420p",
    extra: Sequence[str] = (),
) -> Path:
    """Re-encode `src` into `dst` (container from the extension), optionally filtered with `vf`."""
    args = ["-loglevel", "error", "-i", str(src)]
    if vf:
        args += ["-vf", vf]
    args += [*encoder_args(codec, crf=crf, qp=qp), "-pix_fmt", pix_fmt, *extra, str(dst)]
    run_ffmpeg(args, timeout_s=120)
    return Path(dst)


def remux(src: str | Path, dst: str | Path, *, extra: Sequence[str] = ()) -> Path:
    """Copy the streams of `src` into another container (`dst`'s extension), no re-encode."""
    run_ffmpeg(["-loglevel", "error", "-i", str(src), "-c", "copy", *extra, str(dst)], timeout_s=60)
    return Path(dst)


def decode_all_y(path: str | Path, size: tuple[int, int]) -> np.ndarray:
    """All Y planes of a yuv420p clip via an ffmpeg CLI sequential decode: array [N, H, W] uint8."""
    w, h = size
    proc = run_ffmpeg(["-loglevel", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "yuv420p", "-"])
    frame_bytes = w * h * 3 // 2
    raw = np.frombuffer(proc.stdout, dtype=np.uint8)
    n = raw.size // frame_bytes
    return raw[: n * frame_bytes].reshape(n, frame_bytes)[:, : w * h].reshape(n, h, w)
