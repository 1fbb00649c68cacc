"""Hostile media for the exploit suite: every file a cheating miner could answer, built with ffmpeg.

Imported by name (pytest puts this folder on sys.path). Clips are tiny (160x90, 2 s) so the whole
suite stays fast; the names say what each attack does to the reference.
"""

from __future__ import annotations

import struct
from pathlib import Path

from scoring.media.ffmpeg import run_ffmpeg
from tests.media_factory import encoder_args, make_clip, reencode, remux

SIZE = (160, 90)
FPS = 24
FRAMES = 48
HONEST_CRF = 28


def reference(d: Path) -> Path:
    """A compression task's original (and an upscaling task's reference): testsrc2, x264 crf 12."""
    return make_clip(d / "ref.mp4", SIZE, fps=FPS, frames=FRAMES, crf=12)


UP_SIZE = (192, 108)


def upscaling_pair(d: Path) -> tuple[Path, Path]:
    """(reference 192x108, input 96x54): the input is the reference downscaled x2, as synthesis makes it."""
    ref = make_clip(d / "up-ref.mp4", UP_SIZE, fps=FPS, frames=FRAMES, crf=12)
    w, h = UP_SIZE
    return ref, reencode(ref, d / "up-in.mp4", crf=12, vf=f"scale={w // 2}:{h // 2}:flags=bicubic")


def upscaled(inp: Path, d: Path, name: str, vf: str = "", flags: str = "lanczos") -> Path:
    """The input x2 (`flags` scaler), then `vf` (sharpen, contrast, grayscale, ...)."""
    w, h = UP_SIZE
    chain = f"scale={w}:{h}:flags={flags}" + (f",{vf}" if vf else "")
    return reencode(inp, d / f"up-{name}.mp4", "hevc", crf=20, vf=chain)


def honest(ref: Path, d: Path, codec: str = "hevc", crf: int = HONEST_CRF) -> Path:
    return reencode(ref, d / f"honest-{codec}-{crf}.mp4", codec, crf=crf)


def filtered(ref: Path, d: Path, name: str, vf: str, codec: str = "hevc", crf: int = HONEST_CRF) -> Path:
    """The honest encode with a filter chain applied first (sharpen, contrast, grayscale, ...)."""
    return reencode(ref, d / f"{name}.mp4", codec, crf=crf, vf=vf)


def remuxed(ref: Path, d: Path) -> Path:
    """The reference's own coded stream in a fresh MP4 with other metadata (a 'new' file)."""
    return remux(ref, d / "remux.mp4", extra=["-movflags", "+faststart", "-metadata", "title=all mine"])


def lossless(ref: Path, d: Path) -> Path:
    return reencode(ref, d / "lossless.mp4", "hevc", extra=["-x265-params", "lossless=1:log-level=error"])


def drop_frames(ref: Path, d: Path, n: int) -> Path:
    """The first `n` odd frames removed (frames shift: every later frame is paired with the wrong one)."""
    expr = "+".join(f"eq(n,{2 * k + 1})" for k in range(n))
    return reencode(
        ref, d / f"drop{n}.mp4", "hevc", crf=HONEST_CRF, vf=f"select='not({expr})',setpts=N/FRAME_RATE/TB"
    )


def duplicate_frames(ref: Path, d: Path, n: int) -> Path:
    """Frame 10 repeated `n` extra times (the clip gets longer)."""
    return reencode(
        ref,
        d / f"dup{n}.mp4",
        "hevc",
        crf=HONEST_CRF,
        vf=f"loop=loop={n}:size=1:start=10,setpts=N/FRAME_RATE/TB",
    )


def half_rate_doubled(ref: Path, d: Path) -> Path:
    """Every other frame replaced by its predecessor: the frame count is right, half the motion is gone."""
    return reencode(ref, d / "halfrate.mp4", "hevc", crf=HONEST_CRF, vf=f"fps={FPS // 2},fps={FPS}")


def other_fps(ref: Path, d: Path, fps: int = 30) -> Path:
    """The same frames declared at another rate."""
    return reencode(
        ref, d / f"fps{fps}.mp4", "hevc", crf=HONEST_CRF, vf=f"setpts=N/{fps}/TB", extra=["-r", str(fps)]
    )


def down_up(ref: Path, d: Path, factor: int = 2) -> Path:
    w, h = SIZE
    vf = f"scale={w // factor}:{h // factor}:flags=area,scale={w}:{h}:flags=bicubic"
    return reencode(ref, d / f"downup{factor}.mp4", "hevc", crf=20, vf=vf)


def container(ref: Path, d: Path, ext: str) -> Path:
    return reencode(ref, d / f"honest.{ext}", "hevc", crf=HONEST_CRF)


def pix_fmt(ref: Path, d: Path, fmt: str) -> Path:
    return reencode(ref, d / f"{fmt}.mp4", "hevc", crf=HONEST_CRF, pix_fmt=fmt)


def decompression_bomb(d: Path, side: int = 8192, frames: int = 2) -> Path:
    """A ~200 kB MP4 whose frames are `side` x `side` (black): ~100 MB per decoded frame."""
    return make_clip(d / f"bomb{side}.mp4", (side, side), fps=FPS, frames=frames, pattern="color=c=black")


def resolution_switch(
    ref_size: tuple[int, int], d: Path, big: int = 1024, frames: int = 24, big_frames: int = 3
) -> Path:
    """An MP4 whose header and first frames are `ref_size`, then in-band parameter sets switch to big x big."""
    w, h = ref_size
    a, b = d / "switch-a.hevc", d / "switch-b.hevc"
    for path, src in (
        (a, f"testsrc2=size={w}x{h}:rate={FPS}"),
        (b, f"color=c=black:size={big}x{big}:rate={FPS}"),
    ):
        run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", src, "-frames:v", str(frames),
                    *encoder_args("hevc", crf=HONEST_CRF), "-pix_fmt", "yuv420p", "-f", "hevc", str(path)])  # fmt: skip
    joined = d / "switch.hevc"
    joined.write_bytes(a.read_bytes() + b.read_bytes())
    out = d / "switch.mp4"
    run_ffmpeg(["-loglevel", "error", "-r", str(FPS), "-i", str(joined), "-c", "copy", str(out)])
    return out


def frame_flood(d: Path, frames: int = 3000) -> Path:
    """The right size and fps, but thousands of (nearly free) frames."""
    return make_clip(
        d / "flood.mp4", SIZE, codec="hevc", fps=FPS, frames=frames, pattern="color=c=gray", crf=51
    )


def lying_box_sizes(good: Path, d: Path) -> Path:
    """A valid MP4 whose first box claims to be 2^62 bytes long."""
    data = bytearray(good.read_bytes())
    data[0:4] = struct.pack(">I", 1)
    out = d / "lying.mp4"
    out.write_bytes(bytes(data[:8]) + struct.pack(">Q", 1 << 62) + bytes(data[8:]))
    return out


def truncated(good: Path, d: Path, keep: float = 0.6) -> Path:
    """The index first (faststart), then only part of the frames' data."""
    data = remux(good, d / "faststart.mp4", extra=["-movflags", "+faststart"]).read_bytes()
    out = d / "truncated.mp4"
    out.write_bytes(data[: int(len(data) * keep)])
    return out
