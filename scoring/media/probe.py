"""Probe a video file with PyAV (the imageio-ffmpeg wheel has no ffprobe)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av

from scoring.media.bitstream import BitstreamError, InbandScan

MP4_DEMUXER = "mov,mp4,m4a,3gp,3g2,mj2"
"""FFmpeg's demuxer name for MP4 and QuickTime; `container_brand` tells them apart."""


class ProbeError(ValueError):
    """The file is missing, empty, not a media file, or has no decodable video stream."""


@dataclass(frozen=True)
class ProbeInfo:
    """What a probe learns about the first video stream of a file.

    `sar` is "W:H"; an unspecified SAR (0:1 in the stream) is reported as "1:1", as every player
    treats it. `frame_count` counts the video packets when probed with `count_frames=True`
    (a demux pass, no decode), else the container's declared count (0 if it declares none).
    `container_brand` is the MP4/MOV `major_brand` ("isom", "mp42", "qt  ", ...) or "".
    `stream_sha256` (only with `count_frames=True`) hashes the video packets' payloads in file
    order: two files with the same value carry the same coded stream, whatever the container.
    `color_range` / `colorspace` / `color_primaries` / `color_trc` are FFmpeg's AVColorRange /
    AVColorSpace / AVColorPrimaries / AVColorTransferCharacteristic of the stream (0 / 2 / 2 / 2 =
    unspecified); `video_streams` / `other_streams` count the container's streams.
    `chroma_qp_problem` (only with `count_frames=True`, H.264/HEVC) names an in-band PPS that
    quantises chroma coarser than an honest encoder does (`scoring.media.bitstream`), else "".
    """

    path: str
    container: str
    codec: str
    profile: str | None
    width: int
    height: int
    pix_fmt: str
    sar: str
    avg_fps: float
    frame_count: int
    duration_s: float
    size_bytes: int
    declared_frames: int = 0
    container_brand: str = ""
    stream_sha256: str = ""
    color_range: int = 0
    colorspace: int = 2
    color_primaries: int = 2
    color_trc: int = 2
    video_streams: int = 1
    other_streams: int = 0
    chroma_qp_problem: str = ""

    @property
    def is_mp4(self) -> bool:
        """MP4 proper (ISO BMFF), not QuickTime .mov, Matroska or anything else."""
        return self.container == MP4_DEMUXER and self.container_brand.strip().lower() != "qt"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _fmt_sar(value: Fraction | None) -> str:
    if value is None or value.numerator == 0 or value.denominator == 0:
        return "1:1"
    return f"{value.numerator}:{value.denominator}"


def _fps(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate is not None and rate.denominator != 0 and rate > 0:
            return float(rate)
    return 0.0


def _duration_s(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def count_packets(
    container: av.container.InputContainer,
    stream_index: int,
    max_packets: int | None = None,
    scan: InbandScan | None = None,
) -> tuple[int, str]:
    """Number of non-empty packets of one stream (one per frame for video) and the sha256 of their
    payloads; demux only, no decode. Stops after `max_packets` + 1 packets (the count then says
    "more than `max_packets`"): a hostile header cannot make the probe read millions of packets.
    `scan` (optional) reads the NAL unit headers of every packet and parses in-band PPS bodies."""
    n = 0
    digest = hashlib.sha256()
    for packet in container.demux(container.streams[stream_index]):
        if packet.size > 0:
            n += 1
            data = bytes(packet)
            digest.update(data)
            if scan is not None:
                scan.packet(data)
            if max_packets is not None and n > max_packets:
                break
    return n, digest.hexdigest()


def _inband_scan(codec: str, extradata: bytes | None) -> InbandScan | None:
    if codec not in ("hevc", "h264") or not extradata:
        return None  # Annex B or unknown: no length-prefixed packets (an MP4 always has hvcC/avcC)
    try:
        return InbandScan.for_config(codec, extradata)
    except (BitstreamError, IndexError):
        return None  # the header check (`scoring.header_checks`) reports an unreadable record


def probe(path: str | Path, *, count_frames: bool = True, max_packets: int | None = None) -> ProbeInfo:
    """Probe the first video stream of `path`; raise `ProbeError` naming why it is not a video.

    With `max_packets` the packet count stops past that many (then `frame_count == max_packets + 1`)."""
    p = Path(path)
    if not p.exists():
        raise ProbeError(f"{p}: no such file")
    if not p.is_file():
        raise ProbeError(f"{p}: not a regular file")
    size = os.stat(p).st_size
    if size == 0:
        raise ProbeError(f"{p}: file is empty (0 bytes)")
    try:
        container = av.open(str(p), mode="r")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise ProbeError(f"{p}: not a media file ({exc})") from exc
    try:
        if not container.streams.video:
            raise ProbeError(f"{p}: no video stream")
        stream = container.streams.video[0]
        cc = stream.codec_context
        if cc is None:  # e.g. a corrupted or unknown sample entry: FFmpeg has no decoder for it
            raise ProbeError(f"{p}: video stream has no known codec")
        if not cc.width or not cc.height or cc.format is None:
            raise ProbeError(f"{p}: video stream has no dimensions or pixel format")
        codec = getattr(cc.codec, "canonical_name", None) or cc.codec.name
        declared = int(stream.frames or 0)
        brand = str(container.metadata.get("major_brand", "") or "")
        scan = _inband_scan(codec, cc.extradata) if count_frames else None
        frames, stream_sha = (
            count_packets(container, stream.index, max_packets, scan) if count_frames else (declared, "")
        )
        return ProbeInfo(
            path=str(p),
            container=container.format.name,
            codec=codec,
            profile=stream.profile or None,
            width=int(cc.width),
            height=int(cc.height),
            pix_fmt=cc.format.name,
            sar=_fmt_sar(stream.sample_aspect_ratio or cc.sample_aspect_ratio),
            avg_fps=_fps(stream),
            frame_count=frames,
            duration_s=_duration_s(container, stream),
            size_bytes=size,
            declared_frames=declared,
            container_brand=brand,
            stream_sha256=stream_sha,
            color_range=int(getattr(cc, "color_range", 0) or 0),
            colorspace=int(getattr(cc, "colorspace", 2) or 2),
            color_primaries=int(getattr(cc, "color_primaries", 2) or 2),
            color_trc=int(getattr(cc, "color_trc", 2) or 2),
            video_streams=len(container.streams.video),
            other_streams=len(container.streams) - len(container.streams.video),
            chroma_qp_problem=(scan.problem or "") if scan is not None else "",
        )
    except av.FFmpegError as exc:
        raise ProbeError(f"{p}: cannot read the video stream ({exc})") from exc
    finally:
        container.close()
