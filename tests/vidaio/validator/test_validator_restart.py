"""Restart safety: the validator (a real `python -m neurons.validator` process, process scoring pool)
is SIGKILLed while it scores a round, then restarted: nothing is counted twice, nothing recorded is
lost, the killed round is closed as interrupted, no scoring worker outlives it. SIGINT stops it
cleanly (exit 0, the round closed by the process itself)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import validator_strategies as st
from validator_support import MinerSpec, Subnet, compression_caps, env_lines, run_miners

from tests.procs import alive
from vidaio.storage.s3 import S3Store

pytestmark = [pytest.mark.slow, pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[3]
PAUSED_VALIDATOR = Path(__file__).with_name("paused_validator.py")
SPECS = [MinerSpec(f"r_quick_{crf}", compression_caps(), st.quick_compression(crf)) for crf in (24, 30, 36)]


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = sqlite3.connect(db)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _children(pid: int) -> set[int]:
    out = set()
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                fields = (d / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.add(int(d.name))
    return out


async def _start(env_file: Path, log: Path, *, pause: Path | None, rounds: int) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDAIO_")}
    env["PYTHONUNBUFFERED"] = "1"
    # with a pause: the same daemon through a test entry script that installs the pause callback
    entry = ["-m", "neurons.validator"] if pause is None else [str(PAUSED_VALIDATOR), str(pause)]
    return await asyncio.create_subprocess_exec(
        sys.executable, *entry, "--env-file", str(env_file), "--rounds", str(rounds),
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=asyncio.subprocess.STDOUT,  # INFO: stdout
    )  # fmt: skip


async def _wait_for(path: Path, proc: asyncio.subprocess.Process, log: Path, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.returncode is not None:
            pytest.fail(f"validator exited with {proc.returncode} before pausing:\n{log.read_text()[-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"validator never paused in scoring:\n{log.read_text()[-3000:]}")
        await asyncio.sleep(0.2)


async def test_sigkill_mid_scoring_then_restart_and_sigint(tmp_path: Path, s3: Any, wallet_dir: Path) -> None:
    subnet = Subnet(tmp_path, s3, wallet_dir)
    subnet.register("restart_validator", validator=True)
    db = tmp_path / "validator.db"
    sections = subnet.validator_sections(
        "restart_validator", db, upscaling_types=[], score_executor="process", score_workers=1,
        max_rounds=0, round_interval_s=0,
    )  # fmt: skip
    env_file = tmp_path / "validator.env"
    env_file.write_text(env_lines(sections))
    log = tmp_path / "validator.log"
    marker = tmp_path / "paused"
    async with run_miners(subnet, SPECS) as miners:
        # 1. paused after the first result of round 1 is recorded, then SIGKILL
        proc = await _start(env_file, log, pause=marker, rounds=5)
        await _wait_for(marker, proc, log)
        workers = _children(proc.pid)
        assert workers, "the process scoring pool has a worker"
        proc.send_signal(signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL
        assert _rows(db, "SELECT status FROM rounds") == [("running",)]
        (first,) = _rows(db, "SELECT task_id, uid FROM miner_round_history")
        store = S3Store(s3.storage_config(subnet.validator_bucket))
        try:
            assert len(await store.list()) == 1  # the killed round's input is still there
        finally:
            store.close()
        deadline = time.monotonic() + 15
        while any(alive(p) for p in workers) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert not any(alive(p) for p in workers), "scoring workers outlived the killed validator"

        # 2. restart: the killed round is closed as interrupted, a new round records every miner once
        marker.unlink()
        proc = await _start(env_file, log, pause=None, rounds=1)
        assert await asyncio.wait_for(proc.wait(), 240) == 0, log.read_text()[-3000:]
        store = S3Store(s3.storage_config(subnet.validator_bucket))
        try:
            assert await store.list() == []  # the killed round's input was deleted at restart
        finally:
            store.close()
        assert "left in the bucket by a previous run" in log.read_text()
        rounds = _rows(db, "SELECT round_id, status FROM rounds ORDER BY started_at")
        assert [r[1] for r in rounds] == ["interrupted", "finished"]
        history = _rows(db, "SELECT task_id, uid, round_id, status FROM miner_round_history")
        assert len(history) == 1 + len(SPECS) and len({h[0] for h in history}) == len(history)
        assert first[0] in {h[0] for h in history}  # the result recorded before the kill is kept
        assert {h[2] for h in history} == {r[0] for r in rounds}
        assert all(h[3] == "ok" for h in history), history
        counts = dict(_rows(db, "SELECT uid, count(*) FROM miner_round_history GROUP BY uid"))
        meta = dict(_rows(db, "SELECT uid, total_rounds_completed FROM miner_metadata"))
        assert meta == counts and counts[first[1]] == 2 and set(counts) == {m.uid for m in miners.values()}

        # 3. SIGINT while a round is being scored: exit 0, that round closed as interrupted by the process
        proc = await _start(env_file, log, pause=marker, rounds=5)
        await _wait_for(marker, proc, log)
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 60) == 0, log.read_text()[-3000:]
        statuses = [r[0] for r in _rows(db, "SELECT status FROM rounds ORDER BY started_at")]
        assert statuses == ["interrupted", "finished", "interrupted"]
        assert "received SIGINT" in log.read_text()
