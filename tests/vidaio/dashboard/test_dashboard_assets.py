"""The chart library is copied from node_modules into the package (make setup); a missing one is named."""

from __future__ import annotations

from pathlib import Path

import pytest

from vidaio.dashboard.assets import VENDOR_DIR, VENDOR_FILES, MissingAssets, missing_assets, vendor_assets

REPO = Path(__file__).resolve().parents[3]


def test_vendor_copies_the_pinned_files_and_names_what_is_missing(tmp_path: Path) -> None:
    node_modules = tmp_path / "node_modules"
    with pytest.raises(MissingAssets, match="uplot/dist/uPlot.iife.min.js not found: run `npm install`"):
        vendor_assets(node_modules, tmp_path / "vendor")
    for source in VENDOR_FILES.values():
        (node_modules / source).parent.mkdir(parents=True, exist_ok=True)
        (node_modules / source).write_text(f"/* {source} */")
    assert missing_assets(tmp_path / "vendor") == list(VENDOR_FILES)
    copied = vendor_assets(node_modules, tmp_path / "vendor")
    assert [p.name for p in copied] == list(VENDOR_FILES) and missing_assets(tmp_path / "vendor") == []


def test_setup_vendored_the_chart_library_into_the_package() -> None:
    """`make setup` ran npm and copied uPlot: the pages need no CDN (a failure here means: run make setup)."""
    assert missing_assets() == [], f"run `make setup` (npm install + python -m vidaio.dashboard.assets): {VENDOR_DIR}"
    assert "uPlot" in (VENDOR_DIR / "uPlot.iife.min.js").read_text()[:4000]
    pinned = (REPO / "package.json").read_text()
    assert '"uplot": "1.6.32"' in pinned
