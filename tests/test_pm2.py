"""pm2 runs `ecosystem.config.js`: both daemons come up `online` against a localnet config, and
`pm2 stop` stops them gracefully (SIGINT; each logs its shutdown line and exits 0).

Uses the project's pm2 (`node_modules/.bin/pm2`, installed by `make setup`) through
`scripts/pm2.sh`, with PM2_HOME in a temp dir; `pm2 kill` always runs at the end.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from vidaio.localnet.config import LocalnetSettings
from vidaio.localnet.layout import LocalnetLayout
from vidaio.localnet.prepare import bucket_name, prepare_neurons
from vidaio.localnet.procs import http_ok
from vidaio.localnet.roster import default_roster
from vidaio.storage.local import local_s3

REPO = Path(__file__).resolve().parents[1]
PM2_SH = REPO / "scripts" / "pm2.sh"
APPS = ("vidaio-miner", "vidaio-validator")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (pm2 needs node and npm)"),
    pytest.mark.skipif(
        not (REPO / "node_modules" / ".bin" / "pm2").exists(),
        reason="pm2 is not installed in node_modules (make setup runs npm install; needs npm)",
    ),
]


def _pm2(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(PM2_SH), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def _jlist(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    out = _pm2(env, "jlist").stdout
    apps = json.loads(out[out.index("[") :])
    return {a["name"]: a for a in apps}


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def test_pm2_starts_both_apps_and_stops_them_gracefully(tmp_path: Path) -> None:
    cfg = LocalnetSettings(dir=tmp_path / "ln", profile="tiny", rounds=1000)
    layout = LocalnetLayout.at(cfg.dir)
    roster = [s for s in default_roster(cfg.validator_stake) if s.name in ("validator", "miner-lanczos")]
    logs = tmp_path / "logs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDAIO_")}
    with local_s3(buckets=[bucket_name(s) for s in roster], mode="thread") as s3:
        prepared = {p.spec.name: p for p in prepare_neurons(cfg, layout, s3, roster)}
        env.update(
            PM2_HOME=str(tmp_path / "pm2home"),
            VIDAIO_MINER_ENV_FILE=str(prepared["miner-lanczos"].env_file),
            VIDAIO_VALIDATOR_ENV_FILE=str(prepared["validator"].env_file),
            VIDAIO_PM2_LOG_DIR=str(logs),
        )
        try:
            started = _pm2(env, "start", "ecosystem.config.js")
            assert started.returncode == 0, started.stdout + started.stderr
            miner_port = int(prepared["miner-lanczos"].port or 0)
            deadline = time.monotonic() + 240
            ready = False
            while time.monotonic() < deadline and not ready:
                apps = _jlist(env)
                statuses = {n: apps.get(n, {}).get("pm2_env", {}).get("status") for n in APPS}
                assert "errored" not in statuses.values(), (
                    statuses,
                    _read(logs / "vidaio-miner.err.log")[-2000:],
                )
                ready = (
                    statuses == {n: "online" for n in APPS}
                    and http_ok("127.0.0.1", miner_port)
                    and "ready: profile tiny" in _read(logs / "vidaio-validator.out.log")
                )
                time.sleep(1.0)
            assert ready, (
                _read(logs / "vidaio-miner.err.log")[-2000:],
                _read(logs / "vidaio-validator.err.log")[-2000:],
            )
            apps = _jlist(env)
            assert all(apps[n]["pm2_env"]["restart_time"] == 0 for n in APPS)  # no crash loop
            assert apps["vidaio-miner"]["pm2_env"]["pm_exec_path"].endswith("neurons/miner.py")
            assert apps["vidaio-miner"]["pm2_env"]["exec_interpreter"].endswith(".venv/bin/python")

            stopped = _pm2(env, "stop", "all", timeout=180)
            assert stopped.returncode == 0, stopped.stdout + stopped.stderr
            apps = _jlist(env)
            assert {n: apps[n]["pm2_env"]["status"] for n in APPS} == {n: "stopped" for n in APPS}
            miner_log = _read(logs / "vidaio-miner.out.log")  # INFO goes to stdout (*.out.log)
            validator_log = _read(logs / "vidaio-validator.out.log")
            for err_log in (logs / "vidaio-miner.err.log", logs / "vidaio-validator.err.log"):
                assert "| INFO " not in _read(err_log), _read(err_log)[-2000:]  # *.err.log: warnings+ only
            for line in validator_log.splitlines()[:20]:  # one timestamp per line (pm2 adds none)
                assert len(re.findall(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}", line)) <= 1, line
            assert "miner stopped (" in miner_log, miner_log[-2000:]
            assert "received SIGINT: shutting down" in validator_log, validator_log[-2000:]
            assert "validator stopped after" in validator_log, validator_log[-2000:]
            pm2_log = _read(tmp_path / "pm2home" / "pm2.log")
            for name in APPS:  # pm2's own record: exit code 0 after its SIGINT, no SIGKILL needed
                assert re.search(
                    rf"App \[{name}:\d+\] exited with code \[0\] via signal \[SIGINT\]", pm2_log
                ), name
            assert "sending SIGKILL" not in pm2_log
        finally:
            _pm2(env, "kill", timeout=60)


def test_pm2_does_not_restart_a_configuration_error(tmp_path: Path) -> None:
    """Exit code 2 (bad configuration) is in `stop_exit_codes`: the app stops at once with one line."""
    env_file = tmp_path / "bad.env"
    env_file.write_text("VIDAIO_MINNER__TASK_TYPE=upscaling\n")
    logs = tmp_path / "logs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDAIO_")}
    env.update(PM2_HOME=str(tmp_path / "pm2home"), VIDAIO_MINER_ENV_FILE=str(env_file), VIDAIO_PM2_LOG_DIR=str(logs))
    try:
        started = _pm2(env, "start", "ecosystem.config.js", "--only", "vidaio-miner")
        assert started.returncode == 0, started.stdout + started.stderr
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and "did you mean" not in _read(logs / "vidaio-miner.err.log"):
            time.sleep(0.5)
        time.sleep(15)  # three restart_delays: a restart would have happened by now
        app = _jlist(env)["vidaio-miner"]["pm2_env"]
        pm2_log = _read(tmp_path / "pm2home" / "pm2.log")
        assert app["restart_time"] == 0 and app.get("exit_code") == 2, app.get("status")
        assert pm2_log.count("App [vidaio-miner:0] starting") == 1, pm2_log[-2000:]  # pm2 shows "waiting restart",
        assert "exited with code [2]" in pm2_log  # but stop_exit_codes keeps it from ever restarting
        lines = [ln for ln in _read(logs / "vidaio-miner.err.log").splitlines() if ln.strip()]
        assert len(lines) == 1 and "VIDAIO_MINNER__TASK_TYPE" in lines[0] and "VIDAIO_MINER__TASK_TYPE" in lines[0]
    finally:
        _pm2(env, "kill", timeout=60)
