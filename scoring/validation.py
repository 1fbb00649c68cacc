"""Output validation (docs/scoring.md#output-validation): is a miner's response a well-formed answer to its task?

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

Hostile files: the MP4 header is checked before any decoder opens the file (`scoring.header_checks`:
edit lists, sample tables, extra tracks, display matrix, declared frame size; PyAV's open decodes a
frame to learn the stream: ~1 s and ~150 MB for a 24 kB file declaring 8192x8192). The probe reads
at most `frame_count + frame_tolerance + 1` packets; the one decode pass (`scoring.media.decode`)
stops at the first frame whose size, pixel format or colour tags are not the stream's (an in-band
SPS can change them mid-stream) and after that many frames or packets (millions of tiny skip frames
would otherwise all decode). Colour tags: see `colour_tag_failure`.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from loguru import logger

from scoring.budget import Budget
from scoring.header_checks import header_problems
from scoring.media.decode import SAME_TRANSFER, FrameRules, SampledFrames
from scoring.media.decode import decode_pass as _decode
from scoring.media.mp4box import read_mp4_header
from scoring.media.probe import ProbeError, ProbeInfo, probe
from scoring.metrics.config import MetricsConfig

DECODER_DELAY_PACKETS = 16
"""Packets a decoder may hold before its first frame (B-frame/frame-thread delay): the packet cap's slack."""

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
    EDIT_LIST = "edit_list"
    SAMPLE_TABLE = "sample_table"
    EXTRA_STREAM = "extra_stream"
    DISPLAY_MATRIX = "display_matrix"
    COLOUR_TAGS = "colour_tags"
    CHROMA_QP_OFFSET = "chroma_qp_offset"
    SCORING_BUDGET_EXCEEDED = "scoring_budget_exceeded"


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
    sampled: SampledFrames | None = field(default=None, compare=False, repr=False)

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
    """Decode every frame; count them and note the first error (kept for callers of the old API).

    Stops (`capped`) once `max_frames` frames decoded, and with an error at the first frame whose
    width x height is not `size`."""
    packets = None if max_frames is None else max_frames + DECODER_DELAY_PACKETS
    r = _decode(path, max_frames=max_frames, max_packets=packets, rules=FrameRules(size=size))
    return DecodePass(r.frames, r.error, r.capped)


@dataclass(frozen=True)
class FramePlan:
    """Frames the metrics will need from the answer's one decode pass (chosen once the probe is known)."""

    yuv: frozenset[int] = frozenset()
    rgb: frozenset[int] = frozenset()
    rgb_colorspace: int | None = None


def header_failures(path: Path, expected: ExpectedOutput) -> tuple[list[Failure], bool]:
    """Failures the MP4 header alone shows, and whether a header could be read at all."""
    header = read_mp4_header(path)
    if header is None:
        return [], False
    problems = header_problems(
        header,
        width=expected.width,
        height=expected.height,
        frame_count=expected.frame_count,
        frame_tolerance=expected.frame_tolerance,
    )
    return [Failure(Reason(r), detail) for r, detail in problems], True


def header_bomb(path: Path, expected: ExpectedOutput) -> Failure | None:
    """WRONG_RESOLUTION when the MP4 header declares a frame larger than expected (nothing decoded)."""
    failures, _ = header_failures(path, expected)
    return next((f for f in failures if f.reason == Reason.WRONG_RESOLUTION), None)


def colour_tag_failure(info: ProbeInfo, ref: ProbeInfo) -> Failure | None:
    """COLOUR_TAGS when the answer declares a colour range, matrix, primaries or transfer other than the reference's.

    Every stage compares the coded planes (VMAF and the colour check directly, PIE-APP after one RGB
    conversion with the reference's matrix): that is right only when both files mean the same
    colours by the same numbers. Unspecified counts as the reference's (limited range; its matrix).
    """
    rng = {0: 1}
    if rng.get(info.color_range, info.color_range) != rng.get(ref.color_range, ref.color_range):
        return Failure(
            Reason.COLOUR_TAGS,
            f"colour range {'full' if info.color_range == 2 else 'limited'} differs from the reference's; "
            "answers keep the reference's colour range",
        )
    same_601 = {5, 6}
    if 2 not in (info.colorspace, ref.colorspace) and info.colorspace != ref.colorspace:
        if not {info.colorspace, ref.colorspace} <= same_601:
            return Failure(
                Reason.COLOUR_TAGS,
                f"colour matrix {info.colorspace} differs from the reference's ({ref.colorspace}); "
                "answers keep the reference's colour matrix",
            )
    # primaries and transfer do not change the planes any stage compares, but they change what a
    # player shows: a BT.2020/PQ-tagged answer to a BT.709 clip is the wrong picture. Unspecified
    # on either side matches (an encoder that writes no tags keeps the reference's meaning).
    for what, got, want, same in (
        ("colour primaries", info.color_primaries, ref.color_primaries, frozenset()),
        ("transfer", info.color_trc, ref.color_trc, SAME_TRANSFER),
    ):
        if 2 not in (got, want) and got != want and not {got, want} <= same:
            return Failure(
                Reason.COLOUR_TAGS,
                f"{what} {got} differ from the reference's ({want}); answers keep the reference's colour tags",
            )
    return None


def _sorted(failures: list[Failure]) -> tuple[Failure, ...]:
    order = list(Reason)
    return tuple(sorted(failures, key=lambda f: order.index(f.reason)))


def validate_output(
    distorted: str | Path,
    expected: ExpectedOutput,
    *,
    reference: str | Path | ProbeInfo | None = None,
    reference_sha256: str | None = None,
    seen_sha256: Collection[str] = (),
    url: str | None = None,
    seen_urls: Collection[str] = (),
    plan: Callable[[ProbeInfo], FramePlan] | None = None,
    budget: Budget | None = None,
) -> ValidationResult:
    """Validate one response file against `expected` and, if given, the reference it must differ from.

    `reference` may be a path or its `ProbeInfo` (probed with `count_frames=True`, so that it has
    `stream_sha256`). The MP4 header is checked first (`scoring.header_checks`); a file it refuses is
    neither probed nor decoded. The probe reads at most the frames the task allows; the one decode
    pass checks every frame and keeps the frames `plan(probe)` asks for (`ValidationResult.sampled`).
    The decode pass is skipped when the file is already refused for its size, resolution or for
    being the reference (decoding it would only cost time). `budget` bounds the decode pass.
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
    pre, has_header = header_failures(path, expected)
    if pre:
        size = path.stat().st_size
        if size > expected.max_size_bytes:
            rule = expected.size_rule or f"<= {expected.max_size_bytes} bytes"
            pre.append(Failure(Reason.OVERSIZED, f"file is {size} bytes, must be {rule}"))
        result = ValidationResult(_sorted([*pre, *dup]), digest, None, None, time.monotonic() - started)
        logger.debug("validation of {} failed before decoding: {}", path.name, "; ".join(result.messages))
        return result
    cap = expected.frame_count + expected.frame_tolerance + 1
    try:
        info = probe(path, max_packets=cap)
    except ProbeError as exc:
        return ValidationResult((Failure(Reason.NOT_A_VIDEO, str(exc)), *dup), sha256=digest)

    failures = check_output(info, expected)
    if info.chroma_qp_problem:
        failures.append(Failure(Reason.CHROMA_QP_OFFSET, info.chroma_qp_problem))
    if info.is_mp4 and not has_header:
        failures.append(Failure(Reason.WRONG_CONTAINER, "the MP4 boxes cannot be read (no readable moov)"))
    if info.video_streams != 1 or info.other_streams:
        failures.append(
            Failure(
                Reason.EXTRA_STREAM,
                f"{info.video_streams} video and {info.other_streams} other streams; exactly one video stream is accepted",
            )
        )
    ref_info: ProbeInfo | None = None
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
        tags = colour_tag_failure(info, ref_info)
        if tags is not None:
            failures.append(tags)

    decoded: int | None = None
    sampled: SampledFrames | None = None
    refused = (Reason.OVERSIZED, Reason.WRONG_RESOLUTION, Reason.SAME_AS_REFERENCE, Reason.EXTRA_STREAM)
    if not any(f.reason in refused for f in failures):
        want = plan(info) if plan is not None else FramePlan()
        dp = _decode(
            path,
            keep_yuv=want.yuv,
            keep_rgb=want.rgb,
            max_frames=cap,
            max_packets=cap + DECODER_DELAY_PACKETS,
            rules=FrameRules(
                size=(info.width, info.height),
                pix_fmt=info.pix_fmt,
                color_range=info.color_range,
                colorspace=info.colorspace,
                color_primaries=info.color_primaries,
                color_trc=info.color_trc,
                upright=True,
            ),
            rgb_colorspace=want.rgb_colorspace,
            budget=budget,
        )
        decoded, sampled = dp.frames, dp.sampled
        if dp.error:
            kind = {
                "pix_fmt": Reason.WRONG_PIX_FMT,
                "colour": Reason.COLOUR_TAGS,
                "display": Reason.DISPLAY_MATRIX,
            }.get(dp.error_kind or "", Reason.DECODE_ERROR)
            failures.append(Failure(kind, f"{dp.error} (after {dp.frames} frames)"))
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
                    f"more than {cap - 1} frames (decoding stopped there), "
                    f"expected {expected.frame_count} ± {expected.frame_tolerance}",
                )
            )
        elif not dp.error:  # a stream cut short by a bad frame is refused for that frame
            failures += [
                f
                for f in check_output(info, expected, decoded_frames=decoded)
                if f.reason == Reason.FRAME_COUNT_MISMATCH
            ]
    failures += dup
    result = ValidationResult(_sorted(failures), digest, info, decoded, time.monotonic() - started, sampled)
    if failures:
        logger.debug("validation of {} failed: {}", path.name, "; ".join(result.messages))
    return result
