"""`vidaio config`: print `.env.example`, check it is current, show a daemon's effective settings."""

from __future__ import annotations

import json
from pathlib import Path

import typer

config_app = typer.Typer(help="Configuration: the .env.example reference and effective settings.", no_args_is_help=True)


@config_app.command("env-example")
def env_example_cmd(
    check: Path | None = typer.Option(None, "--check", help="Exit 1 if this file differs from the generated text."),
) -> None:
    """Print every setting of every daemon with its default (the content of `.env.example`)."""
    from vidaio.config import env_example

    text = env_example()
    if check is None:
        typer.echo(text, nl=False)
        return
    current = check.read_text() if check.exists() else ""
    if current != text:
        typer.echo(f"error: {check} is out of date; regenerate it with `vidaio config env-example > {check}`", err=True)
        raise typer.Exit(1)
    typer.echo(f"{check} is up to date")


@config_app.command("show")
def show_cmd(
    daemon: str = typer.Argument(..., help="miner, validator or localnet"),
    env_file: Path | None = typer.Option(None, "--env-file", help="Read this env file instead of ./.env."),
) -> None:
    """Print the effective settings of a daemon as JSON (secrets masked)."""
    from vidaio.config import DAEMON_MODELS

    model = DAEMON_MODELS.get(daemon)
    if model is None:
        typer.echo(f"error: unknown daemon {daemon!r}; choose one of {', '.join(DAEMON_MODELS)}", err=True)
        raise typer.Exit(2)
    from vidaio.settings_load import ConfigError, load_settings

    try:
        cfg = load_settings(model, env_file)  # the daemons' strict loader: unknown keys are errors too
    except ConfigError as exc:
        typer.echo(f"error: {daemon} configuration: {exc}", err=True)
        raise typer.Exit(2) from None
    typer.echo(json.dumps(json.loads(cfg.model_dump_json()), indent=2))
