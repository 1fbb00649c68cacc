"""The miner app in-process (real uvicorn, signed requests from a MinerClient): capabilities,
refusals with a clear reason, the input byte cap, the deadline budget, start-up checks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from miner_support import (
    World,
    build_world,
    delete_output,
    leftovers,
    miner_config,
    output_keys,
    presigned_input,
)

from tests.media_factory import make_clip
from vidaio.miner.daemon import MinerRuntime, MinerStartupError, build_miner
from vidaio.protocol import CompressionTask, TaskError, UpscalingTask
from vidaio.storage.local import LocalS3, local_s3
from vidaio.transport.client import MinerClient
from vidaio.transport.runner import running_app


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    with local_s3() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, s3: LocalS3) -> World:
    return build_world(tmp_path_factory.mktemp("miner-world"), s3)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "in.mp4", size=(160, 90), frames=24, crf=12)


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@asynccontextmanager
async def serving(world: World, wallet: str, work_dir: Path, **miner: Any) -> AsyncIterator[tuple[str, MinerRuntime]]:
    rt = await build_miner(miner_config(world, wallet, work_dir, **miner))
    try:
        async with running_app(rt.app, "127.0.0.1", 0) as srv:
            yield f"127.0.0.1:{srv.port}", rt
    finally:
        await rt.close()


def up_task(url: str, task_id: str, kind: str = "SD2HD", deadline_s: float = 30.0, length: int = 1) -> UpscalingTask:
    scale = 4 if kind == "SD24K" else 2
    return UpscalingTask(
        task_id=task_id, round_id="r1", input_url=url, task_type=kind, scale=scale, content_length=length,
        deadline_s=deadline_s,
    )  # fmt: skip


def cmp_task(url: str, task_id: str, codec: str = "av1") -> CompressionTask:
    return CompressionTask(task_id=task_id, round_id="r1", input_url=url, vmaf_threshold=89, codec=codec, deadline_s=30)


async def test_capabilities_come_from_config(world: World, tmp_path: Path) -> None:
    async with MinerClient(world.validator_keypair) as client:
        async with serving(world, "miner_a", tmp_path / "a", task_type="compression", codecs=["av1"]) as (axon, rt):
            got = await client.capabilities(axon, rt.hotkey)
        assert got.ok, got.reason
        caps = got.result
        assert caps.task_type.value == "compression" and caps.max_content_length == 10  # type: ignore[union-attr]
        assert [c.value for c in caps.codecs] == ["av1"] and caps.upscaling_types == []  # type: ignore[union-attr]
        async with serving(
            world, "miner_b", tmp_path / "b", task_type="upscaling", upscaling_types=["SD24K"], max_content_length=5
        ) as (axon, rt):
            got = await client.capabilities(axon, rt.hotkey)
        assert got.ok, got.reason
        assert [t.value for t in got.result.upscaling_types] == ["SD24K"]  # type: ignore[union-attr]
        assert got.result.max_content_length == 5 and got.result.codecs == []  # type: ignore[union-attr]


async def test_tasks_not_mined_are_refused_with_a_reason(world: World, tmp_path: Path, clip: Path) -> None:
    url = presigned_input(world, clip)
    work = tmp_path / "work"
    async with MinerClient(world.validator_keypair) as client:
        async with serving(world, "miner_a", work, task_type="compression", codecs=["av1"]) as (axon, rt):
            wrong_family = await client.send_task(axon, rt.hotkey, up_task(url, "refuse-1"), deadline_s=10)
            wrong_codec = await client.send_task(axon, rt.hotkey, cmp_task(url, "refuse-2", "h264"), deadline_s=10)
        async with serving(world, "miner_b", work, task_type="upscaling", upscaling_types=["SD2HD"]) as (axon, rt):
            wrong_type = await client.send_task(axon, rt.hotkey, up_task(url, "refuse-3", "SD24K"), deadline_s=10)
            too_long = await client.send_task(axon, rt.hotkey, up_task(url, "refuse-4", length=11), deadline_s=10)
    for got, reason in [
        (wrong_family, "this miner mines compression tasks, not upscaling"),
        (wrong_codec, "codec h264 is not mined here (mined: av1)"),
        (wrong_type, "upscaling type SD24K is not mined here (mined: SD2HD)"),
        (too_long, "content length 11s exceeds this miner's maximum of 10s"),
    ]:
        assert got.kind == "error" and isinstance(got.result, TaskError), got
        assert got.result.error == reason
    assert leftovers(work) == [] and output_keys(world) == []


async def test_input_over_the_byte_cap_is_refused(world: World, tmp_path: Path, clip: Path) -> None:
    assert clip.stat().st_size > 8192
    url = presigned_input(world, clip)
    work = tmp_path / "work"
    async with MinerClient(world.validator_keypair) as client:
        async with serving(
            world, "miner_c", work, task_type="upscaling", input_max_bytes=8192, input_min_bytes=1024
        ) as (axon, rt):
            got = await client.send_task(axon, rt.hotkey, up_task(url, "big-1"), deadline_s=20)
    assert got.kind == "error" and isinstance(got.result, TaskError), got
    assert got.result.error.startswith("input too large:") and "8192" in got.result.error
    assert leftovers(work) == []


async def test_a_deadline_inside_the_upload_margin_is_refused_at_once(world: World, tmp_path: Path, clip: Path) -> None:
    url = presigned_input(world, clip)
    work = tmp_path / "work"
    async with MinerClient(world.validator_keypair) as client:
        async with serving(world, "miner_c", work, task_type="upscaling", deadline_margin_s=2.0) as (axon, rt):
            got = await client.send_task(axon, rt.hotkey, up_task(url, "late-1", deadline_s=1.5), deadline_s=5)
    assert got.kind == "error" and isinstance(got.result, TaskError), got
    assert "leaves no time for the work after the 2s upload margin" in got.result.error
    assert leftovers(work) == []  # refused on the deadline arithmetic, before any work or download


async def test_start_up_refuses_unregistered_hotkey_and_missing_bucket(world: World, tmp_path: Path) -> None:
    with pytest.raises(MinerStartupError, match=r"is not registered on .*netuid 1"):
        await build_miner(miner_config(world, "stranger", tmp_path / "w"))
    cfg = miner_config(world, "miner_a", tmp_path / "w")
    cfg.storage.bucket = "no-such-bucket-here"
    with pytest.raises(MinerStartupError, match="storage is not usable.*does not exist"):
        await build_miner(cfg)


async def test_bucket_cleanup_timer_deletes_only_this_miners_old_objects(
    world: World, tmp_path: Path, clip: Path
) -> None:
    cfg = miner_config(world, "miner_d", tmp_path / "w", cleanup_interval_s=0.2)
    cfg.storage.retention_s = 1
    rt = await build_miner(cfg)
    try:
        mine, other = f"{rt.hotkey}/r0/old.mp4", "someone-else/r0/old.mp4"
        for key in (mine, other):
            await rt.storage.upload(clip, key)
        await asyncio.sleep(1.5)  # both are now older than the 1 s retention
        rt.start_cleanup()
        for _ in range(50):
            if mine not in output_keys(world):
                break
            await asyncio.sleep(0.1)
        keys = output_keys(world)
        assert mine not in keys and other in keys
    finally:
        await rt.close()
        delete_output(world, other)
