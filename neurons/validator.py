"""Validator entry point: `python -m neurons.validator [--env-file F] [--rounds N] [--set section.field=value ...]`.

Thin by design: configuration (env vars, `.env`, overrides), logging and the round loop live in
`vidaio.validator`. Exit codes: 0 after SIGINT/SIGTERM or N rounds, 1 cannot start, 2 bad configuration.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vidaio.cli.run import parse_overrides
from vidaio.validator.daemon import main as run_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neurons.validator", description="vidaio validator daemon")
    parser.add_argument("--env-file", type=Path, default=None, help="env file to read instead of ./.env")
    parser.add_argument("--rounds", type=int, default=None, help="stop after N rounds (0 = forever)")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
        help="override one setting (repeatable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        overrides = parse_overrides(args.overrides)
    except ValueError as exc:
        parser.error(str(exc))
    if args.rounds is not None:
        if args.rounds < 0:
            parser.error("--rounds must be >= 0")
        overrides.setdefault("validator", {})["max_rounds"] = args.rounds
    return run_main(args.env_file, overrides)


if __name__ == "__main__":
    sys.exit(main())
