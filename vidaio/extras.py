"""Optional parts of the install (pyproject extras) and the clear error when one is missing.

The one-machine demo (`vidaio localnet`, the moto S3 server of `vidaio.storage.local`) needs the
`localnet` extra; a production miner or validator does not carry it.
"""

from __future__ import annotations

import importlib.util

LOCALNET_MODULES: tuple[str, ...] = ("moto", "flask", "flask_cors")


class MissingExtra(ImportError):
    """A feature needs an optional extra that is not installed; the message says how to install it."""


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken or blocked parent package counts as missing
        return False


def require_extra(extra: str, modules: tuple[str, ...], what: str) -> None:
    """Raise MissingExtra naming `extra` when any of `modules` cannot be imported."""
    missing = [m for m in modules if not _installed(m)]
    if missing:
        raise MissingExtra(
            f"{what} needs the '{extra}' extra (missing: {', '.join(missing)}); "
            f"install it with: pip install 'vidaio-subnet[{extra}]' (make setup does)"
        )


def require_localnet(what: str = "the localnet") -> None:
    """The demo/test-only parts (moto S3 server, flask) are installed, or MissingExtra."""
    require_extra("localnet", LOCALNET_MODULES, what)
