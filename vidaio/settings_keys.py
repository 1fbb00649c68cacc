"""Strict configuration keys: every `VIDAIO_*` name and every `--set` key must name a setting.

A misspelled key (`VIDAIO_MINNER__TASK_TYPE`, `VIDAIO_MINER_TASK_TYPE` with one underscore,
`--set miner.taskk_type=...`) is an error naming it with a "did you mean ..." suggestion instead
of being silently ignored. Names are checked against the settings of *every* daemon, so one
`.env` shared by a miner and a validator stays valid.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from vidaio.settings_base import ENV_PREFIX, NESTED_DELIMITER

# VIDAIO_* variables that are not settings: read by scripts, pm2 or tests, never by a model.
OTHER_ENV_VARS = frozenset(
    {
        "VIDAIO_ENV_FILE",
        "VIDAIO_MINER_ENV_FILE",
        "VIDAIO_VALIDATOR_ENV_FILE",
        "VIDAIO_PYTHON",
        "VIDAIO_PM2_LOG_DIR",
        "VIDAIO_WEIGHTS_DIR",
        "VIDAIO_STRICT_SKIPS",  # tests/strict_skips.py (CI)
        "VIDAIO_RAY_HEAD",  # ecosystem.config.js: the Ray head/worker pm2 apps
        "VIDAIO_RAY_ADDRESS",
        "VIDAIO_RAY_PORT",
        "VIDAIO_RAY_NUM_CPUS",
        "VIDAIO_RAY_NUM_GPUS",
    }
)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The BaseModel classes an annotation can hold (`Section`, `Section | None`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _models_in(arg)]
    if origin is typing.Annotated:
        return _models_in(typing.get_args(annotation)[0])
    return []


def _is_mapping(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _is_mapping(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_is_mapping(a) for a in typing.get_args(annotation))
    return origin in (dict, Mapping) or annotation is dict


def setting_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], bool]:
    """Every dotted path of `model` -> whether deeper keys are free-form (a dict field)."""
    out: dict[tuple[str, ...], bool] = {}
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        out[path] = _is_mapping(field.annotation)
        for sub in _models_in(field.annotation):
            out.update(setting_paths(sub, path))
    return out


def _all_paths() -> dict[tuple[str, ...], bool]:
    from vidaio.config import DAEMON_MODELS

    paths: dict[tuple[str, ...], bool] = {}
    for model in DAEMON_MODELS.values():
        paths.update(setting_paths(model))
    return paths


def env_name(path: tuple[str, ...]) -> str:
    return ENV_PREFIX + NESTED_DELIMITER.join(p.upper() for p in path)


def _known(path: tuple[str, ...], paths: Mapping[tuple[str, ...], bool]) -> bool:
    if path in paths:
        return True
    return any(paths.get(path[:i], False) for i in range(1, len(path)))


def suggest(wrong: str, candidates: Iterable[str]) -> str:
    """` (did you mean X?)` for the closest candidate, or "" when none is close."""
    match = difflib.get_close_matches(wrong, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {match[0]}?)" if match else ""


def unknown_env_keys(names: Iterable[str], paths: Mapping[tuple[str, ...], bool] | None = None) -> list[str]:
    """The `VIDAIO_*` names (case-insensitive) that match no setting, each with a suggestion."""
    paths = _all_paths() if paths is None else paths
    known_names = sorted({env_name(p) for p in paths} | OTHER_ENV_VARS)
    problems = []
    for raw in names:
        name = raw.upper()
        if not name.startswith(ENV_PREFIX) or name in OTHER_ENV_VARS:
            continue
        parts = name[len(ENV_PREFIX) :].split(NESTED_DELIMITER)
        if all(parts) and _known(tuple(p.lower() for p in parts), paths):
            continue
        problems.append(f"{raw}{suggest(name, known_names)}")
    return problems


def env_file_keys(env_file: Path) -> list[str]:
    """The variable names an env file sets (python-dotenv's parser, as pydantic-settings reads it)."""
    from dotenv import dotenv_values

    return [k for k in dotenv_values(env_file) if k]


def check_env(env_file: Path | None, environ: Mapping[str, str] | None = None) -> list[str]:
    """One message per unknown `VIDAIO_*` key in the environment and in `env_file` (when it exists)."""
    environ = os.environ if environ is None else environ
    paths = _all_paths()
    problems = [f"unknown setting {p} in the environment" for p in unknown_env_keys(environ, paths)]
    if env_file is not None and Path(env_file).is_file():
        problems += [
            f"unknown setting {p} in {env_file}" for p in unknown_env_keys(env_file_keys(env_file), paths)
        ]
    return problems


def check_overrides(model: type[BaseModel], overrides: Mapping[str, Any]) -> list[str]:
    """One message per `--set` key that is not a setting of `model` (with a suggestion)."""
    paths = setting_paths(model)
    dotted = sorted(".".join(p) for p in paths)
    sections = {p[:i] for p in paths for i in range(1, len(p))}
    problems: list[str] = []

    def walk(node: Mapping[str, Any], prefix: tuple[str, ...]) -> None:
        for key, value in node.items():
            if not prefix and key.startswith("_"):  # pydantic-settings init options (_env_file, ...)
                continue
            path = (*prefix, key)
            if isinstance(value, dict) and (path in sections or not _known(path, paths)):
                walk(value, path)
            elif not _known(path, paths):
                dotted_key = ".".join(path)
                problems.append(
                    f"--set {dotted_key}: not a setting of this daemon{suggest(dotted_key, dotted)}"
                )

    walk(overrides, ())
    return problems


def _list_field_paths(model: type[BaseModel], prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        origin = typing.get_origin(field.annotation)
        args = (
            typing.get_args(field.annotation)
            if origin in (typing.Union, types.UnionType)
            else (field.annotation,)
        )
        if any(typing.get_origin(a) in (list, tuple, set, frozenset) for a in args):
            out.add(path)
        for sub in _models_in(field.annotation):
            out |= _list_field_paths(sub, path)
    return out


def split_list_overrides(model: type[BaseModel], overrides: dict[str, Any]) -> dict[str, Any]:
    """`--set miner.codecs=av1,hevc` -> a list, as the environment accepts it (JSON still works)."""
    lists = _list_field_paths(model)

    def walk(node: dict[str, Any], prefix: tuple[str, ...]) -> None:
        for key, value in list(node.items()):
            path = (*prefix, key)
            if isinstance(value, dict):
                walk(value, path)
            elif path in lists and isinstance(value, str):
                node[key] = [item.strip() for item in value.split(",") if item.strip()]

    walk(overrides, ())
    return overrides
