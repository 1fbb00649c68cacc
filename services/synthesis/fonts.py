"""Find a font file for ffmpeg's `drawtext`, and check that drawtext really works with it.

The static ffmpeg may have no fontconfig setup, and a machine may have no fonts at all, so text
layers use an explicit `fontfile=`: matplotlib's bundled DejaVuSans (a project dependency), else
common system paths. If none is usable the synthetic generator simply draws no text.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from loguru import logger

from services.synthesis.errors import SynthesisError
from services.synthesis.runner import run

SYSTEM_FONTS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
)
_SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+-]+$")
"""Paths that need no escaping inside a filtergraph (no ':', ',', quotes, brackets, spaces)."""


def _matplotlib_font() -> str | None:
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
        if candidate.is_file():
            return str(candidate)
    return None


def font_candidates() -> list[str]:
    """Font files to try, best first."""
    bundled = _matplotlib_font()
    return ([bundled] if bundled else []) + list(SYSTEM_FONTS)


def find_font(candidates: Sequence[str] | None = None) -> str | None:
    """First existing, filtergraph-safe font file among `candidates` (default: `font_candidates()`)."""
    for path in font_candidates() if candidates is None else candidates:
        if _SAFE_PATH.match(path) and Path(path).is_file():
            return path
    return None


@lru_cache(maxsize=8)
def drawtext_font(candidates: tuple[str, ...] | None = None) -> str | None:
    """A font file with which ffmpeg's drawtext renders one frame, or None (text layers are skipped).

    Cached per candidate list: the check costs one tiny ffmpeg run per process.
    """
    font = find_font(candidates)
    if font is None:
        logger.info("synthesis: no font file found; synthetic clips will have no text")
        return None
    graph = f"color=c=gray:s=32x32:r=1,drawtext=fontfile={font}:text='Ab1':fontsize=12:fontcolor=white"
    try:
        run(["-f", "lavfi", "-i", graph, "-frames:v", "1", "-f", "null", "-"], what="drawtext check", timeout_s=30)
    except SynthesisError as exc:
        logger.info("synthesis: drawtext unusable with {} ({}); synthetic clips will have no text", font, exc)
        return None
    return font
