"""One whole miner job and its local executor: safe fetch -> engine (worker pool) -> upload -> URL.

`MinerJob` is plain data (it travels to a Ray node as is); `MinerEngines` turns it into the
blocking engine call with the engines loaded where the job runs; `LocalMinerExecutor` runs the
job in this process: the input is fetched into a fresh task directory, the engine runs in the
`WorkerPool` lane of the job (abandoned, its processes killed, when the caller gives up), the
output is uploaded and presigned, and the task directory is removed on every path. The Ray
executor (`vidaio.executor.ray_miner`) runs this same class on the node that executes the job.
"""

from __future__ import annotations

import asyncio
import functools
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from services.upscaling import UpscalingEngine
from vidaio.fetch import FetchConfig, fetch
from vidaio.miner.config import MinerSettings
from vidaio.miner.jobs import JobOutput, run_compression, run_upscaling
from vidaio.miner.worker import Job, Lane, WorkerPool
from vidaio.protocol import CompressionTask, UpscalingTask
from vidaio.storage.s3 import S3Store

TASK_DIR_PREFIX = "task-"
LOCAL_NODE = "local"


class TaskFailed(Exception):
    """A task cannot be completed; the message is what the validator reads."""


@dataclass(frozen=True)
class MinerJob:
    """Everything a node needs to run one task end to end (no paths of the head, no bytes)."""

    task: UpscalingTask | CompressionTask
    key: str  # object key of the output
    byte_cap: int  # input download cap
    deadline_wall_s: float  # time.time() by which the work (fetch + engine) must be done
    lane: Lane
    max_duration_s: float
    max_size: tuple[int, int] | None = None  # upscaling: largest input frame

    @property
    def task_id(self) -> str:
        return self.task.task_id


@dataclass(frozen=True)
class MinerJobOutcome:
    url: str
    input_bytes: int
    output_bytes: int
    engine: str
    detail: str
    node: str = LOCAL_NODE
    attempts: int = 1


@dataclass
class JobStats:
    """Filled while a job runs (for the per-task log line, also when the job fails)."""

    input_bytes: int | None = None
    output_bytes: int | None = None
    engine_s: float | None = None  # job submitted -> engine output (worker-pool wait included)
    upload_s: float | None = None  # upload + presign of the output


def remove_tree(path: Path | None) -> None:
    if path is not None:
        shutil.rmtree(path, ignore_errors=True)


@dataclass
class MinerEngines:
    """The engines of one miner where its jobs run (the upscaling model is loaded once, here)."""

    settings: MinerSettings
    upscaler: UpscalingEngine | None = None

    def run(self, job: MinerJob, src: Path, dst: Path, deadline: float, scratch: Path) -> JobOutput:
        """The blocking engine call of `job` (a worker-pool thread runs it)."""
        task, s = job.task, self.settings
        if isinstance(task, UpscalingTask):
            if self.upscaler is None:
                raise TaskFailed("no upscaling engine is loaded")
            assert job.max_size is not None
            return run_upscaling(
                self.upscaler, src, dst, scale=task.scale, max_size=job.max_size,
                max_duration_s=job.max_duration_s, deadline=deadline,
            )  # fmt: skip
        return run_compression(
            s.compression_engine, s.compression, src, dst, codec=task.codec.value,
            vmaf_threshold=task.vmaf_threshold, max_duration_s=job.max_duration_s, deadline=deadline,
            scratch_dir=scratch,
        )  # fmt: skip


class LocalMinerExecutor:
    """Runs whole miner jobs in this process (the `local` executor, also what each Ray node runs)."""

    def __init__(
        self,
        *,
        engines: MinerEngines,
        storage: S3Store,
        pool: WorkerPool,
        fetch_cfg: FetchConfig,
        work_dir: Path,
        node: str = LOCAL_NODE,
    ) -> None:
        self.engines = engines
        self.storage = storage
        self.pool = pool
        self.fetch_cfg = fetch_cfg
        self.work_dir = Path(work_dir)
        self.node = node

    @property
    def active(self) -> int:
        return self.pool.active

    async def shutdown(self, grace_s: float = 0.0) -> int:
        return await self.pool.shutdown(grace_s=grace_s)

    async def run(self, job: MinerJob, stats: JobStats | None = None) -> MinerJobOutcome:
        stats = stats if stats is not None else JobStats()
        started = time.monotonic()
        budget = job.deadline_wall_s - time.time()
        if budget <= 0:
            raise TaskFailed("deadline: no time left for the work")
        deadline = started + budget
        task_dir: Path | None = None
        running: Job[JobOutput] | None = None
        try:
            self.work_dir.mkdir(parents=True, exist_ok=True)
            task_dir = Path(tempfile.mkdtemp(prefix=f"{TASK_DIR_PREFIX}{job.task_id}.", dir=self.work_dir))
            src, dst, scratch = task_dir / "input.mp4", task_dir / "output.mp4", task_dir / "scratch"
            scratch.mkdir()
            try:
                async with asyncio.timeout(budget):
                    fetched = await fetch(job.task.input_url, src, max_bytes=job.byte_cap, cfg=self.fetch_cfg)
            except TimeoutError:
                raise TaskFailed("deadline: passed while fetching the input") from None
            stats.input_bytes = fetched.size
            work = functools.partial(self.engines.run, job, src, dst, deadline, scratch)
            submitted = time.monotonic()
            running = self.pool.submit(job.lane, work, label=job.task_id)
            out = await self.pool.wait(running)
            stats.output_bytes, stats.engine_s = out.size_bytes, time.monotonic() - submitted
            uploading = time.monotonic()
            await self.storage.upload(dst, job.key)
            url = await self.storage.presign_get(job.key)
            stats.upload_s = time.monotonic() - uploading
            return MinerJobOutcome(url.url, fetched.size, out.size_bytes, out.engine, out.detail, self.node)
        finally:
            if running is not None and not running.done():
                running.on_done(functools.partial(remove_tree, task_dir))
            else:
                remove_tree(task_dir)
