"""Read what an MP4 file *declares* (brand, video sample entry, frame size) from its boxes, decoding nothing.

Opening a file with PyAV runs FFmpeg's stream-info pass, which decodes a frame to learn the stream's
parameters: a tiny file that declares 8192x8192 costs ~1 s and ~150 MB before anything can refuse it
(measured). Output validation reads the header first with this module, and a response whose video
track declares a frame larger than the one expected is refused without being opened by a decoder.

Bounded work on hostile input: boxes are walked by seeking (an `mdat` is never read), at most
`MAX_BOXES` boxes are visited, a `moov` larger than `MAX_MOOV_BYTES` is not read, and any
inconsistency (a box running past its parent, a size below 8) ends the walk with what was found.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

MAX_BOXES = 10_000
MAX_MOOV_BYTES = 64 * 1024 * 1024
_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


@dataclass(frozen=True)
class Mp4VideoTrack:
    """A video track as its boxes declare it: sample entry fourcc and frame size (stsd, else tkhd)."""

    fourcc: str
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class Mp4Header:
    major_brand: str
    video_tracks: tuple[Mp4VideoTrack, ...]


def _boxes(data: bytes, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes in data[start:end]; stops at the first bad size."""
    out: list[tuple[bytes, int, int]] = []
    pos = start
    while pos + 8 <= end and len(out) < MAX_BOXES:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                break
            size = struct.unpack_from(">Q", data, pos + 8)[0]
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            break
        out.append((kind, pos + header, pos + size))
        pos += size
    return out


def _track(data: bytes, start: int, end: int) -> Mp4VideoTrack | None:
    handler = b""
    tkhd_size: tuple[int, int] | None = None
    entry: Mp4VideoTrack | None = None
    stack = [(start, end)]
    visited = 0
    while stack and visited < MAX_BOXES:
        s, e = stack.pop()
        for kind, ps, pe in _boxes(data, s, e):
            visited += 1
            if kind in _CONTAINERS:
                stack.append((ps, pe))
            elif kind == b"hdlr" and pe - ps >= 12:
                handler = data[ps + 8 : ps + 12]
            elif kind == b"tkhd" and pe - ps >= 8:
                w, h = struct.unpack_from(">II", data, pe - 8)
                tkhd_size = (w >> 16, h >> 16)
            elif kind == b"stsd" and pe - ps >= 8 + 8 + 28:
                entries = _boxes(data, ps + 8, pe)
                if entries:
                    fourcc, es, ee = entries[0]
                    if ee - es >= 28:
                        w, h = struct.unpack_from(">HH", data, es + 24)
                        entry = Mp4VideoTrack(fourcc.decode("latin-1"), w, h)
    if handler != b"vide":
        return None
    if entry is not None:
        return entry
    if tkhd_size is not None:
        return Mp4VideoTrack("", *tkhd_size)
    return None


def _read_moov(fh: BinaryIO, file_size: int) -> tuple[str, bytes | None]:
    brand = ""
    pos = 0
    for _ in range(MAX_BOXES):
        if pos + 8 > file_size:
            break
        fh.seek(pos)
        head = fh.read(16)
        if len(head) < 8:
            break
        size, kind = struct.unpack_from(">I4s", head)
        header = 8
        if size == 1 and len(head) >= 16:
            size, header = struct.unpack_from(">Q", head, 8)[0], 16
        elif size == 0:
            size = file_size - pos
        if size < header or pos + size > file_size:
            break
        if pos == 0 and kind != b"ftyp":
            return "", None  # not ISO BMFF: the probe decides what it is
        if kind == b"ftyp":
            fh.seek(pos + header)
            brand = fh.read(4).decode("latin-1")
        elif kind == b"moov":
            if size - header > MAX_MOOV_BYTES:
                return brand, None
            fh.seek(pos + header)
            return brand, fh.read(size - header)
        pos += size
    return brand, None


def read_mp4_header(path: str | Path) -> Mp4Header | None:
    """The declared brand and video tracks of an MP4, or None when the file is not one we can read."""
    try:
        with open(path, "rb") as fh:
            brand, moov = _read_moov(fh, os.fstat(fh.fileno()).st_size)
    except OSError:
        return None
    if moov is None:
        return None
    tracks = [t for kind, s, e in _boxes(moov, 0, len(moov)) if kind == b"trak" and (t := _track(moov, s, e))]
    return Mp4Header(brand, tuple(tracks))
