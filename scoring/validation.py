"""Output validation (SPEC §6.4): is a miner's response a well-formed answer to its task?

Runs before any metric; a failure scores 0 with named reasons. `check_output` is the pure part
(probe data vs expectations); `validate_output` adds the I/O: file hash, probe, a full decode pass
of the response, and the identity checks against the reference.

Identity checks (both are done):
- byte-identical: the response's sha256 equals the reference file's sha256;
- stream-identical: the response's video packets carry the same bytes as the reference's
  (`ProbeInfo.stream_sha256`, computed during the probe's demux pass at no extra cost), so a remux
  of the reference into another container or with other metadata is caught. A re-encode is not
  stream-identical; it is judged by the metrics like any other answer.
A duplicate submission is a sha256 (or URL) already seen for the same task; the caller supplies
what it has seen and records `ValidationResult.sha256`.

Decompression bombs: an MP4 whose header (`scoring.media.mp4box`) declares a frame larger than the
expected one is refused before any decoder opens it (PyAV's open decodes a frame to learn the
stream: ~1 s and ~150 MB for a 24 kB file declaring 8192x8192); the decode pass stops at the first
frame whose size is not the expected one (an in-band SPS can change it mid-stream) and after
`frame_count + frame_tolerance + 1` frames (millions of tiny skip frames would otherwise all decode).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Collection
from contextlib import closing
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from loguru import logger

from scoring.media.frames import DecodeError, iter_frames
from scoring.media.mp4box import read_mp4_header
from scoring.media.probe import ProbeError, ProbeInfo, probe
from scoring.metrics.config import MetricsConfig

CODEC_ALIASES = {"h265": "hevc", "x265": "hevc", "avc": "h264", "x264": "h264", "av01": "av1"}


class Reason(StrEnum):
    """Why a response is refused. Values are stable strings stored in the database."""

    NOT_A_VIDEO = "not_a_video"
    EMPTY_FILE = "empty_file"
    WRONG_CONTAINER = "wrong_container"
    WRONG_CODEC = "wrong_codec"
    WRONG_RESOLUTION = "wrong_resolution"
    WRONG_PIX_FMT = "wrong_pix_fmt"
    WRONG_SAR = "wrong_sar"
    FPS_MISMATCH = "fps_mismatch"
    FRAME_COUNT_MISMATCH = "frame_count_mismatch"
    DECODE_ERROR = "decode_error"
    OVERSIZED = "oversized"
    SAME_AS_REFERENCE = "same_as_reference"
    DUPLICATE_SUBMISSION = "duplicate_submission"
    CHROMA_MISMATCH = "chroma_mismatch"
    VMAF_ENHANCEMENT_GAP = "vmaf_enhancement_gap"


@dataclass(frozen=True)
class Failure:
    reason: Reason
    detail: str

    def __str__(self) -> str:
        return f"{self.reason.value}: {self.detail}"


@dataclass(frozen=True)
class ExpectedOutput:
    """What a valid response looks like. `max_size_bytes` is inclusive."""

    codecs: tuple[str, ...]
    width: int
    height: int
    fps: float
    frame_count: int
    max_size_bytes: int
    fps_tolerance: float = 0.3
    frame_tolerance: int = 2
    pix_fmt: str = "yuv420p"
    sar: str = "1:1"
    size_rule: str = ""


@dataclass(frozen=True)
class ValidationResult:
    """`ok` or the failures found (several may apply); `probe` is None when the file is not a video."""

    failures: tuple[Failure, ...]
    sha256: str | None = None
    probe: ProbeInfo | None = None
    decoded_frames: int | None = None
    elapsed_s: float = field(default=0.0, compare=False)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def reasons(self) -> list[str]:
        return [f.reason.value for f in self.failures]

    @property
    def messages(self) -> list[str]:
        return [str(f) for f in self.failures]


def normalise_codec(name: str) -> str:
    n = name.strip().lower()
    return CODEC_ALIASES.get(n, n)


def expected_for_compression(reference: ProbeInfo, codec: str, cfg: MetricsConfig) -> ExpectedOutput:
    """Compression: same resolution, fps and frame count as the original, the task's codec, smaller file."""
    return ExpectedOutput(
        codecs=(normalise_codec(codec),),
        width=reference.width,
        height=reference.height,
        fps=reference.avg_fps,
        frame_count=reference.frame_count,
        max_size_bytes=reference.size_bytes - 1,
        fps_tolerance=cfg.fps_tolerance,
        frame_tolerance=cfg.frame_tolerance,
        size_rule=f"< original ({reference.size_bytes} bytes)",
    )


def expected_for_upscaling(
    input_info: ProbeInfo, scale: int, cfg: MetricsConfig, reference: ProbeInfo | None = None
) -> ExpectedOutput:
    """Upscaling: input x scale, fps and frame count of the reference (else the input), size cap x2: 8x, x4: 20x."""
    ratio = cfg.max_size_ratio(scale)
    timing = reference or input_info
    return ExpectedOutput(
        codecs=tuple(normalise_codec(c) for c in cfg.upscaling_codecs),
        width=input_info.width * scale,
        height=input_info.height * scale,
        fps=timing.avg_fps,
        frame_count=timing.frame_count,
        max_size_bytes=int(ratio * input_info.size_bytes),
        fps_tolerance=cfg.fps_tolerance,
        frame_tolerance=cfg.frame_tolerance,
        size_rule=f"<= {ratio:g} x input ({input_info.size_bytes} bytes)",
    )


def check_output(
    info: ProbeInfo, expected: ExpectedOutput, *, decoded_frames: int | None = None
) -> list[Failure]:
    """Pure check of probe data against expectations; `decoded_frames` (if known) is the authoritative count."""
    out: list[Failure] = []
    if not info.is_mp4:
        brand = f", brand {info.container_brand!r}" if info.container_brand else ""
        out.append(Failure(Reason.WRONG_CONTAINER, f"container is {info.container}{brand}, expected mp4"))
    if normalise_codec(info.codec) not in expected.codecs:
        out.append(
            Failure(Reason.WRONG_CODEC, f"codec is {info.codec}, expected {' or '.join(expected.codecs)}")
        )
    if (info.width, info.height) != (expected.width, expected.height):
        out.append(
            Failure(
                Reason.WRONG_RESOLUTION,
                f"resolution is {info.width}x{info.height}, expected {expected.width}x{expected.height}",
            )
        )
    if info.pix_fmt != expected.pix_fmt:
        out.append(
            Failure(Reason.WRONG_PIX_FMT, f"pixel format is {info.pix_fmt}, expected {expected.pix_fmt}")
        )
    if info.sar != expected.sar:
        out.append(Failure(Reason.WRONG_SAR, f"sample aspect ratio is {info.sar}, expected {expected.sar}"))
    if abs(info.avg_fps - expected.fps) > expected.fps_tolerance + 1e-9:
        out.append(
            Failure(
                Reason.FPS_MISMATCH,
                f"average fps is {info.avg_fps:.3f}, expected {expected.fps:.3f} ± {expected.fps_tolerance:g}",
            )
        )
    frames = info.frame_count if decoded_frames is None else decoded_frames
    if abs(frames - expected.frame_count) > expected.frame_tolerance:
        out.append(
            Failure(
                Reason.FRAME_COUNT_MISMATCH,
                f"{frames} frames, expected {expected.frame_count} ± {expected.frame_tolerance}",
            )
        )
    if info.size_bytes > expected.max_size_bytes:
        rule = expected.size_rule or f"<= {expected.max_size_bytes} bytes"
        out.append(Failure(Reason.OVERSIZED, f"file is {info.size_bytes} bytes, must be {rule}"))
    return out


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


@dataclass(frozen=True)
class DecodePass:
    frames: int
    error: str | None
    capped: bool = False


def decode_pass(
    path: str | Path, *, max_frames: int | None = None, size: tuple[int, int] | None = None
) -> DecodePass:
    """Decode every frame; count them and note the first error.

    Stops (`capped`) once `max_frames` frames decoded, and with an error at the first frame whose
    width x height is not `size`."""
    n = 0
    try:
        with closing(iter_frames(path)) as frames:
            for frame in frames:
                if size is not None and (frame.width, frame.height) != size:
                    return DecodePass(
                        n, f"frame {n} is {frame.width}x{frame.height}, the stream is {size[0]}x{size[1]}"
                    )
                n += 1
                if max_frames is not None and n >= max_frames:
                    return DecodePass(n, None, capped=True)
    except DecodeError as exc:
        return DecodePass(n, str(exc))
    return DecodePass(n, None)


def header_bomb(path: Path, expected: ExpectedOutput) -> Failure | None:
    """WRONG_RESOLUTION when the MP4 header declares a frame larger than expected (nothing decoded)."""
    header = read_mp4_header(path)
    if header is None or not header.video_tracks:
        return None
    track = header.video_tracks[0]
    if track.pixels <= expected.width * expected.height:
        return None
    return Failure(
        Reason.WRONG_RESOLUTION,
        f"resolution is {track.width}x{track.height} (declared by the MP4 header, not decoded), "
        f"expected {expected.width}x{expected.height}",
    )


def validate_output(
    distorted: str | Path,
    expected: ExpectedOutput,
    *,
    reference: str | Path | ProbeInfo | None = None,
    reference_sha256: str | None = None,
    seen_sha256: Collection[str] = (),
    url: str | None = None,
    seen_urls: Collection[str] = (),
) -> ValidationResult:
    """Validate one response file against `expected` and, if given, the reference it must differ from.

    `reference` may be a path or its `ProbeInfo` (probed with `count_frames=True`, so that it has
    `stream_sha256`). The full decode pass is skipped when the file is already refused for its
    size, resolution or for being the reference (decoding it would only cost time).
    """
    started = time.monotonic()
    path = Path(distorted)
    if not path.is_file():
        return ValidationResult((Failure(Reason.NOT_A_VIDEO, f"{path}: no such file"),))
    digest = file_sha256(path)
    if path.stat().st_size == 0:
        return ValidationResult((Failure(Reason.EMPTY_FILE, "file is empty (0 bytes)"),), sha256=digest)
    dup: list[Failure] = []
    if digest in seen_sha256:
        dup.append(
            Failure(Reason.DUPLICATE_SUBMISSION, f"sha256 {digest[:16]}… was already submitted for this task")
        )
    elif url is not None and url in seen_urls:
        dup.append(Failure(Reason.DUPLICATE_SUBMISSION, "this URL was already submitted for this task"))
    bomb = header_bomb(path, expected)
    if bomb is not None:
        failures = [bomb]
        size = path.stat().st_size
        if size > expected.max_size_bytes:
            rule = expected.size_rule or f"<= {expected.max_size_bytes} bytes"
            failures.append(Failure(Reason.OVERSIZED, f"file is {size} bytes, must be {rule}"))
        result = ValidationResult(tuple([*failures, *dup]), digest, None, None, time.monotonic() - started)
        logger.debug("validation of {} failed before decoding: {}", path.name, "; ".join(result.messages))
        return result
    try:
        info = probe(path)
    except ProbeError as exc:
        return ValidationResult((Failure(Reason.NOT_A_VIDEO, str(exc)), *dup), sha256=digest)

    failures = check_output(info, expected)
    if reference is not None:
        ref_info = reference if isinstance(reference, ProbeInfo) else probe(reference)
        if digest == (reference_sha256 or file_sha256(ref_info.path)):
            failures.append(Failure(Reason.SAME_AS_REFERENCE, "byte-identical to the reference"))
        elif info.stream_sha256 and info.stream_sha256 == ref_info.stream_sha256:
            failures.append(
                Failure(
                    Reason.SAME_AS_REFERENCE, "stream-identical to the reference (same coded video packets)"
                )
            )

    decoded: int | None = None
    refused = (Reason.OVERSIZED, Reason.WRONG_RESOLUTION, Reason.SAME_AS_REFERENCE)
    if not any(f.reason in refused for f in failures):
        cap = expected.frame_count + expected.frame_tolerance + 1
        dp = decode_pass(path, max_frames=cap, size=(info.width, info.height))
        decoded = dp.frames
        if dp.error:
            failures.append(Failure(Reason.DECODE_ERROR, f"{dp.error} (after {dp.frames} frames)"))
        elif not dp.capped and info.declared_frames and dp.frames < info.declared_frames:
            failures.append(
                Failure(
                    Reason.DECODE_ERROR,
                    f"stream ends early: {dp.frames} frames decode of {info.declared_frames} declared by the container",
                )
            )
        # the decoded count is authoritative for the frame-count check
        failures = [f for f in failures if f.reason != Reason.FRAME_COUNT_MISMATCH]
        if dp.capped:
            failures.append(
                Failure(
                    Reason.FRAME_COUNT_MISMATCH,
                    f"more than {dp.frames - 1} frames (decoding stopped there), "
                    f"expected {expected.frame_count} ± {expected.frame_tolerance}",
                )
            )
        else:
            failures += [
                f
                for f in check_output(info, expected, decoded_frames=decoded)
                if f.reason == Reason.FRAME_COUNT_MISMATCH
            ]
    failures += dup
    order = list(Reason)
    failures.sort(key=lambda f: order.index(f.reason))
    result = ValidationResult(tuple(failures), digest, info, decoded, time.monotonic() - started)
    if failures:
        logger.debug("validation of {} failed: {}", path.name, "; ".join(result.messages))
    return result
