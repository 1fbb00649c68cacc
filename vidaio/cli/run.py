"""`vidaio miner run` (and, next to it, the validator's `run`): start a daemon from config.

Configuration comes from env vars and `.env` (or `--env-file`), with `--set section.field=value`
overrides on top, e.g. `--set miner.task_type=upscaling --set server.port=8092
--set 'miner.codecs=["av1"]'`. Values are strings that pydantic converts; a value starting with
`[` or `{` is read as JSON and `null` means "unset".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

miner_app = typer.Typer(name="miner", help="The miner daemon.", no_args_is_help=True)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`["a.b=1", "a.c=x"]` -> `{"a": {"b": "1", "c": "x"}}`; ValueError naming a malformed item."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        parts = [p.strip() for p in key.split(".")]
        if not sep or not all(parts):
            raise ValueError(f"--set expects section.field=value, got {item!r}")
        if len(parts) < 2:
            raise ValueError(f"--set {item}: a setting needs its section, e.g. {_with_section(parts[0])}=...")
        value: Any = raw
        if raw.strip() == "null":
            value = None
        elif raw.lstrip().startswith(("[", "{")):
            try:
                value = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"--set {key}: value is not valid JSON ({exc.msg})") from None
        node = out
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ValueError(f"--set {key}: {part!r} is already set to a value")
            node = child
        node[parts[-1]] = value
    return out


def _with_section(field: str) -> str:
    """`task_type` -> `miner.task_type` (the first section that has such a field), else `section.task_type`."""
    from vidaio.config import DAEMON_MODELS
    from vidaio.settings_keys import setting_paths

    for model in DAEMON_MODELS.values():
        for path in setting_paths(model):
            if len(path) == 2 and path[1] == field.lower():
                return ".".join(path)
    return f"section.{field}"


ENV_FILE_OPTION = typer.Option(None, "--env-file", help="Read settings from this env file instead of ./.env.")
SET_OPTION = typer.Option(
    [], "--set", metavar="SECTION.FIELD=VALUE", help="Override one setting (repeatable), e.g. miner.task_type=upscaling."
)


@miner_app.command("run")
def miner_run(env_file: Path | None = ENV_FILE_OPTION, set_: list[str] = SET_OPTION) -> None:
    """Run the miner until SIGINT/SIGTERM (exit 0; 1: cannot start; 2: bad configuration)."""
    try:
        overrides = parse_overrides(set_)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    from vidaio.miner.daemon import main

    raise typer.Exit(main(env_file, overrides))


validator_app = typer.Typer(name="validator", help="The validator daemon.", no_args_is_help=True)

INIT_OPTION = typer.Option(
    False, "--init", help="First start: create the database directory if missing (else a missing one is an error)."
)
ROUNDS_OPTION = typer.Option(None, "--rounds", min=0, help="Stop after N rounds (0 = forever); sets validator.max_rounds.")


@validator_app.command("run")
def validator_run(
    env_file: Path | None = ENV_FILE_OPTION,
    rounds: int | None = ROUNDS_OPTION,
    set_: list[str] = SET_OPTION,
    init: bool = INIT_OPTION,
) -> None:
    """Run the validator until SIGINT/SIGTERM or --rounds (exit 0; 1: cannot start; 2: bad configuration)."""
    try:
        overrides = parse_overrides(set_)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if rounds is not None:
        section = overrides.setdefault("validator", {})
        if not isinstance(section, dict):
            typer.echo("error: --rounds conflicts with --set validator=...", err=True)
            raise typer.Exit(2)
        section["max_rounds"] = rounds
    from vidaio.validator.daemon import main

    raise typer.Exit(main(env_file, overrides, init=init))


def invoke(app: typer.Typer, command: str, argv: list[str], prog: str) -> int:
    """Run `app command argv...` as a program (the neurons/*.py launchers); its exit code.

    `--help` of the launcher shows the command's own help, so both spellings document the same options.
    """
    import click

    from vidaio.cli.helpfmt import flags_as_flags

    flags_as_flags()
    cli = typer.main.get_command(app)
    args = [command, *argv] if isinstance(cli, click.Group) else list(argv)
    try:
        cli.main(args, prog_name=prog, standalone_mode=True)
    except SystemExit as exc:
        code = exc.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    return 0
