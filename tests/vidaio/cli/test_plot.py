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


def test_history_chart_axis_title_and_failure_labels(seeded_db: Path) -> None:
    from vidaio.cli.db import run_query
    from vidaio.cli.plot import _history_rows, history_figure

    rows = run_query(seeded_db, lambda e: _history_rows(e, 2, 100))
    fig = history_figure(rows, 2, 1200, 700)
    ax_s, ax_m = fig.axes[0], fig.axes[1]
    title = ax_s.get_title()
    assert title.startswith("uid 2 (") and rows[0]["task_type"] in title and rows[0]["hotkey"][:8] in title
    ticks = [t for t in ax_s.get_xticks() if 1 <= t <= len(rows)]
    assert ticks and all(float(t).is_integer() for t in ticks)  # integer round axis
    failed = [r for r in rows if r["status"] != "ok"]
    labels = [t.get_text() for t in ax_s.texts]
    assert len(labels) == len(failed) > 0  # one label per failure marker, naming its reason
    assert all(lbl and lbl != "failed" for lbl in labels)
    assert ax_m.get_xlim() == (0.5, len(rows) + 0.5)


def test_a_single_round_is_drawn_as_visible_markers(seeded_db: Path) -> None:
    from vidaio.cli.db import run_query
    from vidaio.cli.plot import _history_rows, history_figure

    rows = run_query(seeded_db, lambda e: _history_rows(e, 2, 1))
    assert len(rows) == 1
    fig = history_figure(rows, 2, 800, 500)
    for ax in fig.axes:
        assert ax.get_xlim() == (0.5, 1.5)  # centred, not a degenerate axis
        assert all(line.get_marker() not in (None, "None", "") for line in ax.get_lines() if len(line.get_xdata()) == 1
                   and line.get_linestyle() != "--")  # fmt: skip


def test_flags_are_shown_as_flags_and_last_is_the_count_option() -> None:
    from typer.testing import CliRunner

    from vidaio.cli.main import app

    out = CliRunner().invoke(app, ["db", "leaderboard", "--help"], env={"COLUMNS": "120"})
    assert "--json" in out.output and "<bool>" not in out.output
    for cmd in (["plot", "history", "--help"], ["db", "rounds", "--help"], ["db", "weights", "--help"]):
        text = CliRunner().invoke(app, cmd, env={"COLUMNS": "120"}).output
        assert "--last" in text, cmd


def test_defaults_are_written_one_way_in_every_help() -> None:
    """`[default: X]` (typer's own form) everywhere; never `(default X)` in a help text."""
    import click
    import typer

    from vidaio.cli.main import app

    def walk(cmd: click.Command, path: list[str]) -> None:
        for param in cmd.params:
            text = getattr(param, "help", None) or ""
            assert "(default" not in text, (path, param.name, text)
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(typer.main.get_command(app), ["vidaio"])
