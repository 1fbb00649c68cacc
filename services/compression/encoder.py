"""ffmpeg command lines for one CRF encode in the validator's required output format.

Output: first video stream only (no audio, subtitles, data or metadata), every frame kept
with its timestamps (`-fps_mode passthrough`: same frame count and fps), yuv420p, SAR 1:1,
MP4 with the index first (`-movflags +faststart`).
"""

from __future__ import annotations

import time
from pathlib import Path

from scoring.media.ffmpeg import FfmpegError, run_ffmpeg

from .errors import CompressionFailed, Deadline, DeadlineExceeded
from .settings import CRF_LIMITS, ENCODERS


def codec_args(codec: str, crf: int, *, preset: str, threads: int, params: str = "", gop: int | None = None) -> list[str]:
    """Encoder arguments (`-c:v ...`) for one codec at one CRF.

    `params` = extra encoder parameters (`key=value:key=value`, appended to `-svtav1-params` /
    `-x265-params`; for h264 to `-x264-params`); `gop` = keyframe interval in frames (`-g`).
    """
    if codec not in ENCODERS:
        raise ValueError(f"unsupported codec {codec!r} (supported: {', '.join(ENCODERS)})")
    lo, hi = CRF_LIMITS[codec]
    if not lo <= crf <= hi:
        raise ValueError(f"CRF {crf} outside {lo}..{hi} for {codec}")
    if params and any(c.isspace() for c in params):
        raise ValueError(f"encoder params must be key=value pairs joined by ':' without spaces, got {params!r}")
    extra = f":{params}" if params else ""
    g = ["-g", str(gop)] if gop is not None else []
    if codec == "av1":
        return [
            "-c:v", "libsvtav1", "-preset", str(preset), "-crf", str(crf), *g,
            "-svtav1-params", f"lp={threads}{extra}",
        ]  # fmt: skip
    if codec == "hevc":
        return [
            "-c:v", "libx265", "-preset", preset, "-crf", str(crf), *g,
            "-x265-params", f"pools={threads}:frame-threads={min(threads, 4)}:log-level=error{extra}",
            "-tag:v", "hvc1",
        ]  # fmt: skip
    x264 = ["-x264-params", params] if params else []
    return ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), *g, *x264, "-threads", str(threads)]


def encode_args(
    source: Path, output: Path, codec: str, crf: int, *, preset: str, threads: int, params: str = "",
    gop: int | None = None,
) -> list[str]:
    """Full ffmpeg argument list (without the binary) encoding `source` into `output` (.mp4)."""
    return [
        "-loglevel", "error",
        "-i", str(source),
        "-map", "0:v:0", "-an", "-sn", "-dn", "-map_metadata", "-1", "-map_chapters", "-1",
        "-fps_mode", "passthrough",
        "-vf", "setsar=1",
        "-pix_fmt", "yuv420p",
        *codec_args(codec, crf, preset=preset, threads=threads, params=params, gop=gop),
        "-movflags", "+faststart",
        "-f", "mp4",
        str(output),
    ]  # fmt: skip


def encode(
    source: Path,
    output: Path,
    codec: str,
    crf: int,
    *,
    preset: str,
    threads: int,
    deadline: Deadline,
    cap_s: float = 3600.0,
    params: str = "",
    gop: int | None = None,
) -> float:
    """Encode `source` into `output`; return the seconds it took.

    On any failure `output` is removed. A timeout caused by the deadline raises DeadlineExceeded;
    any other ffmpeg failure raises CompressionFailed with ffmpeg's reason.
    """
    timeout = deadline.timeout(f"encoding {codec} CRF {crf}", cap_s)
    started = time.monotonic()
    try:
        args = encode_args(source, output, codec, crf, preset=preset, threads=threads, params=params, gop=gop)
        run_ffmpeg(args, timeout_s=timeout)
    except FfmpegError as exc:
        output.unlink(missing_ok=True)
        if deadline.remaining() <= 0.5:
            raise DeadlineExceeded(f"deadline reached while encoding {codec} CRF {crf}") from exc
        raise CompressionFailed(f"{codec} encode at CRF {crf} failed: {exc}") from exc
    except BaseException:
        output.unlink(missing_ok=True)
        raise
    if not output.is_file() or output.stat().st_size == 0:
        output.unlink(missing_ok=True)
        raise CompressionFailed(f"{codec} encode at CRF {crf} produced no output")
    return time.monotonic() - started
