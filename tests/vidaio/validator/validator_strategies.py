"""Miner strategies for the validator tests: honest ones (real engines) and every way of failing."""

from __future__ import annotations

import asyncio
import os
import shutil

from validator_support import MinerCtx, Task

from scoring.media.probe import probe
from services.compression import CompressionSettings, FixedCrfEngine
from services.upscaling import UpscaleSettings, build_engine
from tests.media_factory import reencode
from vidaio.protocol import CompressionTask, TaskError, TaskResult, UpscalingTask


def honest_compression(crf: int, *, post: bool = False):
    """The real fixed-CRF engine (tiny clips: ultrafast preset); `post` shares the output on the board."""

    settings = CompressionSettings(
        presets={"av1": "12", "hevc": "ultrafast", "h264": "ultrafast"},
        fixed_crf={93: {"av1": 30, "hevc": crf, "h264": crf}},
        threads=1,
    )

    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        assert isinstance(task, CompressionTask)
        src = await ctx.fetch_input(task)
        dst = src.with_name("out.mp4")
        engine = FixedCrfEngine(settings.model_copy(update={"work_dir": src.parent}))
        await asyncio.to_thread(
            engine.compress, src, dst, codec=task.codec.value, vmaf_threshold=task.vmaf_threshold
        )
        result = await ctx.publish(dst, task)
        if post:
            ctx.posted(task.round_id).set_result(dst)
        return result

    return work


def copier():
    """Waits for the honest miner's output and re-uploads the same bytes under its own key."""

    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        theirs = await asyncio.wait_for(asyncio.shield(ctx.posted(task.round_id)), 30)
        mine = ctx.scratch / f"copy-{task.task_id}.mp4"
        shutil.copyfile(theirs, mine)
        return await ctx.publish(mine, task)

    return work


def lanczos_upscaling():
    engine = build_engine(UpscaleSettings(engine="lanczos", codec="hevc", preset="ultrafast", threads=1))

    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        assert isinstance(task, UpscalingTask)
        src = await ctx.fetch_input(task)
        info = probe(src)
        dst = src.with_name("out.mp4")
        target = (info.width * task.scale, info.height * task.scale)
        await asyncio.to_thread(engine.upscale, src, dst, scale=task.scale, target=target)
        return await ctx.publish(dst, task)

    return work


def sleeper(seconds: float = 120.0):
    """Never answers in time (the miner's server gives up at the deadline: HTTP 504)."""

    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        await asyncio.sleep(seconds)
        return TaskError(task_id=task.task_id, error="too late")

    return work


def garbage():
    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        path = ctx.scratch / f"garbage-{task.task_id}.mp4"
        path.write_bytes(os.urandom(20_000))
        return await ctx.publish(path, task)

    return work


def wrong_resolution():
    """Answers the input re-encoded at its own size (not x scale)."""

    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        src = await ctx.fetch_input(task)
        dst = await asyncio.to_thread(reencode, src, src.with_name("same.mp4"), "hevc", crf=20)
        return await ctx.publish(dst, task)

    return work


def wrong_codec():
    """Compresses, but to h264 whatever codec was asked."""

    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        src = await ctx.fetch_input(task)
        dst = await asyncio.to_thread(reencode, src, src.with_name("h264.mp4"), "h264", crf=30)
        return await ctx.publish(dst, task)

    return work


def reference_copy():
    """Answers the input (the reference) unchanged."""

    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        return await ctx.publish(await ctx.fetch_input(task), task)

    return work


def oversized():
    """A file larger than the original (the input plus padding)."""

    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        src = await ctx.fetch_input(task)
        big = src.with_name("big.mp4")
        big.write_bytes(src.read_bytes() + b"\0" * 200_000)
        return await ctx.publish(big, task)

    return work


def private_url():
    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        return TaskResult(task_id=task.task_id, output_url="http://10.0.0.1/x.mp4", processing_time_s=0.1)

    return work


def crasher():
    """The handler raises: the miner's server answers HTTP 500."""

    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        raise RuntimeError("boom")

    return work


def quick_compression(crf: int):
    """A cheap honest compressor (x265 ultrafast at a fixed CRF) for the restart test."""

    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        src = await ctx.fetch_input(task)
        dst = await asyncio.to_thread(reencode, src, src.with_name("q.mp4"), task.codec.value, crf=crf)  # type: ignore[union-attr]
        return await ctx.publish(dst, task)

    return work

