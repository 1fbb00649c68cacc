"""End to end: real `python -m neurons.miner` processes (env config only) on a SIMULATED localnet
chain file and a local moto S3, driven by a signed `MinerClient` like a validator would.

Upscaling (lanczos, tiny profile) and compression (target-VMAF search) outputs must pass
`scoring.validation`; a deadline that cannot be met gives a TaskError in time; SIGINT exits 0
promptly with in-flight work abandoned and no temp files left.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from miner_support import MinerProcess, World, build_world, download, leftovers, output_keys, presigned_input

from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from scoring.validation import expected_for_compression, expected_for_upscaling, validate_output
from tests.media_factory import make_clip
from vidaio.protocol import CompressionTask, TaskError, TaskResult, UpscalingTask
from vidaio.storage.local import LocalS3, local_s3
from vidaio.transport.client import MinerClient

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    with local_s3() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, s3: LocalS3) -> World:
    return build_world(tmp_path_factory.mktemp("miner-e2e"), s3)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("clips")
    return {
        "1s": make_clip(d / "one.mp4", size=(160, 90), frames=24, crf=12),
        "3s": make_clip(d / "three.mp4", size=(160, 90), frames=72, crf=12),
        "10s": make_clip(d / "ten.mp4", size=(160, 90), frames=240, crf=12),
    }


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def _spawn(world: World, wallet: str, run_dir: Path, **miner: object) -> Iterator[MinerProcess]:
    proc = MinerProcess(world, wallet, run_dir, **miner).start()
    try:
        yield proc
    finally:
        code = proc.stop()
        assert code == 0, f"miner exit code {code}:\n{proc.output()}"
        assert leftovers(proc.work_dir) == []


@pytest.fixture(scope="module")
def upscaling_miner(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinerProcess]:
    yield from _spawn(
        world, "miner_a", tmp_path_factory.mktemp("up-miner"), task_type="upscaling",
        upscaling_types=["SD2HD", "SD24K"], upscaling={"engine": "lanczos"},
    )  # fmt: skip


@pytest.fixture(scope="module")
def compression_miner(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MinerProcess]:
    yield from _spawn(
        world, "miner_b", tmp_path_factory.mktemp("cmp-miner"), task_type="compression",
        compression_engine="search", codecs=["hevc", "av1"],
    )  # fmt: skip


def up_task(url: str, task_id: str, kind: str, length: int, deadline_s: float) -> UpscalingTask:
    return UpscalingTask(
        task_id=task_id, round_id="round-7", input_url=url, task_type=kind, scale=4 if kind == "SD24K" else 2,
        content_length=length, deadline_s=deadline_s,
    )  # fmt: skip


async def test_upscaling_miner_end_to_end(
    upscaling_miner: MinerProcess, world: World, clips: dict[str, Path], tmp_path: Path
) -> None:
    m = upscaling_miner
    assert world.chain().snapshot().by_hotkey(m.hotkey).axon == m.axon  # served its address at start
    task = up_task(presigned_input(world, clips["1s"]), "up-1", "SD2HD", 1, 60.0)
    async with MinerClient(world.validator_keypair) as client:
        caps = await client.capabilities(m.axon, m.hotkey)
        got = await client.send_task(m.axon, m.hotkey, task, deadline_s=60)
    assert caps.ok and [t.value for t in caps.result.upscaling_types] == ["SD2HD", "SD24K"]  # type: ignore[union-attr]
    assert got.ok and isinstance(got.result, TaskResult), f"{got}\n{m.output()}"
    assert f"{m.hotkey}/round-7/up-1.mp4" in output_keys(world)
    out = download(got.result.output_url, tmp_path / "out.mp4")
    expected = expected_for_upscaling(probe(clips["1s"]), 2, MetricsConfig())
    verdict = validate_output(out, expected, reference=clips["1s"])
    assert verdict.ok, verdict.messages
    assert (probe(out).width, probe(out).height) == (320, 180)
    assert leftovers(m.work_dir) == []
    from vidaio.tasklog import parse_kv

    (line,) = [parse_kv(ln) for ln in m.log_text().splitlines() if " task=up-1 " in ln]
    assert line["role"] == "miner" and line["type"] == "upscaling" and line["scale"] == "SD2HDx2"
    assert line["status"] == "ok" and int(line["output_bytes"]) > 0 and int(line["input_bytes"]) > 0


async def test_a_deadline_that_cannot_be_met_gives_an_error_in_time(
    upscaling_miner: MinerProcess, world: World, clips: dict[str, Path]
) -> None:
    m = upscaling_miner
    # 0.5 s upload margin: the x4 lanczos of 72 frames gets ~0.3 s, far less than it needs
    task = up_task(presigned_input(world, clips["3s"]), "late-1", "SD24K", 3, 0.8)
    async with MinerClient(world.validator_keypair) as client:
        got = await client.send_task(m.axon, m.hotkey, task, deadline_s=task.deadline_s + 2)
    assert got.kind == "error" and isinstance(got.result, TaskError), f"{got}\n{m.output()}"
    assert got.result.error.startswith("deadline"), got.result.error
    assert got.elapsed_s < task.deadline_s + 0.5
    assert leftovers(m.work_dir) == []
    assert not any(k.endswith("/late-1.mp4") for k in output_keys(world))


async def test_compression_miner_end_to_end(
    compression_miner: MinerProcess, world: World, clips: dict[str, Path], tmp_path: Path
) -> None:
    m = compression_miner
    url = presigned_input(world, clips["1s"])
    task = CompressionTask(task_id="cmp-1", round_id="round-7", input_url=url, vmaf_threshold=85, codec="hevc",
                           deadline_s=90)  # fmt: skip
    refused = CompressionTask(task_id="cmp-2", round_id="round-7", input_url=url, vmaf_threshold=85, codec="h264",
                              deadline_s=30)  # fmt: skip
    async with MinerClient(world.validator_keypair) as client:
        got = await client.send_task(m.axon, m.hotkey, task, deadline_s=90)
        no = await client.send_task(m.axon, m.hotkey, refused, deadline_s=30)
    assert got.ok and isinstance(got.result, TaskResult), f"{got}\n{m.output()}"
    out = download(got.result.output_url, tmp_path / "out.mp4")
    verdict = validate_output(out, expected_for_compression(probe(clips["1s"]), "hevc", MetricsConfig()),
                              reference=clips["1s"])  # fmt: skip
    assert verdict.ok, verdict.messages
    assert out.stat().st_size < clips["1s"].stat().st_size
    assert isinstance(no.result, TaskError) and no.result.error == "codec h264 is not mined here (mined: hevc, av1)"
    assert leftovers(m.work_dir) == []


async def test_sigint_exits_zero_promptly_and_abandons_in_flight_work(
    world: World, clips: dict[str, Path], tmp_path: Path
) -> None:
    m = MinerProcess(world, "miner_c", tmp_path / "sig-miner", task_type="upscaling", upscaling_types=["SD24K"],
                     shutdown_grace_s=0.0).start()  # fmt: skip
    try:
        task = up_task(presigned_input(world, clips["10s"]), "sig-1", "SD24K", 10, 120.0)
        async with MinerClient(world.validator_keypair) as client:
            pending = asyncio.create_task(client.send_task(m.axon, m.hotkey, task, deadline_s=120))
            deadline = time.monotonic() + 30
            while not list(m.work_dir.glob("task-sig-1.*/input.mp4")):  # fetched: the engine starts next
                assert time.monotonic() < deadline and not pending.done(), m.output()
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.3)
            m.signal()
            t0 = time.monotonic()
            code = await asyncio.to_thread(m.wait, 30)
            stopped_in = time.monotonic() - t0
            got = await pending
    finally:
        m.stop()
    assert code == 0, m.output()
    assert stopped_in < 10, f"took {stopped_in:.1f}s to stop"
    assert not got.ok  # abandoned: no answer (connection closed)
    assert leftovers(m.work_dir) == []
    log = m.log_text()  # the file sink was flushed before exit
    assert "abandoning job sig-1" in log and "miner stopped" in log, log[-3000:]
    assert " task=sig-1 " in log and "scale=SD24Kx4" in log and "status=cancelled" in log
