"""The `vidaio` command: one typer app; each domain adds its own sub-app here."""

from __future__ import annotations

import typer

import vidaio.cli.score_clips  # noqa: F401  (registers commands)
from vidaio.cli.config import config_app
from vidaio.cli.dashboard import dashboard_app
from vidaio.cli.db import db_app
from vidaio.cli.doctor import doctor
from vidaio.cli.helpfmt import flags_as_flags
from vidaio.cli.localnet import localnet_app
from vidaio.cli.plot import plot_app
from vidaio.cli.run import miner_app, validator_app
from vidaio.cli.score import score_app
from vidaio.cli.wallet import wallet_app

flags_as_flags()  # `--json`, not `--json <bool>`, in every command's help

app = typer.Typer(
    name="vidaio",
    help="vidaio-subnet: decentralized video upscaling and compression on Bittensor.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Sub-apps (one module each). Keep this list sorted; one line per module.
app.add_typer(config_app, name="config")
app.add_typer(dashboard_app, name="dashboard")
app.add_typer(db_app, name="db")
app.command("doctor")(doctor)
app.add_typer(localnet_app, name="localnet")
app.add_typer(miner_app, name="miner")
app.add_typer(plot_app, name="plot")
app.add_typer(score_app, name="score")
app.add_typer(validator_app, name="validator")
app.add_typer(wallet_app, name="wallet")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
