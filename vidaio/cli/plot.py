"""`vidaio plot ...`: PNG charts (matplotlib's Agg canvas, no pyplot state) of the database and the scoring curves.

- `plot history UID`: per-round score, adjusted score, accumulate score and multiplier over time.
- `plot leaderboard`: accumulate score per miner, one panel per task type.
- `plot curves`: the §6 formulas (S_L vs length, S_F vs S_pre, S_f vs C for several VMAF margins).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from scoring.compression import compression_score
from scoring.config import ScoringConfig
from scoring.upscaling import final_score, length_score
from vidaio.cli.db import DB_OPTION, TaskOpt, fail, run_query
from vidaio.validator.config import ValidatorSettings

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# matplotlib is imported when a chart is drawn: every `vidaio` command imports this module.

plot_app = typer.Typer(
    help="Write PNG charts: a miner's history, the leaderboard, the scoring curves.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

DPI = 100
WIDTH_OPTION = typer.Option(1200, "--width", min=200, max=8000, help="Image width in pixels.")
HEIGHT_OPTION = typer.Option(700, "--height", min=150, max=8000, help="Image height in pixels.")


def _figure(width: int, height: int, ncols: int = 1, nrows: int = 1) -> tuple[Figure, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(nrows, ncols, squeeze=False)


def save_png(fig: Figure, out: Path) -> Path:
    """Write `fig` to `out` atomically (temp file + rename) at exactly its pixel size."""
    out = out.expanduser()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".png", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fig.savefig(fh, format="png", dpi=DPI)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; give the file the usual mode
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def curves_figure(cfg: ScoringConfig, width: int = 1500, height: int = 500) -> Figure:
    """The three §6 curves side by side, computed with the `scoring` functions."""
    fig, axes = _figure(width, height, ncols=3)
    ax_l, ax_f, ax_c = axes[0]

    top = cfg.max_content_length
    lengths = [top ** (i / 400) for i in range(401)]  # 1 s .. max, evenly spaced on a log axis
    ax_l.plot(lengths, [length_score(x, cfg) for x in lengths], color="tab:blue")
    for served in ValidatorSettings().content_lengths:
        s_l = length_score(served, cfg)
        ax_l.plot([served], [s_l], "o", color="tab:red")
        ax_l.annotate(f"{served} s: {s_l:.4f}", (served, s_l), textcoords="offset points", xytext=(8, -12))
    ax_l.set(title="Length score S_L", xlabel="content length L (s, log scale)", ylabel="S_L", xscale="log")

    pres = [x / 200 for x in range(201)]
    ax_f.plot(pres, [final_score(p, cfg) for p in pres], color="tab:green")
    for threshold, label in (
        (cfg.upscaling_bonus_threshold, "bonus"),
        (cfg.upscaling_penalty_f_threshold, "penalty"),
    ):
        ax_f.axhline(threshold, linestyle="--", linewidth=0.8, color="grey")
        ax_f.annotate(f"{label} {threshold}", (0.02, threshold), textcoords="offset points", xytext=(0, 3))
    ax_f.set(title="Upscaling final score S_F", xlabel="S_pre = W1*S_Q + W2*S_L", ylabel="S_F")

    rates = [x / 200 for x in range(221)]
    thr = ValidatorSettings().compression_thresholds[0]
    for margin in (0.0, 5.0, 10.0, 100.0 - thr):
        vmaf = thr + margin
        ax_c.plot(
            rates,
            [compression_score(c, vmaf, thr, cfg).s_f for c in rates],
            label=f"VMAF {vmaf:g} (thr + {margin:g})",
        )
    ax_c.axhline(cfg.compression_bonus_threshold, linestyle="--", linewidth=0.8, color="grey")
    ax_c.annotate(
        f"bonus {cfg.compression_bonus_threshold}",
        (0.0, cfg.compression_bonus_threshold),
        textcoords="offset points",
        xytext=(0, 3),
    )
    ax_c.set(
        title=f"Compression score S_f (threshold {thr:g})",
        xlabel="compression rate C = compressed / original",
        ylabel="S_f",
    )
    ax_c.legend(loc="upper right", fontsize="small")
    for ax in (ax_l, ax_f, ax_c):
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig


def _short_reason(reason: Any, limit: int = 28) -> str:
    text = " ".join(str(reason or "failed").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def history_title(rows: list[dict[str, Any]], uid: int) -> str:
    """`uid 3 (compression, hotkey 5F3sa2TJ…): scores per round` (every task type/hotkey seen)."""
    tasks = ", ".join(dict.fromkeys(str(r.get("task_type") or "?") for r in rows))
    keys = ", ".join(dict.fromkeys(f"{str(r.get('hotkey') or '?')[:8]}…" for r in rows))
    return f"uid {uid} ({tasks}, hotkey {keys}): scores per round"


def history_figure(rows: list[dict[str, Any]], uid: int, width: int, height: int) -> Figure:
    """Per-round scores (top) and the applied multiplier (bottom), oldest first.

    Rounds are numbered 1..N on an integer axis; failed rounds get a red cross labelled with
    their reason; a single round is drawn as markers centred on round 1.
    """
    from matplotlib.ticker import MaxNLocator

    rows = list(reversed(rows))
    fig, axes = _figure(width, height, nrows=2)
    ax_s, ax_m = axes[0][0], axes[1][0]
    xs = list(range(1, len(rows) + 1))
    for key, label in (
        ("s_f", "round score"),
        ("adjusted_score", "adjusted"),
        ("accumulate_score", "accumulate"),
    ):
        ax_s.plot(xs, [r[key] for r in rows], marker="o", markersize=4, label=label)
    failed = [(x, r) for x, r in zip(xs, rows, strict=True) if r["status"] != "ok"]
    if failed:
        ax_s.plot([x for x, _ in failed], [0.0] * len(failed), "x", color="tab:red", markersize=8,
                  label="failed (reason)")  # fmt: skip
        for x, r in failed:
            ax_s.annotate(_short_reason(r.get("reason") or r["status"]), (x, 0.0), textcoords="offset points",
                          xytext=(0, 8), rotation=60, fontsize="x-small", color="tab:red")  # fmt: skip
    ax_s.set(title=history_title(rows, uid), ylabel="score")
    ax_s.legend(loc="upper left", fontsize="small")
    ax_m.plot(xs, [r["applied_multiplier"] for r in rows], drawstyle="steps-mid", marker="o", markersize=4,
              color="tab:purple")  # fmt: skip
    ax_m.axhline(1.0, linestyle="--", linewidth=0.8, color="grey")
    ax_m.set(title="total multiplier applied", xlabel="round (1 = oldest shown)", ylabel="multiplier")
    for ax in (ax_s, ax_m):
        ax.grid(True, alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlim(0.5, len(rows) + 0.5)
    fig.tight_layout()
    return fig


def leaderboard_figure(rows: list[dict[str, Any]], width: int, height: int) -> Figure:
    """Horizontal bars of accumulate score per miner, one panel per task type present."""
    tasks = sorted({r["task_type"] for r in rows}) or ["(no miners)"]
    fig, axes = _figure(width, height, ncols=len(tasks))
    for ax, task in zip(axes[0], tasks, strict=True):
        mine = [r for r in rows if r["task_type"] == task][::-1]
        ax.barh(
            [f"uid {r['uid']} ({r['performance_tier']})" for r in mine], [r["accumulate_score"] for r in mine]
        )
        ax.set(title=f"{task}: accumulate score", xlabel="accumulate score")
        ax.grid(True, axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def _history_rows(engine: Any, uid: int, limit: int) -> list[dict[str, Any]]:
    from vidaio.db import queries

    return queries.history(engine, uid, limit)


def _leaderboard_rows(engine: Any, task: TaskOpt | None) -> list[dict[str, Any]]:
    from vidaio.db import queries

    return queries.leaderboard(engine, task)


def _done(out: Path) -> None:
    typer.echo(f"wrote {out}")


@plot_app.command("curves")
def curves(
    out: Path = typer.Option(Path("scoring-curves.png"), "--out", help="PNG file to write."),
    width: int = typer.Option(1500, "--width", min=300, max=8000, help="Image width in pixels."),
    height: int = typer.Option(500, "--height", min=150, max=8000, help="Image height in pixels."),
) -> None:
    """The scoring functions of docs/scoring.md with the configured constants (VIDAIO_SCORING__*)."""
    try:
        cfg = ScoringConfig()
    except ValueError as exc:
        raise fail(str(exc), code=2) from None
    _done(save_png(curves_figure(cfg, width, height), out))


@plot_app.command("history")
def history(
    uid: int = typer.Argument(..., min=0, help="Miner uid."),
    limit: int = typer.Option(100, "--last", "--limit", min=1, max=100_000, help="Newest N rounds."),
    out: Path | None = typer.Option(None, "--out", help="PNG file [default: history-UID.png]."),
    width: int = WIDTH_OPTION,
    height: int = HEIGHT_OPTION,
    db: Path | None = DB_OPTION,
) -> None:
    """A miner's per-round scores and multiplier over time."""
    rows = run_query(db, lambda e: _history_rows(e, uid, limit))
    if not rows:
        raise fail(f"no history for uid {uid} in the database")
    _done(save_png(history_figure(rows, uid, width, height), out or Path(f"history-{uid}.png")))


@plot_app.command("leaderboard")
def leaderboard(
    task: TaskOpt | None = typer.Option(None, "--task", help="Only this task type."),
    out: Path = typer.Option(Path("leaderboard.png"), "--out", help="PNG file to write."),
    width: int = WIDTH_OPTION,
    height: int = HEIGHT_OPTION,
    db: Path | None = DB_OPTION,
) -> None:
    """Accumulate score of every miner, per task type."""
    rows = run_query(db, lambda e: _leaderboard_rows(e, task))
    if not rows:
        raise fail("no miners in the database yet")
    _done(save_png(leaderboard_figure(rows, width, height), out))
