"""Env files for the neuron processes: `{"a.b": v}` settings -> `VIDAIO_A__B='v'` lines.

Each localnet process reads exactly one env file (`--env-file`), and its environment carries no
other `VIDAIO_*` variable, so a developer's own `.env` or shell exports cannot leak into it. The
file is plain text: rerun any neuron by hand with `python -m neurons.miner --env-file FILE`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ENV_PREFIX = "VIDAIO_"
# Not settings of a daemon config: machine-level locations that the children should still see.
KEEP_ENV = frozenset({"VIDAIO_WEIGHTS_DIR"})
_KEY = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


def env_name(dotted: str) -> str:
    """`"miner.upscaling.engine"` -> `"VIDAIO_MINER__UPSCALING__ENGINE"`."""
    if not _KEY.match(dotted):
        raise ValueError(f"setting name {dotted!r} must be dotted lower-case identifiers")
    return ENV_PREFIX + "__".join(part.upper() for part in dotted.split("."))


def env_value(value: Any) -> str:
    """The text pydantic-settings parses back into `value` (lists/dicts as JSON)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, separators=(",", ":"))
    if isinstance(value, Path):
        return str(value)
    return str(value)


def render_env(settings: Mapping[str, Any], header: str = "") -> str:
    """Env file text: optional `# header` lines, then one single-quoted `KEY='value'` per setting."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    for key in sorted(settings):
        text = env_value(settings[key])
        if "'" in text or "\n" in text:
            raise ValueError(f"setting {key}: value must not contain a quote or a newline")
        lines.append(f"{env_name(key)}='{text}'")
    return "\n".join(lines) + "\n"


def write_env_file(path: Path, settings: Mapping[str, Any], header: str = "") -> Path:
    """Write the env file atomically (temp file + rename), readable by the owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(render_env(settings, header))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def clean_environ(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    """A copy of the environment without `VIDAIO_*` settings (KEEP_ENV stays), plus `extra`."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not k.startswith(ENV_PREFIX) or k in KEEP_ENV}
    env.update(extra)
    return env
