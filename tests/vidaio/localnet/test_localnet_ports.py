"""A port chosen free by the localnet and taken by another process before the miner binds it
cannot fail the run: the miner is restarted on a fresh port (issue 16.4)."""

from __future__ import annotations

import json
import os
import socket
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

import pytest

from vidaio.localnet.config import LocalnetSettings
from vidaio.localnet.ports import port_taken, rewrite_port, start_miners
from vidaio.localnet.prepare import PreparedNeuron
from vidaio.localnet.procs import Child, ProcessError
from vidaio.localnet.roster import default_roster
from vidaio.storage.local import free_port

# A stand-in neuron: reads its port from the env file, binds it (exit 1 if taken), serves /health.
TINY_SERVER = r"""
import re, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port = int(re.search(r"^VIDAIO_SERVER__PORT=(\d+)$", open(sys.argv[1]).read(), re.M).group(1))
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
try:
    srv = HTTPServer(("127.0.0.1", port), H)
except OSError as exc:
    print(f"HTTP server could not start on 127.0.0.1:{port}: {exc}", flush=True); sys.exit(1)
srv.serve_forever()
"""


def _hold(stack: ExitStack, port: int) -> socket.socket:
    s = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    s.bind(("127.0.0.1", port))
    s.listen(1)
    return s


def _miner(tmp_path: Path, name: str, port: int) -> PreparedNeuron:
    spec = next(s for s in default_roster() if s.role == "miner").model_copy(update={"name": name})
    env_file = tmp_path / f"{name}.env"
    env_file.write_text(f"# header\nVIDAIO_SERVER__HOST=127.0.0.1\nVIDAIO_SERVER__PORT={port}\n")
    return PreparedNeuron(spec=spec, uid=1, hotkey="5x", env_file=env_file, log_file=tmp_path / f"{name}.log", port=port)


def test_rewrite_port_changes_only_the_port_line(tmp_path: Path) -> None:
    p = _miner(tmp_path, "m", 1111)
    rewrite_port(p.env_file, 2222)
    assert p.env_file.read_text() == "# header\nVIDAIO_SERVER__HOST=127.0.0.1\nVIDAIO_SERVER__PORT=2222\n"


def test_taken_ports_are_handed_over_to_fresh_ones(tmp_path: Path) -> None:
    miners = [_miner(tmp_path, f"m{i}", free_port()) for i in range(3)]
    children: dict[str, Child] = {}

    def make(p: PreparedNeuron) -> Child:
        return Child(p.spec.name, [sys.executable, "-c", TINY_SERVER, str(p.env_file)], env=dict(os.environ),
                     log_path=p.log_file)  # fmt: skip

    with ExitStack() as stack:
        for p in miners[:2]:  # another process takes two of the chosen ports just before the miners start
            _hold(stack, int(p.port or 0))
        try:
            final = start_miners(miners, children, make, timeout_s=60, stop=threading.Event())
            assert [p.port for p in final][2] == miners[2].port  # untouched
            for before, after in zip(miners[:2], final[:2], strict=True):
                assert after.port != before.port and port_taken(int(before.port or 0)) is not False
                assert f"VIDAIO_SERVER__PORT={after.port}" in after.env_file.read_text()
                assert children[after.spec.name].running()
        finally:
            for c in children.values():
                c.stop(5)


def test_a_miner_failing_for_another_reason_is_reported(tmp_path: Path) -> None:
    p = _miner(tmp_path, "bad", free_port())
    children: dict[str, Child] = {}

    def make(q: PreparedNeuron) -> Child:
        return Child(q.spec.name, [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"],
                     env=dict(os.environ), log_path=q.log_file)  # fmt: skip

    with pytest.raises(ProcessError, match="(?s)bad exited with code 3.*boom"):
        start_miners([p], children, make, timeout_s=30, stop=threading.Event())


class _PortThief:
    """Observer that takes every miner's prepared port the moment the miners are about to start."""

    def __init__(self, env_dir: Path, stack: ExitStack) -> None:
        self.env_dir, self.stack, self.taken = env_dir, stack, []

    def phase(self, text: str) -> None:
        if text.startswith("starting") and "miners" in text:
            for f in sorted(self.env_dir.glob("miner-*.env")):
                for line in f.read_text().splitlines():
                    if line.startswith("VIDAIO_SERVER__PORT="):
                        port = int(line.split("=", 1)[1].strip("'\""))
                        _hold(self.stack, port)
                        self.taken.append(port)

    def progress(self, rounds: object, requested: int) -> None:
        return None


@pytest.mark.slow
@pytest.mark.integration
def test_localnet_completes_with_its_ports_occupied(tmp_path: Path) -> None:
    from vidaio.localnet.runner import run_localnet

    cfg = LocalnetSettings(dir=tmp_path / "ln", rounds=1, profile="tiny")  # type: ignore[arg-type]
    with ExitStack() as stack:
        thief = _PortThief(tmp_path / "ln" / "env", stack)
        report = run_localnet(cfg, thief)
    assert len(thief.taken) == 5
    assert report.error is None, report.error
    assert all(code == 0 for code in report.exit_codes.values()), report.exit_codes
    assert report.results_recorded == report.tasks_sent > 0
    summary = json.loads((tmp_path / "ln" / "summary.json").read_text())
    assert summary["error"] is None
