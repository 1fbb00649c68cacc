"""Turn a source clip into task files: the reference (and, for upscaling, the miner's input).

`prepare_upscaling` / `prepare_compression` each create one new directory under `work_dir` holding
the task's files and return a frozen description of it. The caller owns that directory: call
`.remove()` when the task is done. On any failure nothing is left behind (the directory, the
intermediate source clip and partial encodes are removed) and a `SynthesisError` names the reason.

Every output is verified by probing: MP4/H.264, exact size, yuv420p, SAR 1:1, fps, frame count.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from scoring.media.probe import ProbeError, probe
from services.synthesis.errors import SynthesisError
from services.synthesis.plan import PrepareSettings, plan_preparation, reference_filters
from services.synthesis.runner import check_cancelled, run
from services.synthesis.sources import VideoSource, clip_duration_s
from services.synthesis.spec import ClipSpec, check_size, check_timing, even_ceil, frame_count

FPS_TOLERANCE = 0.01
_COLOUR_TAGS = ["-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv"]


@dataclass(frozen=True)
class PreparedUpscaling:
    """An upscaling task's files: `input` (in_size, sent to miners) is `reference` (out_size)
    downscaled by `scale`. `content_length` in s; `frames` = content_length x fps."""

    reference: Path
    input: Path
    in_size: tuple[int, int]
    out_size: tuple[int, int]
    scale: int
    content_length: float
    fps: int
    frames: int
    seed: int
    source: str
    directory: Path

    @property
    def kind(self) -> str:
        return "upscaling"

    def remove(self) -> None:
        """Delete this task's directory and files (idempotent)."""
        shutil.rmtree(self.directory, ignore_errors=True)


@dataclass(frozen=True)
class PreparedCompression:
    """A compression task's reference (sent to miners as is) of `size_bytes`, `seconds` long."""

    reference: Path
    size_bytes: int
    width: int
    height: int
    fps: int
    frames: int
    seconds: float
    seed: int
    source: str
    directory: Path

    @property
    def kind(self) -> str:
        return "compression"

    def remove(self) -> None:
        """Delete this task's directory and files (idempotent)."""
        shutil.rmtree(self.directory, ignore_errors=True)


Prepared = PreparedUpscaling | PreparedCompression


def _x264(crf: int, settings: PrepareSettings) -> list[str]:
    return [
        "-c:v", "libx264", "-preset", settings.preset, "-crf", str(crf), "-pix_fmt", "yuv420p",
        *_COLOUR_TAGS, "-an", "-sn", "-dn", "-movflags", "+faststart",
    ]  # fmt: skip


def verify_clip(path: Path, *, width: int, height: int, fps: int, frames: int, what: str) -> int:
    """Probe an output; raise `SynthesisError` unless it is MP4/H.264 yuv420p, SAR 1:1, exact size,
    fps and frame count. Returns its size in bytes."""
    try:
        info = probe(path, count_frames=True)
    except ProbeError as exc:
        raise SynthesisError(f"{what}: the encoded file cannot be read: {exc}") from exc
    problems = []
    if not info.is_mp4 or info.codec != "h264":
        problems.append(f"container/codec {info.container}/{info.codec}, expected MP4/h264")
    if (info.width, info.height) != (width, height):
        problems.append(f"size {info.width}x{info.height}, expected {width}x{height}")
    if info.pix_fmt != "yuv420p":
        problems.append(f"pixel format {info.pix_fmt}, expected yuv420p")
    if info.sar != "1:1":
        problems.append(f"SAR {info.sar}, expected 1:1")
    if abs(info.avg_fps - fps) > FPS_TOLERANCE:
        problems.append(f"{info.avg_fps:.3f} fps, expected {fps}")
    if info.frame_count != frames:
        problems.append(f"{info.frame_count} frames, expected {frames} (is the source clip long enough?)")
    if problems:
        raise SynthesisError(f"{what}: " + "; ".join(problems))
    return info.size_bytes


def _make_reference(
    source: VideoSource,
    *,
    size: tuple[int, int],
    seconds: float,
    fps: int,
    seed: int,
    directory: Path,
    settings: PrepareSettings,
) -> tuple[Path, int]:
    """Produce a source clip and encode the verified reference (directory/reference.mp4)."""
    width, height = size
    frames = frame_count(seconds, fps)
    margin = settings.source_margin
    spec = ClipSpec(width=even_ceil(width * margin), height=even_ceil(height * margin), fps=fps, seconds=seconds, seed=seed)
    raw_path = directory / "source.mp4"
    try:
        clip = source.produce(spec, raw_path)
        check_cancelled("task synthesis")
        try:
            info = probe(clip, count_frames=False)
        except ProbeError as exc:
            raise SynthesisError(f"source {source.name} gave an unreadable clip: {exc}") from exc
        plan = plan_preparation(seed, settings, clip_duration_s=clip_duration_s(info), seconds=seconds)
        chain = reference_filters(
            plan, width=width, height=height, fps=fps, flags=settings.rescale_flags, square_pixels=info.sar == "1:1"
        )
        reference = directory / "reference.mp4"
        start = ["-ss", f"{plan.start_s:.3f}"] if plan.start_s > 0 else []
        args = [*start, "-i", str(clip), "-map", "0:v:0", "-vf", chain, "-frames:v", str(frames)]
        args += [*_x264(settings.reference_crf, settings), "-r", str(fps), "-fps_mode", "cfr", str(reference)]
        run(args, what=f"reference encode ({source.name}, {plan.filter_name})", timeout_s=settings.timeout_s)
        what = f"reference from {source.name} clip {Path(clip).name}"
        size_bytes = verify_clip(reference, width=width, height=height, fps=fps, frames=frames, what=what)
        logger.debug(
            "reference seed={} {}x{} {} frames, crop {:.1%}, filter {}, start {:.2f} s: {} bytes",
            seed, width, height, frames, plan.crop, plan.filter_name, plan.start_s, size_bytes,
        )  # fmt: skip
        return reference, size_bytes
    finally:
        raw_path.unlink(missing_ok=True)


def _new_directory(work_dir: Path, prefix: str) -> Path:
    work_dir = Path(work_dir)
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=prefix, dir=work_dir))
    except OSError as exc:
        raise SynthesisError(f"cannot create a task directory in {work_dir}: {exc}") from exc


def prepare_upscaling(
    source: VideoSource,
    *,
    in_size: tuple[int, int],
    scale: int,
    content_length: float,
    fps: int,
    seed: int,
    work_dir: Path,
    settings: PrepareSettings | None = None,
) -> PreparedUpscaling:
    """Make an upscaling task: reference at in_size x scale, input = reference downscaled to in_size."""
    settings = settings or PrepareSettings()
    in_w, in_h = check_size("input size", in_size)
    if not 2 <= int(scale) <= 8:
        raise ValueError(f"scale {scale} is out of range 2..8")
    out_w, out_h = in_w * scale, in_h * scale
    frames = check_timing(content_length, fps)
    directory = _new_directory(work_dir, "upscaling-")
    try:
        reference, _ = _make_reference(
            source, size=(out_w, out_h), seconds=content_length, fps=fps, seed=seed, directory=directory, settings=settings
        )
        task_input = directory / "input.mp4"
        chain = f"scale={in_w}:{in_h}:flags={settings.downscale_flags},setsar=1,setpts=N/({fps}*TB)"
        args = ["-i", str(reference), "-map", "0:v:0", "-vf", chain, "-frames:v", str(frames)]
        args += [*_x264(settings.input_crf, settings), "-r", str(fps), "-fps_mode", "cfr", str(task_input)]
        run(args, what="upscaling input encode", timeout_s=settings.timeout_s)
        verify_clip(task_input, width=in_w, height=in_h, fps=fps, frames=frames, what="upscaling input")
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return PreparedUpscaling(
        reference=reference,
        input=task_input,
        in_size=(in_w, in_h),
        out_size=(out_w, out_h),
        scale=int(scale),
        content_length=content_length,
        fps=fps,
        frames=frames,
        seed=seed,
        source=source.name,
        directory=directory,
    )


def prepare_compression(
    source: VideoSource,
    *,
    size: tuple[int, int],
    seconds: float = 10.0,
    fps: int = 24,
    seed: int,
    work_dir: Path,
    settings: PrepareSettings | None = None,
) -> PreparedCompression:
    """Make a compression task: a high-quality x264 reference of `size`, `seconds` long."""
    settings = settings or PrepareSettings()
    width, height = check_size("size", size)
    frames = check_timing(seconds, fps)
    directory = _new_directory(work_dir, "compression-")
    try:
        reference, size_bytes = _make_reference(
            source, size=(width, height), seconds=seconds, fps=fps, seed=seed, directory=directory, settings=settings
        )
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return PreparedCompression(
        reference=reference,
        size_bytes=size_bytes,
        width=width,
        height=height,
        fps=fps,
        frames=frames,
        seconds=seconds,
        seed=seed,
        source=source.name,
        directory=directory,
    )
