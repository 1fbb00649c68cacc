"""The `vidaio` command: one typer app; each domain adds its own sub-app here."""

from __future__ import annotations

import typer

from vidaio.cli.score import score_app

app = typer.Typer(
    name="vidaio",
    help="vidaio-subnet: decentralized video upscaling and compression on Bittensor.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

# Sub-apps (one module each). Keep this list sorted; one line per module.
app.add_typer(score_app, name="score")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
