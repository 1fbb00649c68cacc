"""Where the benchmarks find real footage: `--media DIR`, by default `../shared/media` next to the repo.

Paths shown in reports are relative to the repository root, so no machine's absolute path ends up
in a committed report.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_MEDIA = ROOT.parent / "shared" / "media"
"""`../shared/media` relative to the repository root."""


def shown(path: Path | str) -> str:
    """`path` relative to the repository root when it is nearby, else as given."""
    p = Path(path)
    if not p.is_absolute():
        return str(p)
    rel = os.path.relpath(p, ROOT)
    return rel if not rel.startswith("../../") else str(p)
