"""The chain factory: the ChainPort selected by `ChainConfig.backend`.

Kept out of `vidaio.chain.config` so the configuration never imports the adapters that read it
(no import circle).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vidaio.chain.config import ChainConfig
from vidaio.chain.port import ChainPort

if TYPE_CHECKING:
    from bittensor import Wallet


def make_chain(cfg: ChainConfig, wallet: Wallet) -> ChainPort:
    """Build the ChainPort selected by `cfg.backend` for `wallet` (its hotkey signs chain calls)."""
    if cfg.backend == "localnet":
        from vidaio.chain.localnet import LocalnetChain

        return LocalnetChain.from_config(cfg, hotkey=wallet.hotkey.ss58_address)
    from vidaio.chain.bittensor_adapter import BittensorChain  # lazy: importing bittensor is slow

    return BittensorChain(cfg, wallet)
