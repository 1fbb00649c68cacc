"""`vidaio wallet ...`: create and inspect bittensor wallets (btcli layout) for dev and localnet.

Dev wallets have no coldkey password. For real funds create wallets with `btcli` instead.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from vidaio.chain.config import WalletConfig
from vidaio.chain.wallets import WalletError, WalletInfo, create_wallet, load_wallet, wallet_info

wallet_app = typer.Typer(
    help="Create and show bittensor wallets (dev/localnet: no password prompt).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

NAME_OPTION = typer.Option("default", "--name", help="Wallet (coldkey) name.")
HOTKEY_OPTION = typer.Option("default", "--hotkey", help="Hotkey name inside the wallet.")
PATH_OPTION = typer.Option(Path("~/.bittensor/wallets"), "--path", help="Directory holding the wallets.")
JSON_OPTION = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _print(info: WalletInfo, as_json: bool, title: str) -> None:
    if as_json:
        typer.echo(json.dumps(info.model_dump()))
        return
    table = Table(title=title)
    table.add_column("field")
    table.add_column("value")
    for key, value in info.model_dump().items():
        table.add_row(key, str(value))
    Console().print(table)


def _fail(message: str) -> None:
    Console(stderr=True).print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


@wallet_app.command("create")
def create(
    name: str = NAME_OPTION,
    hotkey: str = HOTKEY_OPTION,
    path: Path = PATH_OPTION,
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing keys of this name."),
    show_mnemonic: bool = typer.Option(
        False, "--show-mnemonic", help="Print the new mnemonics to stderr (write them down)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a coldkey (reused if it exists) and a hotkey, without a password."""
    err = Console(stderr=True)

    def on_mnemonic(role: str, words: str) -> None:
        if show_mnemonic:
            err.print(f"{role} mnemonic: {words}")

    try:
        wallet = create_wallet(name, hotkey, path, overwrite=overwrite, on_mnemonic=on_mnemonic)
        info = wallet_info(wallet)
    except WalletError as exc:
        _fail(str(exc))
        return
    _print(info, as_json, "wallet created")


@wallet_app.command("show")
def show(
    name: str = NAME_OPTION,
    hotkey: str = HOTKEY_OPTION,
    path: Path = PATH_OPTION,
    as_json: bool = JSON_OPTION,
) -> None:
    """Show the coldkey and hotkey addresses of a wallet."""
    try:
        info = wallet_info(load_wallet(WalletConfig(name=name, hotkey=hotkey, path=path)))
    except WalletError as exc:
        _fail(str(exc))
        return
    _print(info, as_json, "wallet")
