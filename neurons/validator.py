"""Validator entry point: `python -m neurons.validator [--env-file F] [--rounds N] [--set section.field=value ...]`.

The same typer command as `vidaio validator run` (one launcher: same options, same checks, same
exit codes): 0 after SIGINT/SIGTERM or N rounds, 1 cannot start, 2 bad configuration.
"""

from __future__ import annotations

import sys

from vidaio.cli.run import invoke, validator_app


def main(argv: list[str] | None = None) -> int:
    return invoke(validator_app, "run", sys.argv[1:] if argv is None else argv, prog="python -m neurons.validator")


if __name__ == "__main__":
    sys.exit(main())
