"""The miner's TaskHandler: refuse what is not mined, fetch, run the engine, upload, answer a URL.

One task, in order: refusal check (task family, type, codec, content length) -> work deadline
(task deadline from the validator's signing time, minus the upload margin) -> safe fetch of the
input under a byte cap derived from the task -> engine job in the worker pool -> upload under
`{hotkey}/{round_id}/{task_id}.mp4` -> presigned GET URL. The task's temporary directory is
removed on every path (an abandoned job's directory goes as soon as its thread lets go), and
one log line per task says who asked for what, the sizes, the seconds and the result.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from scoring.media.ffmpeg import FfmpegError
from services.compression import CompressionError
from services.upscaling import UpscaleError, UpscalingEngine
from vidaio.fetch import FetchConfig, FetchError, fetch
from vidaio.miner import policy
from vidaio.miner.config import MinerSettings
from vidaio.miner.jobs import InputRejected, JobOutput, run_compression, run_upscaling
from vidaio.miner.worker import Job, JobAbandoned, Lane, WorkerPool
from vidaio.protocol import Capabilities, CompressionTask, TaskError, TaskResult, UpscalingTask
from vidaio.storage.errors import StorageError
from vidaio.storage.s3 import S3Store, object_key
from vidaio.transport.handler import CallerInfo

TASK_DIR_PREFIX = "task-"
MAX_ERROR_CHARS = 600


class TaskFailed(Exception):
    """A task cannot be completed; the message is what the validator reads."""


@dataclass
class _Record:
    """What the per-task log line reports."""

    input_bytes: int | None = None
    output_bytes: int | None = None
    result: str = "error"


def _short(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_failure(exc: BaseException) -> str:
    """The validator-facing reason of a failed task (no stack traces, bounded length)."""
    if isinstance(exc, TaskFailed):
        return _short(str(exc))
    if isinstance(exc, FetchError):
        if exc.reason == "too_large":
            return _short(f"input too large: {exc.detail}")
        return _short(f"input fetch failed ({exc.reason}): {exc.detail}")
    if isinstance(exc, InputRejected):
        return _short(f"input rejected: {exc}")
    if isinstance(exc, JobAbandoned):
        return "abandoned: the miner is shutting down"
    if isinstance(exc, TimeoutError):  # the engines' DeadlineExceeded are TimeoutErrors
        return _short(f"deadline: {exc}" if str(exc) else "deadline: no time left for the task")
    if isinstance(exc, UpscaleError | CompressionError | FfmpegError):
        return _short(f"processing failed: {exc}")
    if isinstance(exc, StorageError):
        return _short(f"upload failed: {exc}")
    return "internal error in the miner"


def remove_tree(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


class MinerHandler:
    """TaskHandler of `vidaio.transport.server.build_miner_app` for one configured miner."""

    def __init__(
        self,
        *,
        settings: MinerSettings,
        hotkey: str,
        storage: S3Store,
        pool: WorkerPool,
        fetch_cfg: FetchConfig,
        upscaler: UpscalingEngine | None = None,
        software_version: str = "0.0.0",
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.hotkey = hotkey
        self.storage = storage
        self.pool = pool
        self.fetch_cfg = fetch_cfg
        self.upscaler = upscaler
        self.software_version = software_version
        self.work_dir = Path(settings.work_dir)
        self._wall = wall_clock
        self._caps = policy.capabilities_for(settings, software_version)

    # ------------------------------------------------------------------ TaskHandler
    async def capabilities(self) -> Capabilities:
        return self._caps

    async def handle_upscaling(self, task: UpscalingTask, caller: CallerInfo) -> TaskResult | TaskError:
        s = self.settings
        refusal = policy.upscaling_refusal(task, s)
        if refusal is None and self.upscaler is None:
            refusal = "no upscaling engine is loaded"
        geo = policy.upscaling_input_geometry(task, s)
        upscaler = self.upscaler
        lane: Lane = "gpu" if s.upscaling.engine == "model" else "cpu"  # type: ignore[attr-defined]

        def job(src: Path, dst: Path, deadline: float, _scratch: Path) -> JobOutput:
            assert upscaler is not None
            return run_upscaling(
                upscaler, src, dst, scale=task.scale, max_size=(geo.in_w, geo.in_h),
                max_duration_s=policy.max_input_duration_s(task.content_length, s), deadline=deadline,
            )  # fmt: skip

        label = f"upscaling {task.task_type.value} x{task.scale} {task.content_length}s"
        return await self._process(
            task, caller, label=label, refusal=refusal, byte_cap=policy.upscaling_byte_cap(task, s), lane=lane, job=job
        )

    async def handle_compression(self, task: CompressionTask, caller: CallerInfo) -> TaskResult | TaskError:
        s = self.settings
        refusal = policy.compression_refusal(task, s)

        def job(src: Path, dst: Path, deadline: float, scratch: Path) -> JobOutput:
            return run_compression(
                s.compression_engine, s.compression, src, dst, codec=task.codec.value,
                vmaf_threshold=task.vmaf_threshold,
                max_duration_s=policy.max_input_duration_s(s.max_content_length, s),
                deadline=deadline, scratch_dir=scratch,
            )  # fmt: skip

        label = f"compression {task.codec.value} vmaf>={task.vmaf_threshold:g}"
        return await self._process(
            task, caller, label=label, refusal=refusal, byte_cap=policy.compression_byte_cap(task, s), lane="cpu",
            job=job,
        )  # fmt: skip

    # ------------------------------------------------------------------ one task
    async def _process(
        self,
        task: UpscalingTask | CompressionTask,
        caller: CallerInfo,
        *,
        label: str,
        refusal: str | None,
        byte_cap: int,
        lane: Lane,
        job: Callable[[Path, Path, float, Path], JobOutput],
    ) -> TaskResult | TaskError:
        started = time.monotonic()
        rec = _Record()
        task_dir: Path | None = None
        running: Job[JobOutput] | None = None
        try:
            if refusal is not None:
                rec.result = f"refused: {refusal}"
                return TaskError(task_id=task.task_id, error=refusal)
            budget = policy.work_budget_s(
                deadline_s=task.deadline_s,
                margin_s=self.settings.deadline_margin_s,
                now_wall_s=self._wall(),
                signed_wall_s=caller.nonce_ns / 1e9 if caller.nonce_ns else None,
            )
            if budget <= 0:
                raise TaskFailed(
                    f"deadline: {task.deadline_s:g}s leaves no time for the work after the "
                    f"{self.settings.deadline_margin_s:g}s upload margin"
                )
            deadline = started + budget
            try:
                key = object_key(self.hotkey, task.round_id, task.task_id)
            except ValueError as exc:
                raise TaskFailed(f"ids not usable as a storage key: {exc}") from None
            self.work_dir.mkdir(parents=True, exist_ok=True)
            task_dir = Path(tempfile.mkdtemp(prefix=f"{TASK_DIR_PREFIX}{task.task_id}.", dir=self.work_dir))
            src, dst, scratch = task_dir / "input.mp4", task_dir / "output.mp4", task_dir / "scratch"
            scratch.mkdir()
            try:
                async with asyncio.timeout(budget):
                    fetched = await fetch(task.input_url, src, max_bytes=byte_cap, cfg=self.fetch_cfg)
            except TimeoutError:
                raise TaskFailed("deadline: passed while fetching the input") from None
            rec.input_bytes = fetched.size
            running = self.pool.submit(lane, functools.partial(job, src, dst, deadline, scratch), label=task.task_id)
            out = await self.pool.wait(running)
            rec.output_bytes = out.size_bytes
            await self.storage.upload(dst, key)
            url = await self.storage.presign_get(key)
            elapsed = time.monotonic() - started
            rec.result = f"ok ({out.engine}: {out.detail})"
            return TaskResult(task_id=task.task_id, output_url=url.url, processing_time_s=round(elapsed, 3))
        except asyncio.CancelledError:
            rec.result = "cancelled (deadline passed or the miner is stopping)"
            raise
        except Exception as exc:
            reason = describe_failure(exc)
            if reason == "internal error in the miner":
                logger.opt(exception=exc).error("task {}: unexpected failure", task.task_id)
            rec.result = f"error: {reason}"
            return TaskError(task_id=task.task_id, error=reason)
        finally:
            if running is not None and not running.done():
                running.on_done(functools.partial(remove_tree, task_dir))
            else:
                remove_tree(task_dir)
            logger.info(
                "task {} [{}] from uid {} {}: input {} B, output {} B, {:.2f}s: {}",
                task.task_id, label, caller.uid, caller.hotkey,
                "-" if rec.input_bytes is None else rec.input_bytes,
                "-" if rec.output_bytes is None else rec.output_bytes,
                time.monotonic() - started, rec.result,
            )  # fmt: skip


def purge_stale_task_dirs(work_dir: Path) -> int:
    """Remove task directories left by a previous process that died (start-up only)."""
    if not work_dir.is_dir():
        return 0
    stale = [p for p in work_dir.iterdir() if p.name.startswith(TASK_DIR_PREFIX)]
    for p in stale:
        if p.is_dir():
            remove_tree(p)
        else:
            p.unlink(missing_ok=True)
    return len(stale)
