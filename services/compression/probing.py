"""Probe encodes for the CRF search: where to sample the clip, and the `measure(crf)` callable.

Short clips (the validator's 5-10 s tasks) are probed whole: the probe at the chosen CRF *is*
the final file and its VMAF is already the full-clip verification. Longer clips are probed on
`n_samples` windows of `sample_seconds` spread over the clip, cut once into a lossless reference
so that probe VMAF compares against exactly the source frames.
"""

from __future__ import annotations

import time
from pathlib import Path

from loguru import logger
from pydantic import BaseModel, ConfigDict

from scoring.media.ffmpeg import FfmpegError, run_ffmpeg
from scoring.metrics.vmaf import vmaf_full

from .encoder import encode
from .errors import CompressionFailed, Deadline, DeadlineExceeded
from .quality import conservative_vmaf, harmonic_mean
from .settings import CompressionSettings


def plan_samples(
    frame_count: int,
    fps: float,
    *,
    n_samples: int,
    sample_seconds: float,
    full_clip_fraction: float,
) -> list[tuple[int, int]] | None:
    """Inclusive frame ranges of the probe samples, evenly spread; None = probe the whole clip."""
    if frame_count <= 0:
        raise ValueError(f"clip has no frames (frame_count={frame_count})")
    per = max(2, int(round(sample_seconds * (fps if fps > 0 else 25.0))))
    if n_samples * per >= full_clip_fraction * frame_count:
        return None
    ranges: list[tuple[int, int]] = []
    for i in range(n_samples):
        start = int(round((frame_count - per) * (i + 0.5) / n_samples))
        start = min(max(start, 0), frame_count - per)
        ranges.append((start, start + per - 1))
    return ranges


def cut_reference(source: Path, ranges: list[tuple[int, int]], output: Path, *, deadline: Deadline) -> None:
    """Losslessly cut the frame ranges of `source` into one clip (x264 qp 0, yuv420p)."""
    expr = "+".join(f"between(n\\,{a}\\,{b})" for a, b in ranges)
    args = [
        "-loglevel", "error", "-i", str(source), "-map", "0:v:0", "-an", "-sn", "-dn",
        "-vf", f"select='{expr}',setpts=N/FRAME_RATE/TB", "-fps_mode", "passthrough",
        "-pix_fmt", "yuv420p", "-c:v", "libx264", "-qp", "0", "-preset", "ultrafast", str(output),
    ]  # fmt: skip
    try:
        run_ffmpeg(args, timeout_s=deadline.timeout("cutting probe samples", 3600.0))
    except FfmpegError as exc:
        output.unlink(missing_ok=True)
        if deadline.remaining() <= 0.5:
            raise DeadlineExceeded("deadline reached while cutting probe samples") from exc
        raise CompressionFailed(f"cannot cut probe samples from {source.name}: {exc}") from exc


class Measured(BaseModel):
    """One encode and its VMAF against the (sample or full) reference."""

    model_config = ConfigDict(frozen=True)

    crf: int
    path: Path | None
    size_bytes: int
    vmaf: float  # conservative (what the search compares to its target)
    harmonic_mean: float  # over every frame
    frames: int
    encode_s: float
    vmaf_s: float
    per_frame: tuple[float, ...] = ()  # VMAF of every frame, in order


class VmafMeter:
    """Encode-and-measure against one reference; VMAF read the validator's way (conservatively)."""

    def __init__(self, settings: CompressionSettings, deadline: Deadline) -> None:
        self.settings = settings
        self.deadline = deadline
        self.last_scores: list[float] = []

    def score(self, reference: Path, distorted: Path) -> tuple[float, float, int, float]:
        """(conservative VMAF, harmonic mean over all frames, frames, seconds)."""
        s = self.settings
        started = time.monotonic()
        try:
            result = vmaf_full(
                reference,
                distorted,
                model=s.vmaf_model,
                threads=s.threads,
                timeout_s=self.deadline.timeout("measuring VMAF", 3600.0),
            )
        except DeadlineExceeded:
            raise
        except Exception as exc:  # the metric helper raises its own error types
            if self.deadline.remaining() <= 0.5:
                raise DeadlineExceeded("deadline reached while measuring VMAF") from exc
            raise CompressionFailed(f"VMAF measurement failed: {exc}") from exc
        scores = [result.per_frame[i] for i in sorted(result.per_frame)]
        if not scores:
            raise CompressionFailed("VMAF measurement returned no frames")
        self.last_scores = scores
        cons = conservative_vmaf(scores, n_sampled=s.validator_frames, quantile=s.risk_quantile)
        return cons, harmonic_mean(scores), len(scores), time.monotonic() - started


class ClipMeasurer:
    """The search's `measure(crf) -> (vmaf, size)`: encodes `reference` at a CRF and scores it.

    `keep_files=True` (whole-clip probing) keeps every probe encode so the chosen one can be
    published without a re-encode. `size_scale` turns a sample's size into a full-clip estimate.
    """

    def __init__(
        self,
        reference: Path,
        work_dir: Path,
        codec: str,
        settings: CompressionSettings,
        deadline: Deadline,
        *,
        keep_files: bool,
        size_scale: float = 1.0,
    ) -> None:
        self.reference = reference
        self.work_dir = work_dir
        self.codec = codec
        self.settings = settings
        self.deadline = deadline
        self.keep_files = keep_files
        self.size_scale = size_scale
        self.meter = VmafMeter(settings, deadline)
        self.results: dict[int, Measured] = {}

    def measure(self, crf: int) -> Measured:
        out = self.work_dir / f"probe_{self.codec}_crf{crf}.mp4"
        s = self.settings
        enc_s = encode(
            self.reference, out, self.codec, crf, preset=s.preset(self.codec), threads=s.threads,
            deadline=self.deadline, **s.encoder_options(self.codec),
        )  # fmt: skip
        try:
            cons, hm, frames, vmaf_s = self.meter.score(self.reference, out)
            size = out.stat().st_size
        except BaseException:
            out.unlink(missing_ok=True)
            raise
        if not self.keep_files:
            out.unlink(missing_ok=True)
        m = Measured(
            crf=crf,
            path=out if self.keep_files else None,
            size_bytes=int(round(size * self.size_scale)),
            vmaf=cons,
            harmonic_mean=hm,
            frames=frames,
            encode_s=enc_s,
            vmaf_s=vmaf_s,
            per_frame=tuple(self.meter.last_scores),
        )
        self.results[crf] = m
        logger.debug(
            "probe {} CRF {}: VMAF {:.2f} (HM {:.2f}), {} B, {:.1f}+{:.1f} s",
            self.codec, crf, cons, hm, m.size_bytes, enc_s, vmaf_s,
        )  # fmt: skip
        return m

    def __call__(self, crf: int) -> tuple[float, int]:
        m = self.measure(crf)
        return m.vmaf, m.size_bytes

    def last_cost(self) -> float:
        """Seconds the most expensive probe took so far (encode + VMAF), 0 before any probe."""
        return max((m.encode_s + m.vmaf_s for m in self.results.values()), default=0.0)
