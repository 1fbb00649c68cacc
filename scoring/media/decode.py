"""One bounded decode pass that checks every frame and keeps the sampled ones (issue 19).

Scoring an answer used to decode it up to four times (validation, VMAF, colour check, PIE-APP).
`decode_pass` decodes it once, sequentially (exact frame numbering for every codec and B-frame
layout), and on the way:

- checks every frame's size, pixel format and colour tags (range, matrix, primaries, transfer)
  against the stream's (an in-band SPS can switch any of them mid-stream), and that no frame
  carries a rotation/flip display matrix (an H.264/HEVC display-orientation SEI: the ffmpeg CLI
  applies it, PyAV does not, so players would show a picture no stage scored);
- keeps the frames the metrics will need: Y/U/V planes (`keep_yuv`: the VMAF windows and the
  colour check) and RGB (`keep_rgb`: PIE-APP), converted with the colour matrix `rgb_colorspace`
  when the frame does not declare one, so the answer and the reference are read alike;
- stops after `max_frames` frames or `max_packets` demuxed packets (a packet flood never gets
  far), or, with `stop_when_kept`, as soon as every kept frame is in hand (a reference needs no
  more);
- decodes AV1 (libdav1d) on one thread, the others with the codec's threads (CPU-seconds are
  what a busy validator runs out of; see `SINGLE_THREADED`);
- calls `budget.check()` per packet, so a file that makes each packet expensive ends at the
  answer's deadline (`BudgetExceeded`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np
from av.sidedata.sidedata import Type as SideDataType

from scoring.budget import Budget

Planes = tuple[np.ndarray, np.ndarray, np.ndarray]
UNSPECIFIED_COLORSPACE = 2  # also AVCOL_PRI_UNSPECIFIED and AVCOL_TRC_UNSPECIFIED
# transfer characteristics that are the same curve (BT.709 = SMPTE 170M = BT.2020 10/12-bit)
SAME_TRANSFER = frozenset({1, 6, 14, 15})
IDENTITY_MATRIX = (1 << 16, 0, 0, 0, 1 << 16, 0, 0, 0, 1 << 30)
# decoders run single-threaded: libdav1d's own threads cost ~25 % more CPU-seconds on a 1080p answer
# (0.60 vs 0.78 CPU-s for 276 frames); ffmpeg's H.264/HEVC threads cost within noise of 1 thread
SINGLE_THREADED = frozenset({"libdav1d"})


@dataclass
class SampledFrames:
    """Frames kept by one decode pass, by frame number: `yuv[i]` = (Y, U, V) uint8 planes, `rgb[i]` HxWx3."""

    yuv: dict[int, Planes] = field(default_factory=dict)
    rgb: dict[int, np.ndarray] = field(default_factory=dict)

    def y(self, indices: Collection[int]) -> list[np.ndarray]:
        return [self.yuv[i][0] for i in indices]

    def planes(self, indices: Collection[int]) -> list[Planes]:
        """(Y, U, V) planes of `indices`, in that order (the colour check's input)."""
        return [self.yuv[i] for i in indices]

    def rgb_frames(self, indices: Collection[int]) -> list[np.ndarray]:
        return [self.rgb[i] for i in indices]


@dataclass(frozen=True)
class FrameRules:
    """What every frame must be; None = not checked. Colour tags: AVColorRange / AVColorSpace /
    AVColorPrimaries / AVColorTransferCharacteristic values (unspecified matches anything)."""

    size: tuple[int, int] | None = None
    pix_fmt: str | None = None
    color_range: int | None = None
    colorspace: int | None = None
    color_primaries: int | None = None
    color_trc: int | None = None
    upright: bool = False  # refuse a frame with a rotation/flip display matrix


@dataclass(frozen=True)
class DecodeResult:
    frames: int
    packets: int
    error: str | None = None
    error_kind: str | None = None  # "size", "pix_fmt", "colour", "display", "decode"
    capped: bool = False
    sampled: SampledFrames = field(default_factory=SampledFrames, compare=False)


def yuv_planes(frame: av.VideoFrame) -> Planes:
    """Y, U, V of a frame as uint8 arrays (4:2:0 8-bit; other formats are converted)."""
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        frame = frame.reformat(format="yuv420p")
    out = []
    for plane in frame.planes[:3]:
        buf = np.frombuffer(plane, dtype=np.uint8).reshape(plane.height, plane.line_size)
        # unpadded planes are kept in place, read-only: the array holds the frame, whose buffer the
        # decoder may still read as a reference picture but never reuses while it is referenced;
        # padded ones are copied without their padding
        if plane.line_size == plane.width:
            buf.flags.writeable = False
            out.append(buf)
        else:
            out.append(buf[:, : plane.width].copy())
    return out[0], out[1], out[2]


def _normal_range(value: int) -> int:
    return 1 if value == 0 else value  # unspecified is read as limited ("tv") by every stage


def _tag_differs(value: int, want: int | None, same: frozenset[int] = frozenset()) -> bool:
    if want is None or UNSPECIFIED_COLORSPACE in (value, want) or value == want:
        return False
    return not {value, want} <= same


def display_matrix(frame: av.VideoFrame) -> tuple[int, ...] | None:
    """The frame's display matrix (9 x int32, 16.16 / 2.30 fixed point) when it is not the identity."""
    sd = frame.side_data.get(SideDataType.DISPLAYMATRIX)
    if sd is None:
        return None
    raw = bytes(sd)
    m = tuple(int.from_bytes(raw[k : k + 4], "little", signed=True) for k in range(0, 36, 4))
    return None if len(raw) < 36 or m == IDENTITY_MATRIX else m


def _frame_problem(frame: av.VideoFrame, n: int, rules: FrameRules) -> tuple[str, str] | None:
    if rules.size is not None and (frame.width, frame.height) != rules.size:
        return (
            "size",
            f"frame {n} is {frame.width}x{frame.height}, the stream is {rules.size[0]}x{rules.size[1]}",
        )
    fmt = frame.format.name
    if rules.pix_fmt is not None and fmt != rules.pix_fmt:
        return "pix_fmt", f"frame {n} is {fmt}, the stream is {rules.pix_fmt}"
    if rules.color_range is not None and _normal_range(frame.color_range) != _normal_range(rules.color_range):
        return "colour", f"frame {n} has colour range {frame.color_range}, the stream {rules.color_range}"
    if (
        rules.colorspace is not None
        and frame.colorspace != rules.colorspace
        and UNSPECIFIED_COLORSPACE not in (frame.colorspace, rules.colorspace)
    ):
        return "colour", f"frame {n} has colour matrix {frame.colorspace}, the stream {rules.colorspace}"
    if _tag_differs(frame.color_primaries, rules.color_primaries):
        return (
            "colour",
            f"frame {n} has colour primaries {frame.color_primaries}, the stream {rules.color_primaries}",
        )
    if _tag_differs(frame.color_trc, rules.color_trc, SAME_TRANSFER):
        return "colour", f"frame {n} has transfer {frame.color_trc}, the stream {rules.color_trc}"
    if rules.upright and frame.side_data and (m := display_matrix(frame)) is not None:
        return (
            "display",
            f"frame {n} carries a rotation/flip display matrix {list(m[:2])}..: frames must be stored upright",
        )
    return None


def decode_pass(
    path: str | Path,
    *,
    keep_yuv: Collection[int] = (),
    keep_rgb: Collection[int] = (),
    max_frames: int | None = None,
    max_packets: int | None = None,
    stop_when_kept: bool = False,
    rules: FrameRules = FrameRules(),
    rgb_colorspace: int | None = None,
    budget: Budget | None = None,
    sink: Callable[[int, Planes | None, np.ndarray | None], None] | None = None,
) -> DecodeResult:
    """Decode the first video stream once (see the module doc); never raises on bad data (`error`).

    With `sink`, each kept frame goes to `sink(n, yuv, rgb)` (None where not kept) instead of into
    `sampled`: a caller writing many frames away never holds them all."""
    yuv_set, rgb_set = set(keep_yuv), set(keep_rgb)
    last_kept = max(yuv_set | rgb_set, default=-1)
    sampled = SampledFrames()
    n = packets = 0

    def result(error: str | None = None, kind: str | None = None, capped: bool = False) -> DecodeResult:
        return DecodeResult(n, packets, error, kind, capped, sampled)

    try:
        container = av.open(str(path), mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        return result(f"{path}: cannot open ({exc})", "decode")
    try:
        if not container.streams.video:
            return result(f"{path}: no video stream", "decode")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        if stream.codec_context.codec.name in SINGLE_THREADED:
            stream.codec_context.thread_count = 1
        for packet in container.demux(stream):
            if budget is not None:
                budget.check("decoding")
            if packet.size:
                packets += 1
                if max_packets is not None and packets > max_packets:
                    return result(capped=True)
            for frame in packet.decode():
                if frame.is_corrupt:
                    return result(f"{path}: corrupt frame at pts {frame.pts}", "decode")
                problem = _frame_problem(frame, n, rules)
                if problem is not None:
                    return result(problem[1], problem[0])
                yuv = yuv_planes(frame) if n in yuv_set else None
                rgb = None
                if n in rgb_set:
                    if rgb_colorspace is not None and frame.colorspace == UNSPECIFIED_COLORSPACE:
                        frame.colorspace = rgb_colorspace
                    rgb = frame.to_ndarray(format="rgb24")
                if sink is not None and (yuv is not None or rgb is not None):
                    sink(n, yuv, rgb)
                elif sink is None:
                    if yuv is not None:
                        sampled.yuv[n] = yuv
                    if rgb is not None:
                        sampled.rgb[n] = rgb
                n += 1
                if max_frames is not None and n >= max_frames:
                    return result(capped=True)
                if stop_when_kept and n > last_kept:
                    return result()
    except av.FFmpegError as exc:
        return result(f"{path}: decode failed ({exc})", "decode")
    finally:
        container.close()
    return result()
