"""`vidaio dashboard`: the read-only web console over the validator database (see docs/operations.md)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import typer

dashboard_app = typer.Typer(
    help="Web dashboard over the validator database (read-only): leaderboard, miners, rounds, weights.",
    invoke_without_command=True,
    pretty_exceptions_enable=False,
)


@dashboard_app.callback()
def dashboard(
    db: Path | None = typer.Option(None, "--db", help="Validator SQLite file [default: VIDAIO_DB__PATH]."),
    host: str | None = typer.Option(None, "--host", help="Interface [default: VIDAIO_DASHBOARD__HOST, 127.0.0.1]."),
    port: int | None = typer.Option(None, "--port", min=0, max=65535, help="Port [default: 8300; 0: any free]."),
    env_file: Path | None = typer.Option(None, "--env-file", help="Read settings from this file instead of ./.env."),
) -> None:
    """Serve the dashboard until Ctrl-C; prints its URL. The token comes only from VIDAIO_DASHBOARD__TOKEN."""
    from vidaio.dashboard.config import DashboardConfig
    from vidaio.dashboard.server import DashboardError, serve_dashboard
    from vidaio.logging import LogConfig, setup_logging
    from vidaio.settings_load import ConfigError, load_settings

    overrides: dict[str, dict[str, object]] = {}
    if db is not None:
        overrides["db"] = {"path": str(db)}
    if host is not None or port is not None:
        overrides["dashboard"] = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
    try:
        cfg = load_settings(DashboardConfig, env_file, overrides)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    setup_logging(LogConfig(to_file=False), "dashboard")

    def ready(url: str) -> None:
        sys.stdout.write(f"dashboard: {url}\n")
        sys.stdout.flush()

    try:
        asyncio.run(serve_dashboard(cfg, ready))
    except DashboardError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        pass
