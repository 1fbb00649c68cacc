"""Miner entry point: `python -m neurons.miner [--env-file F] [--set section.field=value ...]`.

Thin by design: configuration (env vars, `.env`, overrides), logging and the run loop live in
`vidaio.miner`. Exit codes: 0 after SIGINT/SIGTERM, 1 cannot start, 2 bad configuration.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from vidaio.cli.run import parse_overrides
from vidaio.miner.daemon import main as run_main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m neurons.miner", description="vidaio miner daemon")
    parser.add_argument("--env-file", type=Path, default=None, help="env file to read instead of ./.env")
    parser.add_argument(
        "--set", dest="overrides", action="append", default=[], metavar="SECTION.FIELD=VALUE",
        help="override one setting (repeatable)",
    )  # fmt: skip
    args = parser.parse_args(argv)
    try:
        overrides = parse_overrides(args.overrides)
    except ValueError as exc:
        parser.error(str(exc))
    return run_main(args.env_file, overrides)


if __name__ == "__main__":
    sys.exit(main())
