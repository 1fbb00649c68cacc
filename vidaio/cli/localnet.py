"""`vidaio localnet`: the whole subnet on one machine (docs/operations.md#9-the-one-machine-subnet), with progress and a final leaderboard.

A moto S3 server, a SIMULATED chain file, one validator and five miners (good and lazy
compression, model and lanczos upscaling, a cheater returning the reference), each its own
process talking signed HTTP. Ctrl-C stops every process (the validator first, so its DB stays
consistent); a second Ctrl-C kills them. Heavy imports happen inside the command.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

if TYPE_CHECKING:
    from vidaio.localnet.config import LocalnetSettings
    from vidaio.localnet.progress import RoundState
    from vidaio.localnet.report import LocalnetReport

localnet_app = typer.Typer(
    name="localnet",
    help="Run the whole subnet on this machine: S3, simulated chain, 1 validator, 5 miners, N rounds.",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
)

EXIT_INTERRUPTED = 130


class RichObserver:
    """Phases as lines, one progress bar per round (results recorded / tasks sent)."""

    def __init__(self, progress: Progress) -> None:
        self.p = progress
        self.bars: dict[str, TaskID] = {}

    def phase(self, text: str) -> None:
        self.p.console.print(f"[bold blue]>[/bold blue] {text}")

    def progress(self, rounds: list[RoundState], requested: int) -> None:
        for index, r in enumerate(rounds, start=1):
            total = max(r.task_count, 1)
            desc = f"round {index}/{requested}"
            status = r.status if r.done else "scoring" if r.results else "tasks out"
            if r.round_id not in self.bars:
                self.bars[r.round_id] = self.p.add_task(desc, total=total, status=status)
            self.p.update(self.bars[r.round_id], total=total, completed=min(r.results, total), status=status)
            if r.done:
                self.p.update(self.bars[r.round_id], completed=total)


def _settings(
    rounds: int | None, directory: Path | None, profile: str | None, resume: bool, keep_running: bool,
    executor: str | None = None,
) -> LocalnetSettings:
    from vidaio.localnet.config import LocalnetConfig

    base = LocalnetConfig().localnet
    update: dict[str, object] = {
        "resume": resume or base.resume,
        "keep_running": keep_running or base.keep_running,
    }
    if rounds is not None:
        update["rounds"] = rounds
    if directory is not None:
        update["dir"] = directory
    if profile is not None:
        update["profile"] = profile
    if executor is not None:
        update["executor"] = executor
    return type(base).model_validate({**base.model_dump(), **update})


def _fmt(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}f}"


def render_report(report: LocalnetReport, console: Console) -> None:
    """Leaderboard, weights, incentive and paths as rich tables."""
    from vidaio.localnet.roster import STRATEGIES
    from vidaio.localnet.runner import RANDOM_PIEAPP_LABEL

    title = "Leaderboard"
    if report.pieapp_random_weights:
        title += f" ([yellow]{RANDOM_PIEAPP_LABEL}[/yellow])"
    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    numeric = {"uid", "rounds", "accum", "mult", "weight", "incent"}
    for col in ("uid", "strategy", "task", "rounds", "accum", "mult", "tier", "weight", "incent"):
        table.add_column(col, justify="right" if col in numeric else "left", no_wrap=True)
    ordered = sorted(report.miners, key=lambda m: (m.task_type or "", -m.accumulate_score, m.uid))
    for m in ordered:
        table.add_row(
            str(m.uid), m.strategy, m.task_type or "-", str(m.rounds), _fmt(m.accumulate_score),
            _fmt(m.total_multiplier, 3), m.tier, _fmt(m.weight, 3), _fmt(m.incentive, 3),
        )  # fmt: skip
    console.print(table)
    for m in ordered:
        if m.reasons:
            reasons = ", ".join(f"{k} x{v}" for k, v in sorted(m.reasons.items(), key=lambda kv: -kv[1]))
            console.print(f"  uid {m.uid} ({m.strategy}) zero-score reasons: {reasons}")
    legend = "; ".join(
        f"{k} = {v}" for k, v in STRATEGIES.items() if any(m.strategy == k for m in report.miners)
    )
    console.print(f"[dim]{legend}[/dim]")
    if report.pieapp_random_weights:
        console.print(
            f"[yellow]{RANDOM_PIEAPP_LABEL}[/yellow]: the upscaling quality scores (PIE-APP) are meaningless."
        )
    shares = ", ".join(f"{pool} {share:.3f}" for pool, share in report.pool_share.items())
    console.print(
        f"Weights set by validator uid {report.validator_uid}: {shares} "
        f"({report.weight_set_successes}/{report.weight_set_attempts} weight-set attempts succeeded); "
        "incentive = stake-weighted weights on the SIMULATED chain."
    )
    done = sum(1 for r in report.rounds if r.status == "finished")
    console.print(
        f"Rounds: {done}/{report.rounds_requested} finished, {report.tasks_sent} tasks sent, "
        f"{report.results_recorded} results recorded, profile {report.profile}, {report.elapsed_s:.0f}s."
    )
    paths = Table(title="Files", show_header=False)
    paths.add_column("what")
    paths.add_column("where")
    for key, value in report.paths.items():
        paths.add_row(key, value)
    console.print(paths)
    console.print(f"Query it: vidaio db leaderboard --db {report.paths.get('validator_db', '?')}")


@localnet_app.callback()
def localnet(
    ctx: typer.Context,
    rounds: int | None = typer.Option(None, "--rounds", min=1, help="Validator rounds to run [default: 3]."),
    directory: Path | None = typer.Option(None, "--dir", help="Where everything goes [default: .localnet]."),
    profile: str | None = typer.Option(None, "--profile", help='"demo" or "tiny" (fastest) [default: demo].'),
    resume: bool = typer.Option(False, "--resume", help="Keep the chain, wallets and DB of the last run."),
    keep_running: bool = typer.Option(
        False, "--keep-running", help="After the rounds keep the miners and S3 up (Ctrl-C stops)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the final report as JSON (no tables)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the orchestrator's INFO logs."),
    executor: str | None = typer.Option(
        None, "--executor", help='"local" or "ray": both daemons\' jobs on a local two-node Ray cluster [default: local].'
    ),
) -> None:
    """Run the one-machine subnet and print the leaderboard, the weights and where the files are.

    `vidaio localnet up` keeps S3, the simulated chain and a validator running for your own miner;
    `vidaio localnet register --wallet NAME` registers its hotkey and writes its env file.
    """
    if ctx.invoked_subcommand is not None:
        return
    from loguru import logger
    from pydantic import ValidationError

    from vidaio.extras import MissingExtra, require_localnet

    err = Console(stderr=True)
    try:
        require_localnet("vidaio localnet")
    except MissingExtra as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None
    try:
        cfg = _settings(rounds, directory, profile, resume, keep_running, executor)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        err.print(f"[red]error:[/red] {'.'.join(map(str, first['loc']))}: {first['msg']}")
        raise typer.Exit(2) from None

    from vidaio.localnet.runner import run_localnet, sigint_to_event

    logger.remove()
    logger.add(
        sys.stderr, level="INFO" if verbose else "WARNING", format="{time:HH:mm:ss} | {level} | {message}"
    )
    console = Console(stderr=as_json)
    stop = threading.Event()
    restore = sigint_to_event(
        stop, lambda: console.print("[yellow]stopping (Ctrl-C again to kill)...[/yellow]")
    )
    try:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[status]}"),
            TimeElapsedColumn(), console=console, transient=False,
        ) as progress:  # fmt: skip
            report = run_localnet(cfg, RichObserver(progress), stop)
    finally:
        restore()
    if as_json:
        typer.echo(report.model_dump_json(indent=2))
    else:
        render_report(report, console)
    if report.error:
        err.print(f"[red]error:[/red] {report.error}")
        raise typer.Exit(1)
    if report.interrupted:
        err.print("[yellow]interrupted[/yellow]: every process was stopped; rerun with --resume to continue")
        raise typer.Exit(EXIT_INTERRUPTED)
    bad = {n: c for n, c in report.exit_codes.items() if c != 0}
    if bad:
        err.print(f"[red]error:[/red] processes exited uncleanly: {bad} (see {report.paths.get('logs')})")
        raise typer.Exit(1)


DIR_OPTION = typer.Option(Path(".localnet"), "--dir", help="Directory of the local subnet.")


@localnet_app.command("up")
def localnet_up(
    directory: Path = DIR_OPTION,
    resume: bool = typer.Option(False, "--resume", help="Keep the chain, wallets and DB of the last run."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the orchestrator's INFO logs."),
) -> None:
    """Start S3, the simulated chain and a validator, and keep them running (Ctrl-C stops)."""
    from loguru import logger

    from vidaio.localnet.config import LocalnetConfig
    from vidaio.localnet.runner import sigint_to_event
    from vidaio.localnet.up import LocalnetUp

    logger.remove()
    logger.add(sys.stderr, level="INFO" if verbose else "WARNING", format="{time:HH:mm:ss} | {level} | {message}")
    base = LocalnetConfig().localnet
    cfg = type(base).model_validate({**base.model_dump(), "dir": directory, "resume": resume})
    console = Console()

    class _Lines:
        def phase(self, text: str) -> None:
            console.print(f"[bold blue]>[/bold blue] {text}")

        def progress(self, rounds: object, requested: int) -> None:
            return None

    stop = threading.Event()
    restore = sigint_to_event(stop, lambda: console.print("[yellow]stopping...[/yellow]"))
    try:
        error = LocalnetUp(cfg, _Lines(), stop).up()
    finally:
        restore()
    if error:
        Console(stderr=True).print(f"[red]error:[/red] {error}", soft_wrap=True)
        raise typer.Exit(1)


@localnet_app.command("register")
def localnet_register(
    wallet: str = typer.Option(..., "--wallet", help="Wallet (coldkey) name; created if missing."),
    hotkey: str = typer.Option("default", "--hotkey", help="Hotkey name inside the wallet."),
    wallet_path: Path | None = typer.Option(None, "--wallet-path", help="Wallets directory [default: DIR/wallets]."),
    task_type: str = typer.Option("compression", "--task", help="compression or upscaling (written to the env file)."),
    directory: Path = DIR_OPTION,
) -> None:
    """Register a hotkey on the running local subnet and write the env file of its miner."""
    from vidaio.localnet.runner import LocalnetError
    from vidaio.localnet.up import register

    if task_type not in ("compression", "upscaling"):
        typer.echo(f"error: --task must be compression or upscaling, not {task_type!r}", err=True)
        raise typer.Exit(2)
    try:
        uid, ss58, env_file = register(directory, wallet, hotkey=hotkey, wallet_path=wallet_path, task_type=task_type)
    except (LocalnetError, ValueError, OSError) as exc:
        typer.echo(f"error: {' '.join(str(exc).split())}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"registered {ss58} as uid {uid}; env file {env_file}")
    typer.echo(f"check it:  vidaio doctor miner --env-file {env_file}")
    typer.echo(f"run it:    vidaio miner run --env-file {env_file}")
