"""The chart library (uPlot, pinned in package.json) vendored into the package at setup time.

`make setup` runs `npm install` and copies `node_modules/uplot/dist/uPlot.iife.min.js` and
`uPlot.min.css` into `vidaio/dashboard/static/vendor/` (`python -m vidaio.dashboard.assets`), so
the pages load it from the dashboard itself: no CDN, the dashboard works offline.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

STATIC_DIR = Path(__file__).resolve().parent / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
VENDOR_FILES = {"uPlot.iife.min.js": "uplot/dist/uPlot.iife.min.js", "uPlot.min.css": "uplot/dist/uPlot.min.css"}


class MissingAssets(RuntimeError):
    """The vendored chart library is not in the package (setup did not copy it)."""


def missing_assets(vendor_dir: Path = VENDOR_DIR) -> list[str]:
    """Names of the vendored files that are not in the package."""
    return [name for name in VENDOR_FILES if not (vendor_dir / name).is_file()]


def vendor_assets(node_modules: Path, vendor_dir: Path = VENDOR_DIR) -> list[Path]:
    """Copy the chart library from `node_modules` into the package; MissingAssets if npm did not install it."""
    vendor_dir.mkdir(parents=True, exist_ok=True)
    copied = []
    for name, source in VENDOR_FILES.items():
        src = node_modules / source
        if not src.is_file():
            raise MissingAssets(f"{src} not found: run `npm install` (package.json pins uplot)")
        dst = vendor_dir / name
        shutil.copyfile(src, dst)
        copied.append(dst)
    return copied


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    node_modules = Path(args[0] if args else "node_modules")
    try:
        copied = vendor_assets(node_modules)
    except MissingAssets as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    sys.stderr.write(f"dashboard assets: {', '.join(p.name for p in copied)} -> {VENDOR_DIR}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
