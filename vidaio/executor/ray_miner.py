"""The miner's `ray` executor: whole jobs on the worker nodes, the axon and its queue on the head.

Each worker node runs one long-lived actor (one per GPU where the node has GPUs and the miner's
engine is the GPU model): it loads the engines once and runs `LocalMinerExecutor` there, so the
input is fetched, processed, uploaded and presigned on that node; only the job description and
the URL travel through the head. The job's deadline is enforced on the node (an asyncio timeout
over the whole job: the worker pool abandons the engine, kills its ffmpeg children and removes
the task directory). When the head stops waiting it cancels the Ray task, which does the same.
A job whose node dies is run again on another node if `ray.retry_min_s` of its deadline remain,
else the validator gets an error answer naming the lost node.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from pathlib import Path
from typing import Any

import ray
from loguru import logger

from vidaio.executor.cluster import (
    LOST_WORKER_ERRORS,
    ActorFleet,
    WorkerNode,
    connect,
    current_node_id,
    pinned,
)
from vidaio.executor.config import RaySettings
from vidaio.fetch import FetchConfig
from vidaio.miner.config import MinerSettings
from vidaio.miner.execute import JobStats, MinerJob, MinerJobOutcome, TaskFailed
from vidaio.storage.config import StorageConfig

ANSWER_GRACE_S = 5.0  # the head waits this long past a job's margin for the node's own verdict


def purge_dead_node_dirs(parent: Path) -> int:
    """Remove the `ray-<node>-<i>` work dirs on this host whose node is no longer alive (a node killed
    mid-task cannot clean up after itself; the next actor started on the host does)."""
    import shutil

    alive = {str(n["NodeID"])[:12] for n in ray.nodes() if n.get("Alive")}
    gone = [p for p in parent.glob("ray-*") if p.is_dir() and p.name[4:16] not in alive]
    for p in gone:
        logger.info("removing {} left by a Ray node that is gone", p)
        shutil.rmtree(p, ignore_errors=True)
    return len(gone)


class MinerNodeWorker:
    """Ray actor (async): the engines of this miner on one node, running whole jobs."""

    def __init__(
        self, settings: MinerSettings, storage: StorageConfig, fetch_cfg: FetchConfig, ffmpeg_path: str | None,
        slots: int, tag: str,
    ) -> None:  # fmt: skip
        from vidaio.miner.execute import LocalMinerExecutor, MinerEngines
        from vidaio.miner.handler import purge_stale_task_dirs
        from vidaio.miner.worker import WorkerPool
        from vidaio.storage.s3 import S3Store

        self.node_id = current_node_id()
        upscaler = None
        if settings.task_type.value == "upscaling":
            from services.upscaling import build_engine

            upscaler = build_engine(settings.upscale_settings(Path(ffmpeg_path) if ffmpeg_path else None))
        work_dir = Path(settings.work_dir).expanduser().resolve() / f"ray-{tag}"
        purge_stale_task_dirs(work_dir)
        purge_dead_node_dirs(work_dir.parent)
        self.local = LocalMinerExecutor(
            engines=MinerEngines(settings, upscaler), storage=S3Store(storage),
            pool=WorkerPool(slots, settings.gpu_workers), fetch_cfg=fetch_cfg, work_dir=work_dir, node=self.node_id,
        )  # fmt: skip
        self.margin_s = settings.deadline_margin_s

    async def ready(self) -> tuple[str, int]:
        return self.node_id, os.getpid()

    async def run(self, job: MinerJob) -> tuple[str, Any]:
        """("ok", MinerJobOutcome) or ("error", the validator-facing reason)."""
        from vidaio.miner.handler import describe_failure

        try:
            async with asyncio.timeout(max(0.0, job.deadline_wall_s - time.time()) + self.margin_s):
                return "ok", await self.local.run(job)
        except Exception as exc:
            return "error", describe_failure(exc)


class RayMinerExecutor:
    """`MinerExecutor` over the actors of the worker nodes."""

    def __init__(
        self, settings: MinerSettings, storage: StorageConfig, fetch_cfg: FetchConfig, ffmpeg_path: str | None,
        ray_cfg: RaySettings,
    ) -> None:  # fmt: skip
        # the head's absolute work dir: a relative one would resolve against each Ray worker's own cwd
        settings = settings.model_copy(update={"work_dir": Path(settings.work_dir).expanduser().resolve()})
        self.settings = settings
        self.ray_cfg = ray_cfg
        self._owns_connection = False
        self._closed = False
        self._refs: set[Any] = set()
        gpu_engine = settings.task_type.value == "upscaling" and settings.upscaling.engine == "model"  # type: ignore[attr-defined]
        remote_cls = ray.remote(MinerNodeWorker)

        def make(node: WorkerNode, index: int, gpu: bool) -> Any:
            return remote_cls.options(
                num_cpus=ray_cfg.job_num_cpus, num_gpus=ray_cfg.num_gpus_per_actor if gpu else 0,
                max_concurrency=ray_cfg.max_in_flight_per_node, max_restarts=0, scheduling_strategy=pinned(node.node_id),
            ).remote(settings, storage, fetch_cfg, ffmpeg_path, ray_cfg.max_in_flight_per_node,
                     f"{node.node_id[:12]}-{index}")  # fmt: skip

        def per_node(node: WorkerNode) -> list[tuple[int, bool]]:
            if gpu_engine and ray_cfg.num_gpus_per_actor > 0 and node.gpus >= ray_cfg.num_gpus_per_actor:
                return [(i, True) for i in range(int(node.gpus // ray_cfg.num_gpus_per_actor))]
            return [(0, False)]

        self.fleet = ActorFleet(ray_cfg, make, per_node)

    async def start(self) -> RayMinerExecutor:
        self._owns_connection = await asyncio.to_thread(connect, self.ray_cfg)
        count = await self.fleet.wait_ready(self.ray_cfg.connect_timeout_s)
        logger.info("Ray executor ready: {} actor(s) on {} worker node(s)", count, len(self.fleet.nodes()))
        return self

    @property
    def active(self) -> int:
        return self.fleet.inflight

    async def run(self, job: MinerJob, stats: JobStats | None = None) -> MinerJobOutcome:
        if self._closed:
            raise TaskFailed("abandoned: the miner is shutting down")
        tried: set[str] = set()
        attempt = 0
        while True:
            attempt += 1
            await self.fleet.refresh()
            slot = self.fleet.pick(avoid=tried)
            if slot is None:
                await self.fleet.refresh(force=True)
                slot = self.fleet.pick(avoid=tried)
            if slot is None:
                raise TaskFailed("no Ray worker node is available to run the task")
            tried.add(slot.node_id)
            ref = slot.actor.run.remote(job)
            self._refs.add(ref)
            slot.inflight += 1
            wait_s = max(0.0, job.deadline_wall_s - time.time()) + self.settings.deadline_margin_s + ANSWER_GRACE_S
            try:
                async with asyncio.timeout(wait_s):
                    status, value = await ref
            except asyncio.CancelledError:
                ray.cancel(ref)
                raise
            except TimeoutError:
                ray.cancel(ref)
                raise TaskFailed(f"deadline: node {slot.node_id[:12]} did not answer in time") from None
            except LOST_WORKER_ERRORS as exc:
                self.fleet.drop(slot, dead=True)
                left = job.deadline_wall_s - time.time()
                what = f"worker node {slot.node_id[:12]} was lost mid-task ({type(exc).__name__})"
                if left >= self.ray_cfg.retry_min_s and self.fleet.pick(avoid=tried) is not None:
                    logger.warning("task {}: {}; retrying on another node ({:.0f}s left)", job.task_id, what, left)
                    continue
                await self.fleet.refresh(force=True)
                if left >= self.ray_cfg.retry_min_s and self.fleet.pick(avoid=tried) is not None:
                    logger.warning("task {}: {}; retrying on another node ({:.0f}s left)", job.task_id, what, left)
                    continue
                raise TaskFailed(f"{what}; {max(0.0, left):.0f}s of the deadline left, too little to retry") from None
            finally:
                slot.inflight -= 1
                self._refs.discard(ref)
            if status != "ok":
                raise TaskFailed(str(value))
            out: MinerJobOutcome = value
            if stats is not None:
                stats.input_bytes, stats.output_bytes = out.input_bytes, out.output_bytes
            logger.info("task {} ran on Ray node {} (attempt {})", job.task_id, out.node[:12], attempt)
            return dataclasses.replace(out, node=out.node[:12], attempts=attempt)

    async def shutdown(self, grace_s: float = 0.0) -> int:
        """Refuse new jobs, give running ones `grace_s`, cancel the rest (their nodes clean up), stop the actors."""
        self._closed = True
        deadline = time.monotonic() + max(0.0, grace_s)
        while self._refs and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        pending = list(self._refs)
        for ref in pending:
            ray.cancel(ref)
        stop_by = time.monotonic() + 10.0
        while self._refs and time.monotonic() < stop_by:  # cancelled jobs stop their ffmpeg and clean up first
            await asyncio.sleep(0.05)
        self.fleet.kill_all()
        if self._owns_connection:
            await asyncio.to_thread(ray.shutdown)
        return len(pending)
