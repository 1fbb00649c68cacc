"""Help text conventions for every `vidaio` command: boolean flags are shown as flags.

typer's rich help prints a type for every option, so `--json` reads `--json <bool>` as if it
took a value. A flag takes none: its type column stays empty. Applied once by `vidaio.cli.main`.
"""

from __future__ import annotations

from typing import Any

import click
from typer.core import TyperOption

_PATCHED = "_vidaio_flags_as_flags"


def flags_as_flags() -> None:
    """Show boolean flags (and `--help`) without a `<bool>` type; idempotent."""
    if getattr(TyperOption, _PATCHED, False):
        return
    original = TyperOption.display_type_rich

    def display_type_rich(self: TyperOption, ctx: click.Context) -> Any:
        if getattr(self, "is_flag", False) or getattr(self, "count", False):
            return None
        return original(self, ctx)

    TyperOption.display_type_rich = display_type_rich  # type: ignore[method-assign]
    setattr(TyperOption, _PATCHED, True)
