"""`vidaio doctor [miner|validator]`: one line per check (ok / problem + fix); exit code = problems."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import typer

from vidaio.cli.run import ENV_FILE_OPTION, SET_OPTION, parse_overrides

doctor_app = typer.Typer(name="doctor", pretty_exceptions_enable=False)


@doctor_app.command()
def doctor(
    role: str = typer.Argument("miner", help="miner or validator", metavar="[miner|validator]"),
    env_file: Path | None = ENV_FILE_OPTION,
    set_: list[str] = SET_OPTION,
    as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON instead of lines."),
) -> None:
    """Check config, keys, wallet, chain, hotkey, S3, port, ffmpeg, weights, DB and disk, in that order.

    The exit code is the number of problems (0: ready to run).
    """
    from vidaio.doctor import as_json as to_json
    from vidaio.doctor import run_checks

    if role not in ("miner", "validator"):
        typer.echo(f"error: doctor checks a miner or a validator, not {role!r}", err=True)
        raise typer.Exit(2)
    try:
        overrides = parse_overrides(set_)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    from loguru import logger

    logger.remove()  # library logs would interleave with the check lines
    on_check = None if as_json else (lambda c: typer.echo(c.line()))
    checks = asyncio.run(run_checks(role, env_file, overrides, on_check))  # type: ignore[arg-type]
    problems = sum(1 for c in checks if not c.ok)
    if as_json:
        typer.echo(json.dumps({"role": role, "problems": problems, "checks": to_json(checks)}, indent=2))
    else:
        typer.echo(f"{problems} problem(s)" if problems else "no problems: ready to run")
    raise typer.Exit(min(problems, 125))
