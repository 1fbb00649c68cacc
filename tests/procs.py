"""Process helpers for tests that check nothing was left running."""

from __future__ import annotations

from pathlib import Path


def alive(pid: int | None) -> bool:
    """True while `pid` exists and is not a zombie (a killed, not yet reaped child counts as gone)."""
    if pid is None:
        return False
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"
