"""Child process handling: graceful SIGINT stop, forced kill of a stuck child and of its group,
early-exit detection with the log tail, and interruption of a wait."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from vidaio.localnet.procs import Child, Interrupted, ProcessError, wait_until

GRACEFUL = """
import signal, sys, time
def bye(signum, frame):
    print("received", signal.Signals(signum).name, flush=True)
    sys.exit(0)
signal.signal(signal.SIGINT, bye)
print("ready", flush=True)
while True:
    time.sleep(0.05)
"""

STUBBORN = """
import os, signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)
kid = subprocess.Popen([sys.executable, "-c", "import signal, time; signal.signal(signal.SIGINT, signal.SIG_IGN); time.sleep(60)"])
print("kid", kid.pid, flush=True)
time.sleep(60)
"""


def _child(tmp_path: Path, name: str, code: str) -> Child:
    return Child(name, [sys.executable, "-c", code], env=dict(os.environ), log_path=tmp_path / f"{name}.log")


def _wait_log(child: Child, text: str, timeout_s: float = 30.0) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        log = child.log_path.read_text() if child.log_path.exists() else ""
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in {child.name}'s log: {child.tail()}")


def test_graceful_stop_by_sigint(tmp_path: Path) -> None:
    child = _child(tmp_path, "graceful", GRACEFUL).start()
    _wait_log(child, "ready")
    assert child.stop(timeout_s=20) == 0
    assert child.stop_signal == "SIGINT" and not child.killed
    assert "received SIGINT" in child.log_path.read_text()


def test_stuck_child_and_its_group_are_killed(tmp_path: Path) -> None:
    child = _child(tmp_path, "stubborn", STUBBORN).start()
    log = _wait_log(child, "kid ")
    kid = int(log.split("kid ", 1)[1].split()[0])
    started = time.monotonic()
    code = child.stop(timeout_s=1.0)
    assert code is not None and code < 0  # SIGKILL
    assert child.killed and time.monotonic() - started < 15
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _exists(kid):
        time.sleep(0.05)
    assert not _exists(kid), "the grandchild outlived its process group"


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie still answers kill(0): it is dead, only not reaped by its (killed) parent
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_wait_until_reports_an_early_exit_with_the_log_tail(tmp_path: Path) -> None:
    child = _child(tmp_path, "crasher", "print('bad config: x'); raise SystemExit(2)").start()
    with pytest.raises(ProcessError, match=r"(?s)crasher exited with code 2.*bad config: x"):
        wait_until(lambda: False, [child], 30.0, "health")
    child.stop(1.0)


def test_wait_until_times_out_and_stops_on_request(tmp_path: Path) -> None:
    with pytest.raises(ProcessError, match="timed out after 0s waiting for nothing"):
        wait_until(lambda: False, [], 0.2, "nothing", interval_s=0.05)
    stop = threading.Event()
    threading.Timer(0.2, stop.set).start()
    with pytest.raises(Interrupted):
        wait_until(lambda: False, [], 30.0, "nothing", interval_s=0.05, stop=stop)
