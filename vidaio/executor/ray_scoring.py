"""The validator's `ray` executor: scoring jobs (validation, VMAF, PIE-APP) on the worker nodes.

One threaded actor per worker node (one per GPU where the node has GPUs) holds the scoring context
and builds its PIE-APP metric once, on the first upscaling job, like a local scoring process. The
reference clip, the miner's downloaded output and the upscaling input travel to the node through
the object store (the reference once per clip, cached here), are written to a private temporary
directory there and removed after the job: no shared filesystem. The actor runs the very function
the local pool runs (`vidaio.validator.pool.run_job`: the job's own `scoring.evaluate` call, whatever
its task kind), so verdicts are the same for the same inputs and secret. A job whose node dies is run again on another node (`ray.scoring_attempts`); the judge
gets one verdict per answer, so the result is recorded once.

Backstop (`vidaio.validator.backstop`, the local pool's rule and settings): an answer with no result
`backstop_s(job)` after its actor started it (jobs queued behind others on the actor wait for a
free thread first) is recorded `scoring_budget_exceeded` at once. Its actor is then stopped in the
background: a Ray task on its node runs `kill_tree` on the actor's process (the ffmpeg runs it
started are in their own sessions; killing the actor alone would orphan them), `ray.kill` follows,
and a new actor is started on the same node (`ray.cancel(force=True)` is refused for actor tasks).
The other jobs that die with that actor are run again (`ray.scoring_attempts`), the node kept.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

import ray
from loguru import logger

from scoring.config import ScoringConfig
from scoring.metrics.config import MetricsConfig
from vidaio.executor.base import ScoringWorkerLost
from vidaio.executor.cluster import (
    LOST_WORKER_ERRORS,
    ActorFleet,
    Slot,
    WorkerNode,
    connect,
    current_node_id,
    pinned,
)
from vidaio.executor.config import RaySettings
from vidaio.validator import backstop
from vidaio.validator.kinds import ScoreJob, ScoringContext, Verdict
from vidaio.validator.pool import ScorePool

PLACEMENTS_KEPT = 4096
SCRATCH_PREFIX = "vidaio-score-"
STALE_SCRATCH_S = 24 * 3600.0  # scratch of a node no cluster here knows (a restart): removed after a day
KILL_TIMEOUT_S = 30.0  # the kill task on the stuck actor's node: a worker process to start, /proc to walk


def kill_actor_tree(pid: int) -> list[int]:
    """Runs on the stuck actor's node (a Ray task): SIGKILL the actor's process and all it started."""
    return backstop.kill_tree(pid)


class _GivenUp(Exception):
    def __init__(self, after_s: float) -> None:
        super().__init__(f"given up after {after_s:.1f} s")
        self.after_s = after_s


def scratch_to_purge(
    parent: Path, alive: set[str], dead: set[str], *, now: float | None = None
) -> list[Path]:
    """The scoring scratch dirs under `parent` to remove, given this cluster's node ids (12-char prefixes).

    Only nodes *this* cluster knows to be dead, plus dirs of nodes it does not know at all once
    they are `STALE_SCRATCH_S` old (a cluster restarted): another cluster on the same host (a second
    validator, a test run) keeps its live scratch dirs, which an "every node not alive here" rule
    deleted under it."""
    cutoff = (time.time() if now is None else now) - STALE_SCRATCH_S
    gone = []
    for p in parent.glob(f"{SCRATCH_PREFIX}*"):
        node = p.name[len(SCRATCH_PREFIX) :][:12]
        if node in alive or not p.is_dir():
            continue
        try:
            if node in dead or p.stat().st_mtime < cutoff:
                gone.append(p)
        except OSError:
            continue
    return gone


def purge_dead_node_scratch(parent: Path) -> int:
    """Remove scoring scratch dirs on this host left by Ray nodes that are gone (killed mid-job)."""
    nodes = ray.nodes()
    alive = {str(n["NodeID"])[:12] for n in nodes if n.get("Alive")}
    dead = {str(n["NodeID"])[:12] for n in nodes if not n.get("Alive")} - alive
    gone = scratch_to_purge(parent, alive, dead)
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
    return len(gone)


class ScoringWorker:
    """Ray actor (threaded): scores jobs on one node with the validator's context."""

    def __init__(
        self, secret: str, scoring: ScoringConfig, metrics: MetricsConfig, torch_threads: int
    ) -> None:
        # torch (imported with PIE-APP) reads its thread count from these: the CPUs this actor reserved
        os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = str(torch_threads)
        self.ctx = ScoringContext(secret, scoring, metrics)
        self.node_id = current_node_id()
        purge_dead_node_scratch(Path(tempfile.gettempdir()))

    def ready(self) -> tuple[str, int]:
        return self.node_id, os.getpid()

    def score(self, job: ScoreJob, seen: tuple[str, ...], files: dict[str, Any]) -> tuple[str, Any, str]:
        """("ok", verdict, node) or ("raise", the exception evaluate raised, node); `files` holds the
        object refs of the job's files (`job.files()`), written here under the same names."""
        from vidaio.validator.pool import LockedMetric, run_job

        tmp = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{self.node_id[:12]}-"))
        try:
            here: dict[str, Path] = {}
            for name, original in job.files().items():
                (tmp / name).mkdir()
                here[name] = tmp / name / original.name
                here[name].write_bytes(ray.get(files[name]))
            verdict: Any = run_job(job.with_files(here), seen, self.ctx, LockedMetric(self.ctx.metrics))
            # messages name the files: name the validator's own paths, as the local pool would
            for name, original in job.files().items():
                verdict.messages = [m.replace(str(here[name]), str(original)) for m in verdict.messages]
            return "ok", verdict, self.node_id
        except Exception as exc:
            return "raise", exc, self.node_id
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def call(self, fn: Any, args: list[tuple[str, Any, Any]]) -> tuple[str, Any, str]:
        """`fn(*args)` with the head's files (("file", name, ObjectRef)) written to a scratch dir here."""
        tmp = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{self.node_id[:12]}-"))
        try:
            real: list[Any] = []
            for i, (kind, name, value) in enumerate(args):
                if kind == "file":
                    (tmp / str(i)).mkdir()
                    path = tmp / str(i) / name
                    path.write_bytes(ray.get(value))
                    real.append(path)
                else:
                    real.append(value)
            return "ok", fn(*real), self.node_id
        except Exception as exc:
            return "raise", exc, self.node_id
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class RayScorePool:
    """`ScoringExecutor` over the scoring actors of the worker nodes."""

    def __init__(
        self, secret: str, scoring: ScoringConfig, metrics: MetricsConfig, ray_cfg: RaySettings, *,
        backstop_grace_s: float = ScorePool.backstop_grace_s,
        backstop_grace_ratio: float = ScorePool.backstop_grace_ratio,
        backstop_pieapp_s: float = ScorePool.backstop_pieapp_s,
    ) -> None:  # fmt: skip
        self.secret = secret
        self.scoring, self.metrics = scoring, metrics
        self.backstop_grace_s, self.backstop_grace_ratio = backstop_grace_s, backstop_grace_ratio
        self.backstop_pieapp_s = backstop_pieapp_s
        self._running: dict[int, list[asyncio.Future]] = {}  # id(slot) -> its jobs' results, in submit order
        self._stopped: dict[int, Slot] = {}  # slots the backstop stopped (their lost jobs are re-run)
        self._stopping: set[asyncio.Task] = set()
        self._calls = 0
        self.ray_cfg = ray_cfg
        self._owns_connection = False
        self._refs: OrderedDict[tuple[str, int, int], Any] = OrderedDict()
        # task id -> node ids that ran it, the last one answered (the latest PLACEMENTS_KEPT jobs)
        self.placements: OrderedDict[str, list[str]] = OrderedDict()
        remote_cls = ray.remote(ScoringWorker)

        def make(node: WorkerNode, index: int, gpu: bool) -> Any:
            return remote_cls.options(
                num_cpus=ray_cfg.job_num_cpus, num_gpus=ray_cfg.num_gpus_per_actor if gpu else 0,
                max_concurrency=ray_cfg.max_in_flight_per_node, max_restarts=0, scheduling_strategy=pinned(node.node_id),
            ).remote(secret, scoring, metrics, max(1, int(ray_cfg.job_num_cpus)))  # fmt: skip

        def per_node(node: WorkerNode) -> list[tuple[int, bool]]:
            if ray_cfg.num_gpus_per_actor > 0 and node.gpus >= ray_cfg.num_gpus_per_actor:
                return [(i, True) for i in range(int(node.gpus // ray_cfg.num_gpus_per_actor))]
            return [(0, False)]

        self.fleet = ActorFleet(ray_cfg, make, per_node)

    def start(self) -> RayScorePool:
        """Join the cluster (the actors start with `connect`, or with the first job)."""
        if not ray.is_initialized():
            self._owns_connection = connect(self.ray_cfg)
        return self

    async def connect(self) -> RayScorePool:
        """Join the cluster and wait until a scoring actor is up (ClusterError says why not)."""
        self._owns_connection = await asyncio.to_thread(connect, self.ray_cfg) or self._owns_connection
        count = await self.fleet.wait_ready(self.ray_cfg.connect_timeout_s)
        logger.info("Ray scoring ready: {} actor(s) on {} worker node(s)", count, len(self.fleet.nodes()))
        return self

    def _put_file(self, path: Path, cache: bool) -> Any:
        st = path.stat()
        key = (str(path), st.st_size, st.st_mtime_ns)
        if cache and key in self._refs:
            self._refs.move_to_end(key)
            return self._refs[key]
        ref = ray.put(path.read_bytes())
        if cache and self.ray_cfg.reference_cache > 0:
            self._refs[key] = ref
            while len(self._refs) > self.ray_cfg.reference_cache:
                self._refs.popitem(last=False)
        return ref

    async def score(self, job: ScoreJob, seen_sha256: tuple[str, ...] = ()) -> Verdict:
        """The verdict of one answer on a worker node; the validator's clips (every file but the answer,
        `distorted`) travel once per clip (cached), the answer once per job."""
        from scoring.evaluate import BadReferenceError

        refs: dict[str, Any] = {}
        try:
            for name, path in job.files().items():
                if name != "distorted":
                    refs[name] = await asyncio.to_thread(self._put_file, path, True)
        except OSError as exc:
            raise BadReferenceError(f"cannot read the reference or input clip: {exc}") from exc
        refs["distorted"] = await asyncio.to_thread(self._put_file, job.distorted, False)
        limit = await asyncio.to_thread(self.backstop_s, job)
        try:
            return await self._dispatch(  # type: ignore[no-any-return]
                job.task_id, lambda actor: actor.score.remote(job, seen_sha256, refs), limit_s=limit
            )
        except _GivenUp as exc:
            ctx = ScoringContext(self.secret, self.scoring, self.metrics)
            return backstop.stopped_verdict(job, ctx, exc.after_s, limit or 0.0)

    def backstop_s(self, job: ScoreJob) -> float | None:
        """Seconds the pool waits for `job` once started (its wall limit + the grace); None = no limit."""
        return backstop.backstop_s(
            job, self.metrics, grace_s=self.backstop_grace_s, grace_ratio=self.backstop_grace_ratio,
            pieapp_s=self.backstop_pieapp_s,
        )  # fmt: skip

    async def call(self, fn: Any, *args: Any) -> Any:
        """`fn(*args)` on a worker node (a module-level function, like the local pool's `call`); `Path`
        arguments that are files here travel through the object store (the first one is cached)."""
        spec: list[tuple[str, Any, Any]] = []
        for i, arg in enumerate(args):
            if isinstance(arg, Path) and arg.is_file():
                ref = await asyncio.to_thread(self._put_file, arg, i == 0)
                spec.append(("file", arg.name, ref))
            else:
                spec.append(("value", None, arg))
        self._calls += 1
        label = f"{getattr(fn, '__name__', 'call')}#{self._calls}"
        return await self._dispatch(label, lambda actor: actor.call.remote(fn, spec))

    async def _await_result(self, slot: Slot, call: Any, label: str, limit_s: float | None) -> Any:
        """The result of `call` on `slot`; past `limit_s` after the actor started it, `_GivenUp`."""
        running = self._running.setdefault(id(slot), [])
        ahead = list(running)
        fut = asyncio.wrap_future(call.future())
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())  # a given-up job's late error
        running.append(fut)
        try:
            # the actor starts a job when one of its max_in_flight_per_node threads is free
            while limit_s is not None and len(pending := [f for f in ahead if not f.done()]) >= (
                self.ray_cfg.max_in_flight_per_node
            ):
                await asyncio.wait({fut, *pending}, return_when=asyncio.FIRST_COMPLETED)
                if fut.done():
                    break
            started = time.monotonic()
            done, _ = await asyncio.wait({fut}, timeout=limit_s)
            if not done and id(slot) in self._stopped:
                # its actor is being killed for another stuck job: this one dies with it and is run again
                done, _ = await asyncio.wait({fut}, timeout=KILL_TIMEOUT_S + 10.0)
            if not done:
                after = time.monotonic() - started
                self._give_up(slot, label, after)
                raise _GivenUp(after)
            return fut.result()
        finally:
            running.remove(fut)
            if not running and self._running.get(id(slot)) is running:
                self._running.pop(id(slot), None)

    def _give_up(self, slot: Slot, label: str, after_s: float) -> None:
        """Stop waiting for a job: its actor leaves the fleet now and is killed in the background."""
        if id(slot) in self._stopped:
            return
        self._stopped[id(slot)] = slot
        if self.fleet.slots.get((slot.node_id, slot.index)) is slot:
            self.fleet.slots.pop((slot.node_id, slot.index))
        logger.error(
            "scoring {}: no result after {:.1f} s on node {}; given up. Its actor is killed with the processes "
            "it started and replaced (its other jobs are run again)", label, after_s, slot.node_id[:12],
        )  # fmt: skip
        task = asyncio.create_task(self._stop_actor(slot))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def _stop_actor(self, slot: Slot) -> None:
        """Kill the stuck actor's process tree on its node, then the actor; start its replacement there."""
        killed: list[int] | None = None
        try:
            _node, pid = await asyncio.wait_for(asyncio.wrap_future(slot.ready.future()), 5.0)
            ref = (
                ray.remote(kill_actor_tree)
                .options(num_cpus=0, max_retries=0, scheduling_strategy=pinned(slot.node_id))
                .remote(pid)
            )
            killed = await asyncio.wait_for(asyncio.wrap_future(ref.future()), KILL_TIMEOUT_S)
        except Exception as exc:  # the node may be gone, or busy: ray.kill still stops the actor itself
            logger.warning(
                "node {}: the stuck actor's processes were not killed there ({}: {}); killing the actor only "
                "(ffmpeg runs it started may outlive it, each until its own timeout)",
                slot.node_id[:12], type(exc).__name__, exc,
            )  # fmt: skip
        try:
            ray.kill(slot.actor, no_restart=True)
        except Exception as exc:
            logger.debug("killing the actor on {}: {}", slot.node_id[:12], exc)
        if killed is not None:
            logger.warning(
                "node {}: stuck scoring actor killed with {} process(es) it started; starting a new one there",
                slot.node_id[:12], len(killed),
            )  # fmt: skip
        try:
            await self.fleet.refresh(force=True)
        except Exception as exc:  # the next job's dispatch refreshes again
            logger.warning("node {}: replacing the stuck scoring actor failed: {}", slot.node_id[:12], exc)

    async def _dispatch(self, label: str, submit: Any, limit_s: float | None = None) -> Any:
        """Run `submit(actor)` on a worker node; again on another one when the node dies under it (or
        when the backstop kills its actor for another job)."""
        tried: set[str] = set()
        last: BaseException | None = None
        for attempt in range(1, self.ray_cfg.scoring_attempts + 1):
            await self.fleet.refresh()
            slot = self.fleet.pick(avoid=tried)
            if slot is None:
                await self.fleet.refresh(force=True)
                slot = self.fleet.pick(avoid=tried)
            if slot is None:
                raise ScoringWorkerLost(
                    f"no Ray worker node is available for scoring ({last or 'none joined'})"
                )
            tried.add(slot.node_id)
            self.placements.setdefault(label, []).append(slot.node_id)
            while len(self.placements) > PLACEMENTS_KEPT:
                self.placements.popitem(last=False)
            call = submit(slot.actor)
            slot.inflight += 1
            try:
                status, value, _node = await self._await_result(slot, call, label, limit_s)
            except asyncio.CancelledError:
                ray.cancel(call)
                raise
            except LOST_WORKER_ERRORS as exc:
                last = exc
                if id(slot) in self._stopped:
                    tried.discard(slot.node_id)  # the node is fine: its new actor may take the job
                    logger.warning(
                        "scoring {}: its actor was killed with a stuck job's (attempt {}/{}); running it again",
                        label, attempt, self.ray_cfg.scoring_attempts,
                    )  # fmt: skip
                    continue
                self.fleet.drop(slot, dead=True)
                logger.warning(
                    "scoring {}: worker node {} lost (attempt {}/{}: {}); re-running elsewhere",
                    label, slot.node_id[:12], attempt, self.ray_cfg.scoring_attempts, type(exc).__name__,
                )  # fmt: skip
                continue
            finally:
                slot.inflight -= 1
            if status == "raise":
                raise value
            return value
        raise ScoringWorkerLost(
            f"every attempt ({self.ray_cfg.scoring_attempts}) lost its Ray worker node ({type(last).__name__})"
        )

    def close(self, *, wait: bool = True) -> None:
        """Stop the actors (running jobs end with them) and leave the cluster if this pool joined it."""
        self._refs.clear()
        for task in list(self._stopping):
            task.cancel()
        for slot in self._stopped.values():  # a stop cut short by close
            try:
                ray.kill(slot.actor, no_restart=True)
            except Exception as exc:
                logger.debug("killing the actor on {}: {}", slot.node_id[:12], exc)
        self._stopped.clear()
        self.fleet.kill_all()
        if self._owns_connection:
            ray.shutdown()
            self._owns_connection = False
