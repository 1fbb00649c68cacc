"""Child processes of the localnet: start, health-check, graceful SIGINT stop, forced kill.

Every neuron runs in its own session (process group), so a Ctrl-C in the terminal reaches only
the orchestrator, which then stops the children in order (validator first, so its DB is left
consistent, then the miners, then S3). On Linux each child also gets SIGTERM if the orchestrator
dies without cleaning up (PR_SET_PDEATHSIG), so no neuron outlives a killed `vidaio localnet`.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

from loguru import logger

PR_SET_PDEATHSIG = 1


class ProcessError(RuntimeError):
    """A neuron process failed to start or exited early; the message carries its last log lines."""


class Interrupted(Exception):
    """The run was asked to stop (Ctrl-C) while waiting."""


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """One neuron process, its log file and its exit status."""

    def __init__(
        self,
        name: str,
        cmd: Sequence[str],
        *,
        env: Mapping[str, str],
        log_path: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.cmd = list(cmd)
        self.env = dict(env)
        self.log_path = log_path
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.stop_signal: str | None = None
        self.killed = False

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self.proc.poll() if self.proc is not None else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> Child:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            self.cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=self.env,
            cwd=self.cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
        )
        logger.debug("started {} (pid {}): {}", self.name, self.proc.pid, " ".join(self.cmd))
        return self

    def tail(self, lines: int = 15) -> str:
        """The last lines of the process log (for error messages)."""
        try:
            data = self.log_path.read_bytes()[-8192:]
        except OSError:
            return ""
        return "\n".join(data.decode(errors="replace").splitlines()[-lines:])

    def send(self, sig: signal.Signals) -> None:
        if self.running() and self.proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, sig)

    def wait(self, timeout_s: float) -> int | None:
        if self.proc is None:
            return None
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def request_stop(self, sig: signal.Signals = signal.SIGINT) -> None:
        """Send the graceful stop signal once (a second SIGINT makes uvicorn force-exit)."""
        if self.stop_signal is None and self.running():
            self.stop_signal = sig.name
            self.send(sig)

    def stop(self, timeout_s: float, sig: signal.Signals = signal.SIGINT) -> int | None:
        """SIGINT (graceful), wait `timeout_s`, then SIGKILL the whole process group; the exit code."""
        if self.proc is None:
            return None
        if self.running():
            self.request_stop(sig)
            if self.wait(timeout_s) is None:
                logger.warning("{} did not exit {:.0f}s after {}: killing it", self.name, timeout_s, sig.name)
                self.kill()
        self._kill_group_leftovers()
        self._close_log()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is None:
            return
        self.killed = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)

    def _kill_group_leftovers(self) -> None:
        """Encoders a daemon started and did not reap: the group dies with its leader."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def http_ok(host: str, port: int, path: str = "/health", timeout_s: float = 1.0) -> bool:
    """True when GET host:port/path answers 200."""
    conn = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def wait_until(
    ready: Callable[[], bool],
    children: Sequence[Child],
    timeout_s: float,
    what: str,
    *,
    interval_s: float = 0.25,
    stop: threading.Event | None = None,
) -> None:
    """Poll `ready()` until True; ProcessError if a child exits or time runs out, Interrupted on `stop`."""
    deadline = time.monotonic() + timeout_s
    while True:
        if stop is not None and stop.is_set():
            raise Interrupted(f"stopped while waiting for {what}")
        for child in children:
            if child.proc is not None and not child.running():
                raise ProcessError(
                    f"{child.name} exited with code {child.returncode} while waiting for {what}; "
                    f"last log lines ({child.log_path}):\n{child.tail()}"
                )
        if ready():
            return
        if time.monotonic() >= deadline:
            raise ProcessError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        if stop is not None:
            stop.wait(interval_s)
        else:
            time.sleep(interval_s)
