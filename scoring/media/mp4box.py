"""Read what an MP4 file *declares* from its boxes, decoding nothing: brand, tracks, edit lists, sample tables.

Opening a file with PyAV runs FFmpeg's stream-info pass, which decodes a frame to learn the stream's
parameters, and FFmpeg's demuxer obeys whatever the header says (an edit list with one entry per
frame makes the decoder re-decode from the keyframe for every entry: n^2/2 work; one entry
repeated 10,000 times expands a 189 KB file to 12 M packets). Output validation therefore reads
the header first with this module and refuses, before any decoder opens the file, what no honest
encoder writes (`header_failures` in `scoring.validation`).

Bounded work on hostile input: boxes are walked by seeking (an `mdat` is never read), at most
`MAX_BOXES` boxes are visited, a `moov` larger than `MAX_MOOV_BYTES` is not read, tables are read
only as far as their own entry counts and the payload allow, and any inconsistency (a box running
past its parent, a size below 8) ends the walk with what was found (`Mp4Track.table_error` says
what was wrong with a track's tables).
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

MAX_BOXES = 10_000
MAX_MOOV_BYTES = 64 * 1024 * 1024
MAX_TRACKS = 64
MAX_EDITS_READ = 16
_CONTAINERS = {b"trak", b"mdia", b"minf", b"stbl", b"edts"}
CONFIG_BOXES = (b"hvcC", b"avcC", b"av1C")
IDENTITY_MATRIX = (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


@dataclass(frozen=True)
class EditEntry:
    """One `elst` entry: segment duration (movie timescale), media time (-1 = empty edit), rate."""

    segment_duration: int
    media_time: int
    rate: float


@dataclass(frozen=True)
class Mp4Track:
    """A track as its boxes declare it. Counts are None when the box is absent."""

    handler: str
    fourcc: str = ""
    width: int = 0
    height: int = 0
    matrix: tuple[int, ...] = IDENTITY_MATRIX
    timescale: int = 0
    media_duration: int = 0
    edits: tuple[EditEntry, ...] | None = None  # the first MAX_EDITS_READ entries
    edit_count: int = 0
    stsz_count: int | None = None
    stts_count: int | None = None
    stsc_count: int | None = None
    ctts_count: int | None = None
    chunk_count: int | None = None
    sample_entries: int = 0
    table_error: str = ""
    config_box: str = ""  # the sample entry's decoder configuration box: "hvcC", "avcC", "av1C" or ""
    config: bytes = b""  # its payload (parameter sets: `scoring.media.bitstream`)

    @property
    def pixels(self) -> int:
        return self.width * self.height

    @property
    def is_video(self) -> bool:
        return self.handler == "vide"


Mp4VideoTrack = Mp4Track  # the name before issue 19 (only video tracks were read)


@dataclass(frozen=True)
class Mp4Header:
    major_brand: str
    tracks: tuple[Mp4Track, ...] = ()
    has_ftyp: bool = True
    fragmented: bool = False

    @property
    def video_tracks(self) -> tuple[Mp4Track, ...]:
        return tuple(t for t in self.tracks if t.is_video)


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


class _TableError(ValueError):
    pass


def _full_count(data: bytes, ps: int, pe: int, entry_size: int, what: str, skip: int = 0) -> int:
    """entry_count of a full box (version/flags, [skip bytes], count, entries); checks it fits the payload."""
    if pe - ps < 8 + skip:
        raise _TableError(f"{what} box too short")
    count = struct.unpack_from(">I", data, ps + 4 + skip)[0]
    if count * entry_size > pe - ps - 8 - skip:
        raise _TableError(
            f"{what} declares {count} entries, its box holds {(pe - ps - 8 - skip) // entry_size}"
        )
    return count


def _column(data: bytes, ps: int, count: int, entry_size: int, col: int) -> np.ndarray:
    """Column `col` (32-bit big-endian words) of a table of `count` entries starting at ps + 8."""
    words = np.frombuffer(data, dtype=">u4", count=count * entry_size // 4, offset=ps + 8)
    return words.reshape(count, entry_size // 4)[:, col].astype(np.int64)


def _sum_counts(data: bytes, ps: int, count: int, entry_size: int) -> int:
    return int(_column(data, ps, count, entry_size, 0).sum()) if count else 0


def _elst(data: bytes, ps: int, pe: int) -> tuple[int, tuple[EditEntry, ...]]:
    """(entry count, the first `MAX_EDITS_READ` entries)."""
    version = data[ps] if pe > ps else 0
    size = 20 if version == 1 else 12
    count = _full_count(data, ps, pe, size, "elst")
    out = []
    for k in range(min(count, MAX_EDITS_READ)):
        at = ps + 8 + k * size
        if version == 1:
            dur, media = struct.unpack_from(">Qq", data, at)
            rate_i, rate_f = struct.unpack_from(">hh", data, at + 16)
        else:
            dur, media = struct.unpack_from(">Ii", data, at)
            rate_i, rate_f = struct.unpack_from(">hh", data, at + 8)
        out.append(EditEntry(dur, media, rate_i + rate_f / 65536))
    return count, tuple(out)


def _stsc_samples(data: bytes, ps: int, count: int, chunks: int) -> int:
    """Samples the stsc runs assign to `chunks` chunks (first_chunk is 1-based, runs ascending)."""
    if count == 0:
        return 0
    first = _column(data, ps, count, 12, 0)
    per_chunk = _column(data, ps, count, 12, 1)
    nxt = np.append(first[1:], chunks + 1)
    if first[0] < 1 or bool(np.any(nxt < first)) or int(first[-1]) > chunks:
        raise _TableError(f"stsc runs do not cover chunks 1..{chunks} in order")
    return int(((nxt - first) * per_chunk).sum())


def _config(data: bytes, start: int, end: int) -> dict[str, object]:
    """The decoder configuration box among a visual sample entry's children (after its 78-byte header)."""
    for kind, ps, pe in _boxes(data, start, end):
        if kind in CONFIG_BOXES:
            return {"config_box": kind.decode("latin-1"), "config": bytes(data[ps:pe])}
    return {}


def _track(data: bytes, start: int, end: int) -> Mp4Track:
    f: dict = {}
    stsc: tuple[int, int] | None = None
    stack = [(start, end)]
    visited = 0
    try:
        while stack and visited < MAX_BOXES:
            s, e = stack.pop()
            for kind, ps, pe in _boxes(data, s, e):
                visited += 1
                if kind in _CONTAINERS:
                    stack.append((ps, pe))
                elif kind == b"hdlr" and pe - ps >= 12:
                    f.setdefault("handler", data[ps + 8 : ps + 12].decode("latin-1"))
                elif kind == b"tkhd" and pe - ps >= 84:
                    off = ps + (36 if data[ps] == 1 else 24) + 16
                    if off + 44 <= pe:
                        f["matrix"] = struct.unpack_from(">9i", data, off)
                    w, h = struct.unpack_from(">II", data, pe - 8)
                    f.setdefault("width", w >> 16)
                    f.setdefault("height", h >> 16)
                elif kind == b"mdhd" and pe - ps >= 24:
                    if data[ps] == 1 and pe - ps >= 36:
                        f["timescale"], f["media_duration"] = struct.unpack_from(">IQ", data, ps + 20)
                    else:
                        f["timescale"], f["media_duration"] = struct.unpack_from(">II", data, ps + 12)
                elif kind == b"elst":
                    f["edit_count"], f["edits"] = _elst(data, ps, pe)
                elif kind == b"stsd" and pe - ps >= 8 + 8 + 28:
                    entries = _boxes(data, ps + 8, pe)
                    f["sample_entries"] = struct.unpack_from(">I", data, ps + 4)[0]
                    if entries:
                        fourcc, es, ee = entries[0]
                        if ee - es >= 28:
                            w, h = struct.unpack_from(">HH", data, es + 24)
                            f["fourcc"], f["width"], f["height"] = fourcc.decode("latin-1"), w, h
                            f.update(_config(data, es + 78, ee))
                elif kind == b"stsz" and pe - ps >= 12:
                    fixed, count = struct.unpack_from(">II", data, ps + 4)
                    if fixed == 0 and count * 4 > pe - ps - 12:
                        raise _TableError(
                            f"stsz declares {count} samples, its box holds {(pe - ps - 12) // 4}"
                        )
                    f["stsz_count"] = count
                elif kind == b"stz2" and pe - ps >= 12:
                    f["stsz_count"] = struct.unpack_from(">I", data, ps + 8)[0]
                elif kind == b"stts":
                    f["stts_count"] = _sum_counts(data, ps, _full_count(data, ps, pe, 8, "stts"), 8)
                elif kind == b"ctts":
                    f["ctts_count"] = _sum_counts(data, ps, _full_count(data, ps, pe, 8, "ctts"), 8)
                elif kind in (b"stco", b"co64"):
                    f["chunk_count"] = _full_count(data, ps, pe, 4 if kind == b"stco" else 8, kind.decode())
                elif kind == b"stsc":
                    stsc = (ps, _full_count(data, ps, pe, 12, "stsc"))
        if stsc is not None and f.get("chunk_count") is not None:
            f["stsc_count"] = _stsc_samples(data, stsc[0], stsc[1], f["chunk_count"])
    except _TableError as exc:
        f["table_error"] = str(exc)
    f.setdefault("handler", "")
    return Mp4Track(**f)


def _read_moov(fh: BinaryIO, file_size: int) -> tuple[str, bool, bytes | None]:
    """(major brand, ftyp first, moov payload) from a walk of the top-level boxes."""
    brand, has_ftyp = "", False
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
        if kind == b"ftyp" and pos == 0:
            fh.seek(pos + header)
            brand, has_ftyp = fh.read(4).decode("latin-1"), True
        elif kind == b"moov":
            if size - header > MAX_MOOV_BYTES:
                return brand, has_ftyp, None
            fh.seek(pos + header)
            return brand, has_ftyp, fh.read(size - header)
        pos += size
    return brand, has_ftyp, None


def read_mp4_header(path: str | Path) -> Mp4Header | None:
    """The declared brand and tracks of an MP4, or None when no `moov` box can be read (not ISO BMFF,
    or its top-level boxes are broken)."""
    try:
        with open(path, "rb") as fh:
            brand, has_ftyp, moov = _read_moov(fh, os.fstat(fh.fileno()).st_size)
    except OSError:
        return None
    if moov is None:
        return None
    top = _boxes(moov, 0, len(moov))
    tracks = [_track(moov, s, e) for kind, s, e in top if kind == b"trak"][:MAX_TRACKS]
    fragmented = any(kind == b"mvex" for kind, _s, _e in top)
    return Mp4Header(brand, tuple(tracks), has_ftyp=has_ftyp, fragmented=fragmented)
