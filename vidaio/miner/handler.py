"""The miner's TaskHandler: refuse what is not mined, fetch, run the engine, upload, answer a URL.

One task, in order: refusal check (task family, type, codec, content length) -> work deadline
(task deadline from the validator's signing time, minus the upload margin) -> safe fetch of the
input under a byte cap derived from the task -> engine job -> upload under
`{hotkey}/{round_id}/{task_id}.mp4` -> presigned GET URL. Everything after the deadline check is
one `MinerJob` run by the configured executor (`vidaio.executor.base.MinerExecutor`: the local
worker pool, or a Ray node that runs the whole job). The task's temporary directory is removed on
every path (an abandoned job's directory goes as soon as its thread lets go), and one log line
per task says who asked for what, the sizes, the seconds and the result.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from loguru import logger

from scoring.media.ffmpeg import FfmpegError
from services.compression import CompressionError
from services.upscaling import UpscaleError
from vidaio.fetch import FetchError
from vidaio.miner import policy
from vidaio.miner.config import MinerSettings
from vidaio.miner.execute import TASK_DIR_PREFIX as TASK_DIR_PREFIX
from vidaio.miner.execute import JobStats, MinerJob, TaskFailed, remove_tree
from vidaio.miner.jobs import InputRejected
from vidaio.miner.worker import JobAbandoned, Lane
from vidaio.protocol import Capabilities, CompressionTask, TaskError, TaskResult, UpscalingTask, task_type_of
from vidaio.storage.errors import StorageError
from vidaio.storage.s3 import S3Store, object_key
from vidaio.tasklog import miner_task_from
from vidaio.telemetry.miner import MinerMetrics
from vidaio.transport.handler import CallerInfo

if TYPE_CHECKING:
    from vidaio.executor.base import MinerExecutor

MAX_ERROR_CHARS = 600
__all__ = ["MinerHandler", "TaskFailed", "describe_failure", "purge_stale_task_dirs", "remove_tree"]


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


class MinerHandler:
    """TaskHandler of `vidaio.transport.server.build_miner_app` for one configured miner."""

    def __init__(
        self,
        *,
        settings: MinerSettings,
        hotkey: str,
        storage: S3Store,
        executor: MinerExecutor,
        software_version: str = "0.0.0",
        wall_clock: Callable[[], float] = time.time,
        metrics: MinerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.hotkey = hotkey
        self.storage = storage
        self.executor = executor
        self.software_version = software_version
        self.work_dir = Path(settings.work_dir)
        self._wall = wall_clock
        self._caps = policy.capabilities_for(settings, software_version)
        self.metrics = metrics or MinerMetrics()  # Prometheus (served by the daemon when enabled)

    # ------------------------------------------------------------------ TaskHandler
    async def capabilities(self) -> Capabilities:
        return self._caps

    async def handle_upscaling(self, task: UpscalingTask, caller: CallerInfo) -> TaskResult | TaskError:
        s = self.settings
        refusal = policy.upscaling_refusal(task, s)
        geo = policy.upscaling_input_geometry(task, s)
        lane: Lane = "gpu" if s.upscaling.engine == "model" else "cpu"  # type: ignore[attr-defined]
        label = f"upscaling {task.task_type.value} x{task.scale} {task.content_length}s"
        return await self._process(
            task, caller, label=label, refusal=refusal, byte_cap=policy.upscaling_byte_cap(task, s), lane=lane,
            max_duration_s=policy.max_input_duration_s(task.content_length, s), max_size=(geo.in_w, geo.in_h),
        )  # fmt: skip

    async def handle_compression(self, task: CompressionTask, caller: CallerInfo) -> TaskResult | TaskError:
        s = self.settings
        refusal = policy.compression_refusal(task, s)
        label = f"compression {task.codec.value} vmaf>={task.vmaf_threshold:g}"
        return await self._process(
            task, caller, label=label, refusal=refusal, byte_cap=policy.compression_byte_cap(task, s), lane="cpu",
            max_duration_s=policy.max_input_duration_s(s.max_content_length, s),
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
        max_duration_s: float,
        max_size: tuple[int, int] | None = None,
    ) -> TaskResult | TaskError:
        started = time.monotonic()
        rec = _Record()
        stats = JobStats()
        track = self.metrics.task(task_type_of(task).value, getattr(getattr(task, "codec", None), "value", None))
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
            try:
                key = object_key(self.hotkey, task.round_id, task.task_id)
            except ValueError as exc:
                raise TaskFailed(f"ids not usable as a storage key: {exc}") from None
            job = MinerJob(
                task=task, key=key, byte_cap=byte_cap, deadline_wall_s=time.time() + budget, lane=lane,
                max_duration_s=max_duration_s, max_size=max_size,
            )  # fmt: skip
            out = await self.executor.run(job, stats)
            rec.input_bytes, rec.output_bytes = out.input_bytes, out.output_bytes
            elapsed = time.monotonic() - started
            rec.result = f"ok ({out.engine}: {out.detail})"
            return TaskResult(task_id=task.task_id, output_url=out.url, processing_time_s=round(elapsed, 3))
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
            track.finish(rec.result, stats)
            rec.input_bytes = rec.input_bytes if rec.input_bytes is not None else stats.input_bytes
            rec.output_bytes = rec.output_bytes if rec.output_bytes is not None else stats.output_bytes
            miner_task_from(
                task, caller.uid, input_bytes=rec.input_bytes, output_bytes=rec.output_bytes,
                seconds=time.monotonic() - started, result=rec.result,
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
