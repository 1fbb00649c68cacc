"""Create and load bittensor wallets (btcli layout: `<path>/<name>/coldkey`, `hotkeys/<hotkey>`).

Wallets made here are plain bittensor v11 wallets, readable by btcli and bittensor 10. Dev and
localnet wallets are created without a coldkey password; production operators create theirs with
btcli. Loading never prompts: a missing or encrypted hotkey is reported as a `WalletError`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pydantic import BaseModel

from vidaio.chain.config import WalletConfig

if TYPE_CHECKING:
    from bittensor import Wallet


class WalletError(RuntimeError):
    """A wallet could not be created or loaded; the message names the file and the reason."""


class WalletInfo(BaseModel):
    """Public facts about a wallet (what `vidaio wallet create` prints)."""

    name: str
    hotkey_name: str
    path: str
    coldkey_ss58: str
    hotkey_ss58: str


def _wallet(name: str, hotkey: str, path: Path | str) -> Wallet:
    from bittensor import Wallet  # lazy: importing bittensor costs ~0.8 s

    if not name or "/" in name or not hotkey or "/" in hotkey:
        raise WalletError(f"invalid wallet name {name!r} / hotkey {hotkey!r}: non-empty, no '/'")
    return Wallet(name=name, hotkey=hotkey, path=str(Path(path).expanduser()))


def _dir(path: Path | str, name: str) -> Path:
    return Path(path).expanduser() / name


def create_wallet(
    name: str,
    hotkey: str,
    path: Path | str,
    *,
    overwrite: bool = False,
    on_mnemonic: Callable[[str, str], None] | None = None,
) -> Wallet:
    """Create a coldkey (reused if present) and a hotkey without a password; return the Wallet.

    An existing hotkey is an error unless `overwrite`. `on_mnemonic(role, words)` receives each new
    mnemonic ("coldkey"/"hotkey"); otherwise mnemonics are not shown anywhere.
    """
    wallet = _wallet(name, hotkey, path)
    wdir = _dir(path, name)
    hot_file = wdir / "hotkeys" / hotkey
    if hot_file.exists() and not overwrite:
        raise WalletError(f"hotkey file already exists: {hot_file} (use --overwrite to replace it)")
    try:
        if overwrite or not (wdir / "coldkey").exists():
            wallet.create_new_coldkey(
                use_password=False,
                overwrite=True,
                suppress=True,
                on_mnemonic=(lambda m: on_mnemonic("coldkey", m)) if on_mnemonic else None,
            )
        wallet.create_new_hotkey(
            use_password=False,
            overwrite=True,
            suppress=True,
            on_mnemonic=(lambda m: on_mnemonic("hotkey", m)) if on_mnemonic else None,
        )
    except OSError as exc:
        raise WalletError(f"cannot write wallet under {wdir}: {exc}") from exc
    return wallet


def ensure_wallet(name: str, hotkey: str, path: Path | str) -> Wallet:
    """Load the wallet, creating whatever is missing (coldkey and/or hotkey); for localnet/dev."""
    wdir = _dir(path, name)
    if (wdir / "hotkeys" / hotkey).exists() and (wdir / "coldkeypub.txt").exists():
        return load_wallet(WalletConfig(name=name, hotkey=hotkey, path=Path(path)))
    return create_wallet(name, hotkey, path)


def load_wallet(cfg: WalletConfig) -> Wallet:
    """Load the configured wallet and unlock its hotkey; raise WalletError naming what is wrong."""
    wallet = _wallet(cfg.name, cfg.hotkey, cfg.path)
    wdir = _dir(cfg.path, cfg.name)
    hot_file = wdir / "hotkeys" / cfg.hotkey
    if not wdir.is_dir():
        raise WalletError(f"wallet {cfg.name!r} not found: no directory {wdir}")
    if not hot_file.exists():
        raise WalletError(f"hotkey {cfg.hotkey!r} of wallet {cfg.name!r} not found: no file {hot_file}")
    try:
        _ = wallet.hotkey.ss58_address
    except Exception as exc:  # keyfile errors come from the Rust core with varied types
        raise WalletError(f"cannot read hotkey file {hot_file}: {exc}") from exc
    return wallet


def wallet_info(wallet: Wallet) -> WalletInfo:
    """Public addresses of a loaded wallet (reads the public coldkey file, never the private one)."""
    try:
        cold = wallet.coldkeypub.ss58_address
    except Exception as exc:
        raise WalletError(f"cannot read coldkeypub of wallet {wallet.name!r}: {exc}") from exc
    return WalletInfo(
        name=wallet.name,
        hotkey_name=wallet.hotkey_str,
        path=str(wallet.path),
        coldkey_ss58=cold,
        hotkey_ss58=wallet.hotkey.ss58_address,
    )
