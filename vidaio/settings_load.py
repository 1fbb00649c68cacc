"""Shared by the daemons: load a pydantic-settings model with errors that name the setting, and
the `main` that turns a run into a process exit code."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from loguru import logger
from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsError

from vidaio.logging import setup_logging

S = TypeVar("S", bound=BaseSettings)


class ConfigError(ValueError):
    """The configuration cannot be loaded; the message names the setting(s) and the reason."""


def describe_validation_error(exc: ValidationError, limit: int = 6) -> str:
    """One line per problem: `section.field: message` (input values are never echoed: secrets)."""
    parts = []
    for err in exc.errors(include_url=False, include_input=False)[:limit]:
        loc = ".".join(str(p) for p in err.get("loc", ())) or "config"
        msg = str(err.get("msg", "invalid")).removeprefix("Value error, ").removeprefix("Assertion failed, ")
        parts.append(f"{loc}: {msg}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def load_settings(
    model: type[S],
    env_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    *,
    strict: bool = True,
) -> S:
    """Env vars, then `env_file` (default `.env`), under `overrides` ({section: {field: value}}, highest).

    Strict (the default): a `VIDAIO_*` key in the environment or the env file, or a `--set` key,
    that names no setting is an error with a "did you mean" suggestion. List settings accept JSON
    or comma-separated values. Raises ConfigError with one line naming the problem(s).
    """
    from vidaio.settings_keys import check_env, check_overrides, split_list_overrides

    values = split_list_overrides(model, dict(overrides or {}))
    kwargs: dict[str, Any] = dict(values)
    if env_file is not None:
        if not Path(env_file).is_file():
            raise ConfigError(f"env file {env_file} does not exist (fix the path given to --env-file)")
        kwargs["_env_file"] = Path(env_file)
    if strict:
        default_file = model.model_config.get("env_file")
        checked = Path(env_file) if env_file is not None else (Path(str(default_file)) if default_file else None)
        problems = check_env(checked) + check_overrides(model, values)
        if problems:
            raise ConfigError("; ".join(problems))
    try:
        return model(**kwargs)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except SettingsError as exc:
        field = str(exc).split('"')[1] if str(exc).count('"') >= 2 else "a setting"
        reason = str(exc.__cause__ or exc)
        raise ConfigError(" ".join(f"cannot read {field} from the environment or env file: {reason}".split())) from None


def run_daemon(
    daemon: str,
    load: Callable[[], S],
    run: Callable[[S], Awaitable[object]],
    startup_error: type[Exception],
) -> int:
    """The shared `main` of a daemon: load the config, set up logging, run; the process exit code.

    0 after a clean stop (SIGINT/SIGTERM handled by the daemon), 1 when it cannot start or
    crashed, 2 for a bad configuration. Logs are flushed before returning.
    """
    try:
        cfg = load()
    except ConfigError as exc:
        logger.remove()
        sink = logger.add(sys.stderr, level="ERROR", format="{message}")
        logger.error("error: {} configuration: {}", daemon, " ".join(str(exc).split()))
        logger.remove(sink)
        return 2
    setup_logging(cfg.log, daemon)  # type: ignore[attr-defined]
    code = 0
    try:
        asyncio.run(run(cfg))  # type: ignore[arg-type]
    except startup_error as exc:
        logger.error("{} cannot start: {}", daemon, " ".join(str(exc).split()))  # one line
        code = 1
    except KeyboardInterrupt:
        logger.info("{} interrupted during start-up", daemon)
    except Exception as exc:
        logger.opt(exception=exc).error("{} crashed: {}", daemon, exc)
        code = 1
    finally:
        logger.complete()
        logger.remove()
    return code
