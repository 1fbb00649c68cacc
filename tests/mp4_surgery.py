"""A small MP4 box writer for hostile test files (issue 19): box surgery on honest ffmpeg encodes.

`exploit_files(reference, folder)` builds the exploit set the validator must refuse from its header
or first frames: the edit-list re-map (one entry per frame, quadratic decode), the edit-list flood
(one entry repeated: small and large), a renamed `ftyp`, a mid-stream pixel-format switch, a
rotated answer (display matrix) and an extra (audio) stream. Used by tests/security and
`benchmarks/bench_vmaf.py`.

Edits keep `moov` after `mdat` (ffmpeg's default layout), so growing it never moves sample data
and the chunk offsets stay right.
"""

from __future__ import annotations

import struct
from pathlib import Path

from scoring.media.ffmpeg import run_ffmpeg
from tests.media_factory import encoder_args

Box = tuple[bytes, int, int, int]  # (type, start, header size, end) in the file


def boxes(data: bytes, start: int = 0, end: int | None = None) -> list[Box]:
    end = len(data) if end is None else end
    out: list[Box] = []
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        head = 8
        if size == 1:
            size, head = struct.unpack_from(">Q", data, pos + 8)[0], 16
        elif size == 0:
            size = end - pos
        if size < head or pos + size > end:
            break
        out.append((kind, pos, head, pos + size))
        pos += size
    return out


def find(data: bytes, path: str) -> Box:
    """The first box at a slash path, e.g. "moov/trak/mdia/minf/stbl/stsz"."""
    start, end = 0, len(data)
    found: Box | None = None
    for name in path.split("/"):
        found = next((b for b in boxes(data, start, end) if b[0] == name.encode()), None)
        if found is None:
            raise KeyError(path)
        start, end = found[1] + found[2], found[3]
    assert found is not None
    return found


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), kind) + payload


def replace_in_trak(data: bytes, kind: bytes, new: bytes) -> bytes:
    """Replace (or insert after tkhd) the child `kind` of the first trak; fixes trak and moov sizes."""
    moov = find(data, "moov")
    trak = find(data, "moov/trak")
    assert moov[3] == len(data), "moov must be the last box (no faststart)"
    children = boxes(data, trak[1] + trak[2], trak[3])
    old = next((b for b in children if b[0] == kind), None)
    if old is None:
        tkhd = next(b for b in children if b[0] == b"tkhd")
        at, cut = tkhd[3], tkhd[3]
    else:
        at, cut = old[1], old[3]
    out = bytearray(data[:at] + new + data[cut:])
    delta = len(new) - (cut - at)
    for b in (moov, trak):
        assert b[2] == 8
        struct.pack_into(">I", out, b[1], b[3] - b[1] + delta)
    return bytes(out)


def elst(entries: list[tuple[int, int]]) -> bytes:
    """An edts box holding a version-0 elst with (segment_duration, media_time) entries at rate 1."""
    body = struct.pack(">II", 0, len(entries)) + b"".join(
        struct.pack(">IihH", d, t, 1, 0) for d, t in entries
    )
    return box(b"edts", box(b"elst", body))


def _timing(data: bytes) -> tuple[int, int, int]:
    """(movie timescale, media timescale, media ticks per frame) of the first track."""
    mvhd = find(data, "moov/mvhd")
    movie_ts = struct.unpack_from(">I", data, mvhd[1] + 8 + 12)[0]
    mdhd = find(data, "moov/trak/mdia/mdhd")
    media_ts = struct.unpack_from(">I", data, mdhd[1] + 8 + 12)[0]
    stts = find(data, "moov/trak/mdia/minf/stbl/stts")
    delta = struct.unpack_from(">I", data, stts[1] + 8 + 8 + 4)[0]
    return movie_ts, media_ts, delta


def edit_list_remap(src: Path, dst: Path, frames: int) -> Path:
    """One edit per frame: entry j plays frame j (from a single-keyframe encode: n^2/2 decode work)."""
    data = src.read_bytes()
    movie_ts, media_ts, delta = _timing(data)
    seg = max(1, delta * movie_ts // media_ts)
    dst.write_bytes(replace_in_trak(data, b"edts", elst([(seg, j * delta) for j in range(frames)])))
    return dst


def edit_list_flood(src: Path, dst: Path, repeats: int) -> Path:
    """The whole track as one edit, repeated `repeats` times (a small file, millions of packets)."""
    data = src.read_bytes()
    movie_ts, media_ts, _ = _timing(data)
    mdhd = find(data, "moov/trak/mdia/mdhd")
    duration = struct.unpack_from(">I", data, mdhd[1] + 8 + 16)[0]
    seg = max(1, duration * movie_ts // media_ts)
    dst.write_bytes(replace_in_trak(data, b"edts", elst([(seg, 0)] * repeats)))
    return dst


def renamed_ftyp(src: Path, dst: Path) -> Path:
    data = bytearray(src.read_bytes())
    assert data[4:8] == b"ftyp"
    data[4:8] = b"xtyp"
    dst.write_bytes(bytes(data))
    return dst


def pix_fmt_switch(size: tuple[int, int], dst: Path, fps: int, frames: int, switch_at: int) -> Path:
    """HEVC whose first `switch_at` frames are 8-bit 4:2:0 and the rest 10-bit (in-band SPS switch)."""
    w, h = size
    parts = []
    for k, (n, fmt) in enumerate(((switch_at, "yuv420p"), (frames - switch_at, "yuv420p10le"))):
        part = dst.with_suffix(f".{k}.hevc")
        run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", f"testsrc2=size={w}x{h}:rate={fps}",
                    "-frames:v", str(n), *encoder_args("hevc", crf=28), "-pix_fmt", fmt, "-f", "hevc",
                    str(part)])  # fmt: skip
        parts.append(part.read_bytes())
    joined = dst.with_suffix(".hevc")
    joined.write_bytes(b"".join(parts))
    run_ffmpeg(["-loglevel", "error", "-r", str(fps), "-i", str(joined), "-c", "copy", str(dst)])
    return dst


def rotated(src: Path, dst: Path, degrees: int = 90) -> Path:
    run_ffmpeg(
        ["-loglevel", "error", "-display_rotation", str(degrees), "-i", str(src), "-c", "copy", str(dst)]
    )
    return dst


def with_audio(src: Path, dst: Path) -> Path:
    run_ffmpeg(["-loglevel", "error", "-i", str(src), "-f", "lavfi", "-i", "anullsrc=r=8000:cl=mono",
                "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "aac", "-shortest", str(dst)])  # fmt: skip
    return dst


def single_keyframe(src: Path, dst: Path, codec: str = "hevc", crf: int = 28) -> Path:
    """An honest re-encode with one keyframe (what the re-map attack starts from)."""
    extra = (
        ["-x265-params", "log-level=error:keyint=100000:min-keyint=100000:scenecut=0"]
        if codec == "hevc"
        else []
    )
    args = [*encoder_args(codec, crf=crf)]
    if extra:
        args = [a for a in args if a not in ("-x265-params", "log-level=error")] + extra
    run_ffmpeg(["-loglevel", "error", "-i", str(src), *args, "-pix_fmt", "yuv420p", str(dst)])
    return dst


def exploit_files(
    reference: Path, folder: Path, *, size: tuple[int, int], fps: int, frames: int, large_flood: int = 50_000
) -> dict[str, tuple[Path, str]]:
    """{name: (file, the reason it must be refused with)} built from an honest encode of `reference`."""
    folder.mkdir(parents=True, exist_ok=True)
    base = single_keyframe(reference, folder / "base-1key.mp4")
    return {
        "edit_list_remap": (edit_list_remap(base, folder / "remap.mp4", frames), "edit_list"),
        "edit_list_flood_small": (edit_list_flood(base, folder / "flood-small.mp4", 10_000), "edit_list"),
        "edit_list_flood_large": (
            edit_list_flood(base, folder / "flood-large.mp4", large_flood),
            "edit_list",
        ),
        "renamed_ftyp": (renamed_ftyp(base, folder / "noftyp.mp4"), "wrong_container"),
        "pix_fmt_switch": (
            pix_fmt_switch(size, folder / "pixswitch.mp4", fps, frames, frames // 2),
            "wrong_pix_fmt",
        ),
        "rotated": (rotated(base, folder / "rotated.mp4"), "display_matrix"),
        "extra_stream": (with_audio(base, folder / "audio.mp4"), "extra_stream"),
    }
