"""`vidaio score compression|upscaling REF DIST`: a miner checks its own output like a validator would.

Runs `scoring.evaluate` (output validation, sampled VMAF, PIE-APP, the §6 formulas) and prints a rich
table or JSON. Exit status: 0 scored (the score may still be 0 below the VMAF threshold), 1 the output
was refused (reasons are printed) or a metric failed, 2 bad input (one-line error on stderr).
The frame sample is seeded by --secret/--task-id: a validator uses its own private secret, so a
miner's self-check sees different frames than the validator will.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any, TypeVar

import typer
from loguru import logger
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from scoring.config import ScoringConfig
from scoring.evaluate import CompressionVerdict, UpscalingVerdict, evaluate_compression, evaluate_upscaling
from scoring.media.ffmpeg import FfmpegError
from scoring.media.probe import ProbeError, probe
from scoring.metrics.config import MetricsConfig
from vidaio.cli.score import score_app
from vidaio.settings_base import VidaioSettings

T = TypeVar("T")
COMPRESSION_CODECS = ("av1", "hevc", "h264")
err_console = Console(stderr=True)


class _Settings(VidaioSettings):
    """The `VIDAIO_METRICS__*` section read from env/.env, as the daemons read it."""

    metrics: MetricsConfig = MetricsConfig()


def _fail(reason: str) -> typer.Exit:
    typer.echo(f"error: {' '.join(reason.split())}", err=True)
    return typer.Exit(code=2)


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
    return " ".join(str(exc).split())


def _guarded(compute: Callable[[], T], extra: tuple[type[Exception], ...] = ()) -> T:
    """Bad input (missing/unreadable clips, bad settings, no ffmpeg, `extra`) → exit 2 with one line."""
    try:
        return compute()
    except (ValueError, FfmpegError, OSError, *extra) as exc:
        raise _fail(_one_line(exc)) from None


def _metrics_cfg(**overrides: Any) -> MetricsConfig:
    base = _Settings().metrics
    changes = {k: v for k, v in overrides.items() if v is not None}
    return MetricsConfig.model_validate({**base.model_dump(), **changes})


def _require_file(path: Path, what: str) -> None:
    if not path.is_file():
        raise _fail(f"{what} {path}: no such file")


@contextmanager
def _logs(verbose: bool) -> Iterator[None]:
    """Library logs (loguru) only with --verbose: the table/JSON is the output."""
    if not verbose:
        logger.disable("scoring")
    try:
        yield
    finally:
        logger.enable("scoring")


@contextmanager
def _progress(total: int, quiet: bool) -> Iterator[Callable[[str], None]]:
    """A rich progress bar on stderr advanced by each evaluation stage (stdout stays clean for --json)."""
    if quiet:
        yield lambda _msg: None
        return
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("starting", total=total)
        first = True

        def step(msg: str) -> None:
            nonlocal first
            if not first:
                bar.advance(task)
            first = False
            bar.update(task, description=msg)

        yield step
        bar.update(task, completed=total)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if value is None:
        return "-"
    return str(value)


def _emit(
    verdict: CompressionVerdict | UpscalingVerdict, rows: list[tuple[str, Any]], title: str, as_json: bool
) -> None:
    if as_json:
        typer.echo(json.dumps(verdict.to_dict()))
    else:
        console = Console()
        table = Table(title=title)
        table.add_column("item")
        table.add_column("value", justify="right")
        for key, value in rows:
            table.add_row(key, _fmt(value))
        console.print(table)
        for message in verdict.messages:
            console.print(f"[red]✗ {message}[/red]")
        if verdict.ok:
            console.print(f"[green]score {verdict.score:.4f}[/green]")
    if not verdict.ok:
        raise typer.Exit(code=1)


def _common_rows(v: CompressionVerdict | UpscalingVerdict) -> list[tuple[str, Any]]:
    per_frame = ", ".join(f"{i}: {s:.2f}" for i, s in sorted(v.vmaf_per_frame.items())) or None
    return [
        ("status", v.status),
        ("reasons", ", ".join(v.reasons) or None),
        (f"VMAF ({v.vmaf_model or '-'}, harmonic mean)", v.vmaf),
        ("VMAF per sampled frame", per_frame),
    ]


@score_app.command("compression")
def score_compression(
    ref: Path = typer.Argument(..., help="The original clip (the task's input)."),
    dist: Path = typer.Argument(..., help="Your compressed output (.mp4)."),
    threshold: float = typer.Option(..., "--threshold", help="The task's VMAF threshold (85, 89 or 93)."),
    codec: str | None = typer.Option(
        None,
        "--codec",
        help="The task's codec (av1, hevc, h264); default: the output's codec if it is one of them.",
    ),
    task_id: str = typer.Option("self-check", "--task-id", help="Task id (seeds the frame sample)."),
    secret: str = typer.Option(
        "self-check", "--secret", help="Sampling secret (validators use a private one)."
    ),
    threads: int | None = typer.Option(None, "--threads", min=1, help="libvmaf threads [default: config]."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show library logs on stderr."),
) -> None:
    """Validate and score a compression output: VMAF (neg model, sampled frames), C, S_f."""
    _require_file(ref, "reference")
    _require_file(dist, "output")
    if not 0 <= threshold < 100:
        raise _fail(f"--threshold must be in [0, 100), got {threshold}")
    if codec is None:
        try:
            found = probe(dist).codec
        except ProbeError:
            found = ""  # not a video: validation reports it
        codec = found if found in COMPRESSION_CODECS else COMPRESSION_CODECS[0]
    scoring_cfg = _guarded(ScoringConfig)
    metrics_cfg = _guarded(lambda: _metrics_cfg(vmaf_threads=threads))
    with _logs(verbose), _progress(2, as_json) as step:
        v = _guarded(
            lambda: evaluate_compression(
                ref,
                dist,
                vmaf_threshold=threshold,
                codec=codec,
                task_id=task_id,
                secret=secret,
                scoring_cfg=scoring_cfg,
                metrics_cfg=metrics_cfg,
                progress=step,
            )
        )
    rows = _common_rows(v) + [
        ("codec (task)", v.codec),
        ("VMAF threshold", v.vmaf_threshold),
        ("VMAF passed", v.vmaf_passed),
        ("original size (bytes)", v.original_size),
        ("compressed size (bytes)", v.compressed_size),
        ("compression rate C", v.compression_rate),
        (
            f"compression term {scoring_cfg.compression_rate_weight}·(1 - C^{scoring_cfg.compression_rate_exponent})",
            v.compression_term,
        ),
        (f"quality term {scoring_cfg.compression_vmaf_weight}·(VMAF - thr)/(100 - thr)", v.quality_term),
        ("score S_f", v.score),
        ("time (s)", v.timings.get("total_s")),
    ]
    _emit(v, rows, "Compression verdict", as_json)


@score_app.command("upscaling")
def score_upscaling(
    ref: Path = typer.Argument(..., help="The high-resolution reference clip."),
    dist: Path = typer.Argument(..., help="Your upscaled output (.mp4)."),
    input_path: Path = typer.Option(..., "--input", help="The low-resolution clip the task sent."),
    length: float = typer.Option(..., "--length", help="Requested content length in s (5 or 10)."),
    scale: int | None = typer.Option(None, "--scale", help="2 or 4; default: reference width / input width."),
    task_id: str = typer.Option("self-check", "--task-id", help="Task id (seeds the frame sample)."),
    secret: str = typer.Option(
        "self-check", "--secret", help="Sampling secret (validators use a private one)."
    ),
    weights: Path | None = typer.Option(
        None, "--pieapp-weights", help="PIE-APP weights file [default: config/cache]."
    ),
    backend: str | None = typer.Option(None, "--pieapp-backend", help="pyiqa or piq [default: config]."),
    device: str | None = typer.Option(None, "--device", help="PIE-APP device: auto, cpu, cuda, cuda:N."),
    random_weights: bool = typer.Option(
        False, "--random-weights", help="Demo/test only: allow random PIE-APP weights when none are found."
    ),
    threads: int | None = typer.Option(None, "--threads", min=1, help="libvmaf threads [default: config]."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show library logs on stderr."),
) -> None:
    """Validate and score an upscaling output: VMAF gate, PIE-APP (S_Q), S_L, S_pre, S_F."""
    for path, what in ((ref, "reference"), (dist, "output"), (input_path, "input")):
        _require_file(path, what)
    if scale is None:
        ref_w, in_w = _guarded(lambda: (probe(ref).width, probe(input_path).width))
        scale = ref_w // in_w if in_w and ref_w % in_w == 0 else 0
        if scale not in (2, 4):
            raise _fail(
                f"cannot infer --scale from reference width {ref_w} / input width {in_w}; pass --scale"
            )
    scoring_cfg = _guarded(ScoringConfig)
    metrics_cfg = _guarded(
        lambda: _metrics_cfg(
            vmaf_threads=threads,
            pieapp_weights_path=weights,
            pieapp_backend=backend,
            pieapp_device=device,
            allow_random_weights=random_weights or None,
        )
    )
    from scoring.metrics.pieapp import PieAppWeightsError, get_metric  # imports torch: only here

    # pyiqa prints its download/loading lines on stdout: stdout is for the verdict only (--json)
    with _logs(verbose), err_console.status("loading PIE-APP", spinner="dots"), redirect_stdout(sys.stderr):
        metric = _guarded(lambda: get_metric(metrics_cfg), (PieAppWeightsError,))
    dev = str(metric.backend.device)
    if dev == "cpu":
        err_console.print(
            f"[yellow]PIE-APP ({metric.backend.name}) runs on CPU: slow (about 15 s per 540p frame, "
            f"80 s per 1080p frame); {scoring_cfg.pieapp_frames} frames to score[/yellow]"
        )
    else:
        err_console.print(f"PIE-APP ({metric.backend.name}) on {dev}")
    if metric.backend.random_weights:
        err_console.print("[red]PIE-APP uses RANDOM weights: the score is meaningless (demo/test only)[/red]")
    with _logs(verbose), _progress(3 + scoring_cfg.pieapp_frames, as_json) as step, redirect_stdout(sys.stderr):
        v = _guarded(
            lambda: evaluate_upscaling(
                ref,
                dist,
                input_path=input_path,
                scale=scale,
                content_length=length,
                task_id=task_id,
                secret=secret,
                scoring_cfg=scoring_cfg,
                metrics_cfg=metrics_cfg,
                pieapp_metric=metric,
                progress=step,
            )
        )
    rows = _common_rows(v) + [
        ("scale", v.scale),
        ("VMAF gate", v.vmaf_threshold),
        ("VMAF passed", v.vmaf_passed),
        ("PIE-APP raw mean(|d|)" + (" RANDOM WEIGHTS" if v.pieapp_random_weights else ""), v.pieapp),
        ("quality S_Q", v.s_q),
        ("content length (s)", v.content_length),
        ("length S_L", v.s_l),
        ("S_pre", v.s_pre),
        ("score S_F", v.score),
        ("time (s)", v.timings.get("total_s")),
    ]
    _emit(v, rows, "Upscaling verdict", as_json)
