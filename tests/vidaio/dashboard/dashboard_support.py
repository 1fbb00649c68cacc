"""Helpers and fixtures of the dashboard tests: a seeded validator DB and a real `vidaio dashboard` process
(imported by name from conftest.py and the tests: a module called `conftest` is ambiguous across test dirs)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dashboard_seed import seed_database

REPO = Path(__file__).resolve().parents[3]


@dataclass
class Served:
    url: str
    proc: subprocess.Popen[str]
    stderr_path: Path

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def dashboard_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDAIO_")}
    env.update(PYTHONUNBUFFERED="1", **extra)
    return env


def start_dashboard(db: Path, workdir: Path, *, env: dict[str, str] | None = None, args: tuple[str, ...] = (),
                    timeout_s: float = 120.0) -> Served:  # fmt: skip
    """`vidaio dashboard --db DB --port 0` in its own process (cwd `workdir`, so no stray .env); waits for its URL."""
    err = workdir / f"dashboard-{time.monotonic_ns()}.err"
    out = workdir / f"dashboard-{time.monotonic_ns()}.out"
    cmd = [sys.executable, "-m", "vidaio.cli.main", "dashboard", "--db", str(db), "--port", "0", *args]
    with out.open("w") as fo, err.open("w") as fe:
        proc = subprocess.Popen(cmd, cwd=workdir, env=env or dashboard_env(), stdout=fo, stderr=fe, text=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        m = re.search(r"dashboard: (http://\S+)", out.read_text())
        if m:
            return Served(m.group(1), proc, err)
        if proc.poll() is not None:
            raise AssertionError(f"dashboard exited {proc.returncode}: {err.read_text()[-2000:]}")
        time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"dashboard did not announce its URL in {timeout_s:.0f}s: {err.read_text()[-2000:]}")


def stop(served: Served) -> None:
    if served.proc.poll() is None:
        served.proc.terminate()
        try:
            served.proc.wait(15)
        except subprocess.TimeoutExpired:
            served.proc.kill()
            served.proc.wait(5)


@pytest.fixture(scope="module")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("seeded") / "validator.db"
    seed_database(path).close()
    return path


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[Callable[..., Served]]:
    started: list[Served] = []

    def _start(db: Path, **kwargs: object) -> Served:
        served = start_dashboard(db, tmp_path, **kwargs)  # type: ignore[arg-type]
        started.append(served)
        return served

    yield _start
    for s in started:
        stop(s)
