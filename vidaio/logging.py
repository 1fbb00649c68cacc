"""One loguru set-up for every entry point: INFO and below to stdout, WARNING and above to stderr,
plus a rotating file (text or JSON lines) under a log dir.

The split keeps `pm2 logs` honest (its `*.err.log` holds only warnings and errors) and a service
manager's own timestamps off: pm2 runs with `time: false`, so each line has one timestamp, ours.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal

from loguru import logger
from pydantic import BaseModel, Field

LogLevel = Literal["TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"]

WARNING_NO = 30
_FORMAT = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level: <7} | {extra[daemon]} | {message}"


class LogConfig(BaseModel):
    """Logging settings shared by every daemon (env prefix `VIDAIO_LOG__`)."""

    level: LogLevel = Field("INFO", description="Minimum level written to stderr and the log file.")
    dir: Path = Field(Path("logs"), description="Directory of the rotating log files (created if missing).")
    rotation: str = Field("50 MB", description="Rotate the log file when it reaches this size (loguru syntax).")
    retention: str = Field("14 days", description="Delete rotated log files older than this (loguru syntax).")
    to_file: bool = Field(True, description="Also write a rotating log file under `dir`.")
    json_file: bool = Field(False, description="Write the file log as JSON lines (for log shippers).")


def add_console_sinks(level: str, fmt: str = _FORMAT) -> None:
    """INFO and below to stdout, WARNING and above to stderr (also used by worker processes)."""
    logger.add(
        sys.stdout, level=level, format=fmt, backtrace=False, diagnose=False,
        filter=lambda record: record["level"].no < WARNING_NO,
    )  # fmt: skip
    logger.add(sys.stderr, level=max(logger.level(level).no, WARNING_NO), format=fmt, backtrace=False, diagnose=False)


def setup_logging(cfg: LogConfig, daemon: str) -> Path | None:
    """Configure loguru for `daemon` ("miner", "validator", ...); return the log file path, if any.

    Idempotent: removes previously installed sinks first, so tests and re-entrant CLIs can call it.
    """
    logger.remove()
    logger.configure(extra={"daemon": daemon})
    add_console_sinks(cfg.level)
    if not cfg.to_file:
        return None
    cfg.dir.mkdir(parents=True, exist_ok=True)
    path = cfg.dir / f"{daemon}.log"
    logger.add(
        path,
        level=cfg.level,
        format=_FORMAT,
        rotation=cfg.rotation,
        retention=cfg.retention,
        enqueue=True,
        serialize=cfg.json_file,
        backtrace=False,
        diagnose=False,
    )
    return path
