"""`vidaio plot ...`: PNG files of the requested pixel size, atomic writes, clear errors."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scoring.config import ScoringConfig
from vidaio.cli.plot import plot_app
from vidaio.db.config import DbConfig
from vidaio.db.repository import Repository
from vidaio.db.types import RoundResult

runner = CliRunner()
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from the PNG IHDR chunk (which must come first)."""
    head = path.read_bytes()[:24]
    assert head[:8] == PNG_SIGNATURE and head[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("plot-db") / "validator.db"
    repo = Repository.open(DbConfig(path=path), ScoringConfig())
    try:
        for i in range(12):
            for uid, task in ((1, "compression"), (2, "upscaling")):
                ok = i % 5 != 4
                repo.record_result(RoundResult(
                    round_id=f"r{i}", task_id=f"t{i}-{uid}", uid=uid, hotkey=f"hk{uid}", task_type=task,
                    status="ok" if ok else "error", score=(0.5 + 0.03 * i) if ok else 0.0,
                    vmaf=92.0 if ok else None, vmaf_threshold=85.0, s_q=0.6 if ok else None,
                ))  # fmt: skip
    finally:
        repo.close()
    return path


def _run(*args: str) -> None:
    out = runner.invoke(plot_app, list(args))
    assert out.exit_code == 0, out.output


@pytest.mark.slow
def test_curves_png_has_the_requested_size(tmp_path: Path) -> None:
    out = tmp_path / "img" / "curves.png"
    _run("curves", "--out", str(out), "--width", "900", "--height", "300")
    assert png_size(out) == (900, 300)
    assert out.stat().st_size > 10_000  # three plotted panels, not a blank canvas
    assert [p.name for p in out.parent.iterdir()] == ["curves.png"]  # no temp file left


@pytest.mark.slow
def test_history_and_leaderboard_pngs(seeded_db: Path, tmp_path: Path) -> None:
    hist = tmp_path / "h.png"
    board = tmp_path / "b.png"
    _run("history", "2", "--db", str(seeded_db), "--out", str(hist))
    _run("leaderboard", "--db", str(seeded_db), "--out", str(board), "--width", "640", "--height", "480")
    assert png_size(hist) == (1200, 700) and hist.stat().st_size > 10_000
    assert png_size(board) == (640, 480) and board.stat().st_size > 5_000


def test_unknown_uid_writes_nothing(seeded_db: Path, tmp_path: Path) -> None:
    out = runner.invoke(plot_app, ["history", "99", "--db", str(seeded_db), "--out", str(tmp_path / "x.png")])
    assert out.exit_code == 1 and "no history for uid 99" in out.stderr
    assert list(tmp_path.iterdir()) == []
