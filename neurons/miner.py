"""Miner entry point: `python -m neurons.miner [--env-file F] [--set section.field=value ...]`.

The same typer command as `vidaio miner run` (one launcher: same options, same checks, same exit
codes): 0 after SIGINT/SIGTERM, 1 cannot start, 2 bad configuration.
"""

from __future__ import annotations

import sys

from vidaio.cli.run import invoke, miner_app


def main(argv: list[str] | None = None) -> int:
    return invoke(miner_app, "run", sys.argv[1:] if argv is None else argv, prog="python -m neurons.miner")


if __name__ == "__main__":
    sys.exit(main())
