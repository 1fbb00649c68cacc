"""Faults around miners: the S3 endpoint dies while the miner uploads (a clear error answer, no crash,
no temp file; the same miner works once the endpoint is back), and a real miner process is SIGKILLed
while it works on a validator's task under load (the validator records the failure with its reason
and finishes the round; every in-flight request gets an answer, none hangs)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
import validator_strategies as vst
from miner_support import MinerProcess, World, build_world, download, leftovers, miner_config, presigned_input
from validator_support import MINER_BUCKET, MinerSpec, Subnet, compression_caps, run_miners, wallet

from scoring.media.probe import probe
from tests.media_factory import make_clip
from vidaio.chain.wallets import create_wallet
from vidaio.miner.daemon import build_miner
from vidaio.protocol import CompressionTask, TaskError, TaskResult, UpscalingTask
from vidaio.storage.local import LocalS3, LocalS3Process, create_buckets
from vidaio.transport.client import MinerClient
from vidaio.transport.runner import running_app
from vidaio.validator.daemon import run_validator
from vidaio.validator.judge import answer_failure
from vidaio.validator.loop import RoundStats

pytestmark = [pytest.mark.slow, pytest.mark.integration]


async def test_s3_down_during_the_miners_upload_then_back(tmp_path: Path, s3: LocalS3) -> None:
    world = build_world(tmp_path / "world", s3)
    clip = make_clip(tmp_path / "in.mp4", (160, 90), frames=24, crf=12)
    work = tmp_path / "work"
    with LocalS3Process() as out_s3:
        port = out_s3.port
        assert port is not None
        create_buckets(out_s3.endpoint_url, ["outputs"])
        cfg = miner_config(world, "miner_a", work, task_type="upscaling", upscaling_types=["SD2HD"])
        cfg.storage = LocalS3(endpoint_url=out_s3.endpoint_url).storage_config(
            "outputs", max_retries=2, retry_backoff_s=0.05
        )
        rt = await build_miner(cfg)
        upload = rt.storage.upload
        killed: list[int] = []

        async def upload_into_an_outage(path: Path, key: str, **kw: Any) -> Any:
            pid = out_s3.pid
            assert pid is not None
            os.kill(pid, signal.SIGKILL)  # the endpoint dies as the upload starts
            killed.append(pid)
            out_s3.stop()
            return await upload(path, key, **kw)

        rt.storage.upload = upload_into_an_outage  # type: ignore[method-assign]
        url = presigned_input(world, clip)
        task = UpscalingTask(task_id="s3-down-1", round_id="r1", input_url=url, task_type="SD2HD", scale=2,
                             content_length=1, deadline_s=40)  # fmt: skip
        try:
            async with (
                running_app(rt.app, "127.0.0.1", 0) as srv,
                MinerClient(world.validator_keypair) as client,
            ):
                axon = f"127.0.0.1:{srv.port}"
                got = await client.send_task(axon, rt.hotkey, task, deadline_s=45)
                assert killed and got.kind == "error" and isinstance(got.result, TaskError), got
                assert got.result.error.startswith("upload failed:"), got.result.error
                assert answer_failure(got) == ("miner_error", f"miner_error: {got.result.error}")
                assert leftovers(work) == []
                assert (await client.capabilities(axon, rt.hotkey)).ok  # the miner itself is fine

                # the endpoint comes back on the same address (an empty server: the bucket is recreated)
                back = LocalS3Process(port=port).start()
                try:
                    create_buckets(back.endpoint_url, ["outputs"])
                    rt.storage.upload = upload  # type: ignore[method-assign]
                    again = await client.send_task(
                        axon, rt.hotkey, task.model_copy(update={"task_id": "s3-back-1"}), 45
                    )
                    assert again.ok and isinstance(again.result, TaskResult), again
                    out = download(again.result.output_url, tmp_path / "out.mp4")
                    assert (probe(out).width, probe(out).height) == (320, 180)
                finally:
                    back.stop()
        finally:
            await rt.close()
    assert leftovers(work) == []


def _task_dirs(work: Path, needle: str) -> list[Path]:
    return [p for p in work.glob("task-*") if needle in p.name] if work.exists() else []


async def test_miner_sigkill_under_load(tmp_path: Path, s3: LocalS3, wallet_dir: Path) -> None:
    subnet = Subnet(tmp_path, s3, wallet_dir)
    _, v_uid = subnet.register("fk_validator", validator=True)
    v_wallet = wallet(wallet_dir, "fk_validator")
    victim_wallet = create_wallet("fk_victim", "hk", tmp_path / "victim-world" / "wallets")
    victim_hk = victim_wallet.hotkey.ss58_address
    victim_uid = subnet.chain(victim_hk).register(victim_hk)
    world = World(tmp_path / "victim-world", {"fk_victim": victim_wallet, "validator": v_wallet}, subnet.chain_path,
                  s3, in_bucket="", out_bucket=MINER_BUCKET)  # fmt: skip
    victim = MinerProcess(world, "fk_victim", tmp_path / "victim", task_type="compression", codecs=["hevc"],
                          compression_engine="search", cpu_workers=1)  # fmt: skip
    cfg = subnet.validator_config("fk_validator", tmp_path / "validator.db", compression_deadline_s=40.0)
    seen: list[RoundStats] = []
    victim.start()
    try:
        async with run_miners(
            subnet, [MinerSpec("fk_honest", compression_caps(), vst.quick_compression(26))]
        ) as miners:
            round_task = asyncio.create_task(run_validator(cfg, on_round=seen.append))
            deadline = time.monotonic() + 120
            while not _task_dirs(
                victim.work_dir, f"-c{victim_uid}."
            ):  # the validator's task is being worked on
                assert not round_task.done(), round_task
                assert time.monotonic() < deadline, victim.output()
                await asyncio.sleep(0.01)
            # more load on the same miner: a validator's extra tasks queue behind the one in the engine
            url = presigned_input(
                _inputs(world, subnet), make_clip(tmp_path / "load.mp4", (160, 90), frames=24)
            )
            async with MinerClient(v_wallet.hotkey) as client:
                load = [
                    asyncio.create_task(client.send_task(victim.axon, victim_hk, CompressionTask(
                        task_id=f"load-{i}", round_id="load", input_url=url, vmaf_threshold=80, codec="hevc",
                        deadline_s=30), deadline_s=30))
                    for i in range(3)
                ]  # fmt: skip
                await asyncio.sleep(0.5)
                assert victim.proc is not None
                victim.proc.send_signal(signal.SIGKILL)
                started = time.monotonic()
                answers = await asyncio.wait_for(asyncio.gather(*load), 40)
            assert time.monotonic() - started < 35  # nobody waited for a dead miner past its deadline
            for a in answers:
                failure = answer_failure(a)
                assert failure is not None and failure[0] in {"unreachable", "timeout"}, a
            rounds = await asyncio.wait_for(round_task, 180)
    finally:
        victim.stop(timeout_s=5)
    assert victim.proc is not None and victim.proc.returncode == -signal.SIGKILL
    assert rounds == 1 and seen and seen[0].status == "finished" and seen[0].recorded == seen[0].planned == 2

    con = sqlite3.connect(tmp_path / "validator.db")
    try:
        rows = {uid: (status, reason) for uid, status, reason in con.execute(
            "SELECT uid, status, reason FROM miner_round_history")}  # fmt: skip
    finally:
        con.close()
    status, reason = rows[victim_uid]
    assert status in {"unreachable", "timeout"} and reason and reason.startswith(status), (status, reason)
    assert rows[miners["fk_honest"].uid][0] == "ok"  # the round went on for everyone else
    assert subnet.chain("x").weights_of(v_uid) == {miners["fk_honest"].uid: pytest.approx(1.0)}


def _inputs(world: World, subnet: Subnet) -> World:
    """The victim's world with an input bucket of its own (the load tasks' input lives there)."""
    bucket = f"load-{subnet.validator_bucket}"
    create_buckets(world.s3.endpoint_url, [bucket])
    return World(world.root, world.wallets, world.chain_path, world.s3, bucket, world.out_bucket)
