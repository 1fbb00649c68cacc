"""Pluggable video sources for task synthesis.

A `VideoSource` turns a `ClipSpec` into a high-quality clip at least `spec.width` x `spec.height`
(display size) and at least `spec.seconds` long; preparation (`prepare.py`) then crops, rescales,
filters, trims and encodes it. Contract of `produce(spec, out_path) -> Path`:
- it returns the clip to read: either `out_path` (a new file, which the caller deletes) or an
  existing file the source owns (`DirectorySource` returns the library clip itself, never a copy;
  the caller never deletes a returned path that differs from `out_path`);
- it is deterministic per `spec.seed` (same library / URL list → same choice);
- it raises `SynthesisError` naming the reason (empty directory, unreadable clip, failed download)
  and leaves nothing at `out_path` when it fails.

Sources:
- `SyntheticSource`: seeded ffmpeg lavfi content (`graph.py`), needs nothing external;
- `DirectorySource(dir)`: clips from a local directory;
- `UrlListSource(urls, fetch)`: clips downloaded with a caller-supplied `fetch(url, path)`
  (the validator passes its safe fetcher; `services` never imports `vidaio`).
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from loguru import logger

from scoring.media.probe import ProbeError, ProbeInfo, probe
from services.synthesis.errors import SynthesisCancelled, SynthesisError
from services.synthesis.fonts import drawtext_font
from services.synthesis.graph import DEFAULT_MAX_RENDER_PIXELS, synthetic_graph
from services.synthesis.runner import run
from services.synthesis.spec import ClipSpec

VIDEO_EXTENSIONS: tuple[str, ...] = (".mp4", ".mkv", ".mov", ".webm", ".avi", ".m4v", ".ts", ".y4m", ".mpg")
DURATION_TOLERANCE_S = 0.02

Fetch = Callable[[str, Path], object]
"""Downloads a URL to a local path, raising on any failure. May be a coroutine function (such as
`vidaio.fetch.fetch`): its coroutine is then run with `asyncio.run` in the producing thread."""


@runtime_checkable
class VideoSource(Protocol):
    """Where raw clips come from (see the module docstring for the contract)."""

    name: str

    def produce(self, spec: ClipSpec, out_path: Path) -> Path: ...


@dataclass(frozen=True)
class ClipCheck:
    """A probed candidate clip: usable for a spec, or why not."""

    path: Path
    info: ProbeInfo | None
    reason: str | None = None

    @property
    def display_width(self) -> int:
        if self.info is None:
            return 0
        num, _, den = self.info.sar.partition(":")
        try:
            return round(self.info.width * int(num) / int(den))
        except (ValueError, ZeroDivisionError):
            return self.info.width


def clip_duration_s(info: ProbeInfo) -> float:
    """Duration of a probed clip: the declared one, else frames / fps (0 if unknown)."""
    if info.duration_s > 0:
        return info.duration_s
    if info.frame_count > 0 and info.avg_fps > 0:
        return info.frame_count / info.avg_fps
    return 0.0


def check_clip(path: Path, spec: ClipSpec) -> ClipCheck:
    """Probe `path`; `reason` is set when it cannot be read or is shorter than `spec.seconds`."""
    try:
        info = probe(path, count_frames=False)
        if info.duration_s <= 0:
            info = probe(path, count_frames=True)
    except ProbeError as exc:
        return ClipCheck(path, None, f"unreadable ({exc})")
    duration = clip_duration_s(info)
    if duration + DURATION_TOLERANCE_S < spec.seconds:
        return ClipCheck(path, info, f"too short ({duration:.2f} s < {spec.seconds:g} s needed)")
    return ClipCheck(path, info)


def _reasons(checks: Iterable[ClipCheck | tuple[str, str]], limit: int = 5) -> str:
    items = [f"{c.path.name}: {c.reason}" if isinstance(c, ClipCheck) else f"{c[0]}: {c[1]}" for c in checks]
    more = f"; ... and {len(items) - limit} more" if len(items) > limit else ""
    return "; ".join(items[:limit]) + more


class SyntheticSource:
    """Seeded synthetic content from ffmpeg lavfi sources; needs no files, fonts or network.

    The clip is rendered at exactly the spec size (rounded up to even) and encoded near-lossless
    (x264 `-qp intermediate_qp`, default 0 = lossless) as `out_path`.
    """

    name = "synthetic"

    def __init__(
        self,
        *,
        max_render_pixels: int = DEFAULT_MAX_RENDER_PIXELS,
        text: bool = True,
        intermediate_qp: int = 0,
        timeout_s: float = 900.0,
    ) -> None:
        if max_render_pixels < 64 * 64:
            raise ValueError(f"max_render_pixels {max_render_pixels} is too small (>= 4096)")
        if not 0 <= intermediate_qp <= 20:
            raise ValueError(f"intermediate_qp {intermediate_qp} out of range 0..20")
        self.max_render_pixels = max_render_pixels
        self.text = text
        self.intermediate_qp = intermediate_qp
        self.timeout_s = timeout_s

    def produce(self, spec: ClipSpec, out_path: Path) -> Path:
        font = drawtext_font() if self.text else None
        plan = synthetic_graph(spec, font=font, max_render_pixels=self.max_render_pixels)
        logger.debug("synthetic clip seed={} {}x{}: {}", spec.seed, plan.width, plan.height, plan.description)
        args = [
            "-filter_complex", plan.graph, "-map", "[v]", "-frames:v", str(spec.frames),
            "-c:v", "libx264", "-preset", "ultrafast", "-qp", str(self.intermediate_qp), "-pix_fmt", "yuv420p",
            "-colorspace", "bt709", "-color_primaries", "bt709", "-color_trc", "bt709", "-color_range", "tv",
            "-r", str(spec.fps), "-an", str(out_path),
        ]  # fmt: skip
        try:
            run(args, what=f"synthetic clip ({plan.description})", timeout_s=self.timeout_s)
        except SynthesisError:
            out_path.unlink(missing_ok=True)
            raise
        return out_path


class DirectorySource:
    """Clips from a local directory (recursively by default), chosen per seed.

    Prefers clips at least as large as the spec; if none is, a long-enough smaller clip is used
    (with a warning: preparation upscales it, which softens the reference). Probe results are
    cached per (path, size, mtime).
    """

    name = "directory"

    def __init__(
        self, directory: str | Path, *, extensions: Sequence[str] = VIDEO_EXTENSIONS, recursive: bool = True
    ) -> None:
        self.directory = Path(directory).expanduser()
        self.extensions = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
        self.recursive = recursive
        self._cache: dict[tuple[Path, int, int, float], ClipCheck] = {}

    def clips(self) -> list[Path]:
        """Candidate clip files (sorted); raises `SynthesisError` if the directory is missing or has none."""
        if not self.directory.is_dir():
            raise SynthesisError(f"clip directory {self.directory} does not exist or is not a directory")
        pattern = self.directory.rglob("*") if self.recursive else self.directory.glob("*")
        found = sorted(p for p in pattern if p.suffix.lower() in self.extensions and p.is_file())
        if not found:
            raise SynthesisError(
                f"no video clips in {self.directory} (looked for {', '.join('*' + e for e in self.extensions)})"
            )
        return found

    def _check(self, path: Path, spec: ClipSpec) -> ClipCheck:
        stat = path.stat()
        key = (path, stat.st_size, stat.st_mtime_ns, spec.seconds)
        if key not in self._cache:
            self._cache[key] = check_clip(path, spec)
        return self._cache[key]

    def produce(self, spec: ClipSpec, out_path: Path) -> Path:
        candidates = self.clips()
        random.Random(f"directory:{spec.seed}").shuffle(candidates)
        rejected: list[ClipCheck] = []
        fallback: ClipCheck | None = None
        for path in candidates:
            check = self._check(path, spec)
            if check.reason is not None:
                rejected.append(check)
                continue
            assert check.info is not None
            if check.display_width >= spec.width and check.info.height >= spec.height:
                logger.debug("directory source seed={}: {}", spec.seed, path)
                return path
            fallback = fallback or check
        if fallback is not None and fallback.info is not None:
            logger.warning(
                "no clip in {} is at least {}x{}; using {} ({}x{}), which will be upscaled",
                self.directory, spec.width, spec.height, fallback.path.name, fallback.info.width, fallback.info.height,
            )  # fmt: skip
            return fallback.path
        raise SynthesisError(
            f"no usable clip in {self.directory} for a {spec.seconds:g} s task: {_reasons(rejected)}"
        )


class UrlListSource:
    """Clips downloaded from a list of URLs with an injected `fetch(url, path)`.

    URLs are tried in a seeded order, at most `max_attempts` per clip; a download that fails, is
    not a video or is too short is deleted and the next URL tried.
    """

    name = "urls"

    def __init__(self, urls: Sequence[str], fetch: Fetch, *, max_attempts: int = 3) -> None:
        cleaned = [u.strip() for u in urls if u and u.strip() and not u.strip().startswith("#")]
        if not cleaned:
            raise ValueError("the URL list is empty")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.urls = cleaned
        self.fetch = fetch
        self.max_attempts = max_attempts

    @classmethod
    def from_file(cls, path: str | Path, fetch: Fetch, *, max_attempts: int = 3) -> UrlListSource:
        """One URL per line; blank lines and `#` comments are ignored."""
        p = Path(path).expanduser()
        try:
            lines = p.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise SynthesisError(f"cannot read URL list {p}: {exc}") from exc
        try:
            return cls(lines, fetch, max_attempts=max_attempts)
        except ValueError as exc:
            raise SynthesisError(f"URL list {p}: {exc}") from exc

    def produce(self, spec: ClipSpec, out_path: Path) -> Path:
        order = list(self.urls)
        random.Random(f"urls:{spec.seed}").shuffle(order)
        failures: list[tuple[str, str]] = []
        for url in order[: self.max_attempts]:
            out_path.unlink(missing_ok=True)
            try:
                result = self.fetch(url, out_path)
                if inspect.iscoroutine(result):
                    asyncio.run(result)
            except SynthesisCancelled:
                out_path.unlink(missing_ok=True)
                raise
            except Exception as exc:  # the injected fetcher may raise anything; keep the reason
                failures.append((url, f"download failed ({type(exc).__name__}: {exc})"))
                continue
            check = check_clip(out_path, spec)
            if check.reason is None and check.info is not None:
                if check.display_width < spec.width or check.info.height < spec.height:
                    logger.warning(
                        "clip from {} is {}x{}, smaller than {}x{}: it will be upscaled",
                        url, check.info.width, check.info.height, spec.width, spec.height,
                    )  # fmt: skip
                logger.debug("url source seed={}: {}", spec.seed, url)
                return out_path
            failures.append((url, check.reason))
        out_path.unlink(missing_ok=True)
        raise SynthesisError(f"no usable clip from {len(order)} URL(s) after {len(failures)} attempt(s): {_reasons(failures)}")
