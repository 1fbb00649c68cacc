"""``lanczos`` engine: one ffmpeg process, swscale Lanczos on the Y'CbCr planes (no RGB trip,
so no colour-matrix loss), SAR forced to 1:1, timestamps passed through (same frames, same fps)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

from loguru import logger

from scoring.media.ffmpeg import FfmpegError, ffmpeg_exe, stderr_tail
from services.upscaling.base import ProgressFn, UpscaleOutcome, validate_request
from services.upscaling.encode import (
    cap_maxrate,
    codec_args,
    container_args,
    elapsed_since,
    encoder_env,
    enforce_size_cap,
    partial_output,
)
from services.upscaling.errors import DeadlineExceeded, UpscaleError, check_deadline
from services.upscaling.outcome import read_outcome
from services.upscaling.settings import UpscaleSettings
from services.upscaling.source import inspect_input

POLL_S = 0.1


def scale_filter(width: int, height: int, full_range: bool) -> str:
    rng = "pc" if full_range else "tv"
    return (
        f"scale={width}:{height}:flags=lanczos+accurate_rnd:in_range={rng}:out_range={rng},"
        "setsar=1,format=yuv420p"
    )


class LanczosEngine:
    name = "lanczos"

    def __init__(self, settings: UpscaleSettings) -> None:
        self.settings = settings
        self.ffmpeg = ffmpeg_exe(settings.ffmpeg_path)

    def upscale(
        self,
        input_path: Path,
        output_path: Path,
        *,
        scale: int,
        target: tuple[int, int],
        deadline: float | None = None,
        progress: ProgressFn | None = None,
    ) -> UpscaleOutcome:
        started = time.monotonic()
        tw, th = validate_request(scale, target)
        check_deadline(deadline, "before starting")
        src = inspect_input(Path(input_path))
        s = self.settings
        cap = int(s.size_ratio(scale) * src.size_bytes)
        tags = src.colour.ffmpeg_tags()
        crf, preset = s.effective_crf, s.effective_preset
        with partial_output(Path(output_path)) as tmp:
            cmd = [
                self.ffmpeg, "-hide_banner", "-nostdin", "-y", "-loglevel", "error", "-nostats",
                "-progress", "pipe:1", "-i", str(src.path), "-map", "0:v:0",
                "-vf", scale_filter(tw, th, src.colour.full_range), "-fps_mode", "passthrough",
                *codec_args(s.codec, crf, preset, s.threads, cap_maxrate(cap, src.duration_s), src.duration_s),
                *tags, *container_args(), str(tmp),
            ]  # fmt: skip
            self._run(cmd, total=src.frames, deadline=deadline, progress=progress)
            crf, reencoded = enforce_size_cap(
                self.ffmpeg, tmp, cap_bytes=cap, codec=s.codec, crf=crf, preset=preset,
                threads=s.threads, colour_tags=tags, deadline=deadline,
            )  # fmt: skip
            outcome = read_outcome(
                tmp,
                Path(output_path),
                engine=self.name,
                crf=crf,
                device="cpu",
                started=started,
                reencoded=reencoded,
            )
            os.replace(tmp, output_path)
        logger.info(
            "lanczos x{} {} -> {}x{} in {:.2f} s ({} frames, {} B)",
            scale, src.path.name, tw, th, elapsed_since(started), outcome.frames, outcome.size_bytes,
        )  # fmt: skip
        return outcome

    def _run(
        self, cmd: list[str], *, total: int, deadline: float | None, progress: ProgressFn | None
    ) -> None:
        try:
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=encoder_env(),
            )
        except OSError as exc:
            raise FfmpegError(f"cannot run ffmpeg {self.ffmpeg}: {exc}", args=cmd) from exc
        state = {"frame": 0}
        err: list[bytes] = []
        readers = [
            threading.Thread(target=_read_progress, args=(proc, state), daemon=True),
            threading.Thread(
                target=lambda: err.append(proc.stderr.read() if proc.stderr else b""), daemon=True
            ),
        ]
        for t in readers:
            t.start()
        last = -1
        try:
            while True:
                try:
                    rc = proc.wait(timeout=POLL_S)
                    break
                except subprocess.TimeoutExpired:
                    pass
                if deadline is not None and time.monotonic() >= deadline:
                    raise DeadlineExceeded(f"deadline passed after {state['frame']}/{total} frames (lanczos)")
                if progress is not None and state["frame"] != last:
                    last = state["frame"]
                    progress(min(last, total), total)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            for t in readers:
                t.join(timeout=5)
        if rc != 0:
            raise FfmpegError(
                f"ffmpeg lanczos scaling exited with status {rc}",
                returncode=rc,
                stderr_tail=stderr_tail(b"".join(err)),
            )
        if progress is not None:
            progress(total, total)


def _read_progress(proc: subprocess.Popen[bytes], state: dict[str, int]) -> None:
    if proc.stdout is None:
        return
    for raw in proc.stdout:
        key, _, value = raw.decode("ascii", "replace").strip().partition("=")
        if key == "frame" and value.isdigit():
            state["frame"] = int(value)


__all__ = ["LanczosEngine", "UpscaleError", "scale_filter"]
