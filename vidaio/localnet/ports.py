"""Port hand-over for the localnet's miners: a port chosen free can be taken by another program
before the miner binds it. A miner that exits while its port is held by someone else is restarted
on a fresh port (its env file rewritten), so a busy machine cannot fail the demo."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path

from loguru import logger

from vidaio.localnet.prepare import LOOPBACK, PreparedNeuron
from vidaio.localnet.procs import Child, Interrupted, ProcessError, http_ok
from vidaio.storage.local import free_port

PORT_ATTEMPTS = 4
_PORT_LINE = re.compile(r"^VIDAIO_SERVER__PORT=.*$", re.MULTILINE)


def port_taken(port: int, host: str = LOOPBACK) -> bool:
    """True when another socket holds host:port (a bind fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def rewrite_port(env_file: Path, port: int) -> None:
    """Point a miner's env file at another `server.port` (the only line that changes)."""
    text = env_file.read_text()
    if not _PORT_LINE.search(text):
        raise ValueError(f"{env_file} has no VIDAIO_SERVER__PORT line")
    env_file.write_text(_PORT_LINE.sub(f"VIDAIO_SERVER__PORT={port}", text))


def start_miners(
    miners: list[PreparedNeuron],
    children: MutableMapping[str, Child],
    make: Callable[[PreparedNeuron], Child],
    *,
    timeout_s: float,
    stop: threading.Event,
    attempts: int = PORT_ATTEMPTS,
) -> list[PreparedNeuron]:
    """Start every miner and wait for its /health; a miner that lost its port gets a fresh one.

    Returns the miners as they finally run (ports may differ from the ones prepared).
    """
    current = list(miners)
    tries = {p.spec.name: 1 for p in current}
    for p in current:
        children[p.spec.name] = make(p).start()
    deadline = time.monotonic() + timeout_s
    while True:
        if stop.is_set():
            raise Interrupted("stopped while waiting for the miners' /health")
        for i, p in enumerate(current):
            child = children[p.spec.name]
            if child.running():
                continue
            name = p.spec.name
            if tries[name] < attempts and p.port is not None and port_taken(p.port):
                child.stop(1.0)
                fresh = free_port(LOOPBACK)
                logger.warning("{}: port {} was taken by another process; restarting it on port {}", name, p.port, fresh)
                rewrite_port(p.env_file, fresh)
                current[i] = p = p.model_copy(update={"port": fresh})
                tries[name] += 1
                children[name] = make(p).start()
                continue
            raise ProcessError(
                f"{name} exited with code {child.returncode} while waiting for the miners' /health; "
                f"last log lines ({child.log_path}):\n{child.tail()}"
            )
        if all(http_ok(LOOPBACK, int(p.port or 0)) for p in current):
            return current
        if time.monotonic() >= deadline:
            raise ProcessError(f"timed out after {timeout_s:.0f}s waiting for the miners' /health")
        stop.wait(0.5)
