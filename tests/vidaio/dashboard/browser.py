"""Headless Debian chromium driven by Playwright (its executable path; never `playwright install`)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip


def chromium_path() -> str:
    """The chromium binary, or skip with the reason (scripts/setup.sh installs Debian's package)."""
    for candidate in CHROMIUM_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    found = shutil.which("chromium")
    if found:
        return found
    pytest.skip("Debian's chromium is not installed (scripts/setup.sh installs it as root with apt-get)")


@contextmanager
def browser_page(viewport: tuple[int, int] = (1500, 950)) -> Iterator[tuple[Any, list[str]]]:
    """A fresh page in a fresh, empty profile; yields (page, console/page errors)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install -e '.[dev]')")
    executable = chromium_path()
    errors: list[str] = []
    with tempfile.TemporaryDirectory(prefix="vidaio-chromium-") as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=executable, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": viewport[0], "height": viewport[1]},
        )  # fmt: skip
        try:
            page = ctx.new_page()
            page.on("console", lambda m: errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
            # a refresh in flight when the test navigates away is aborted by the browser: not an error
            page.on("requestfailed", lambda r: None if "ERR_ABORTED" in str(r.failure) else errors.append(
                f"request failed: {r.url} {r.failure}"))  # fmt: skip
            yield page, errors
        finally:
            ctx.close()
