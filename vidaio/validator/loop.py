"""The round loop: one round (plan, clips, dispatch, judge, record) and the loop around rounds.

A round: sync the metagraph into the DB (`sync_hotkeys`), refresh capabilities, plan (seeded),
`start_round`, record a missed round (`unreachable`, score 0) for each miner with history here that
could not be planned (no axon, no capabilities), prepare and upload one clip per group, dispatch every task concurrently, judge each
answer as it arrives and record it at once (`record_result`, idempotent on the deterministic
task id), delete the inputs, `finish_round`. Between rounds: weights when due, a DB prune now and
then. A round abandoned on shutdown is closed as "interrupted"; one killed outright is closed as
interrupted at the next start (`close_interrupted_rounds`), its recorded results kept.

Test seam: `RoundRunner.before_record` (None in production) is awaited after an answer is judged
and before its result is recorded, so a test can stall the validator mid-scoring and SIGKILL it
(tests/vidaio/validator/paused_validator.py installs one, then runs the real daemon).
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import shutil
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from loguru import logger

from vidaio.chain.port import ChainPort, MetagraphSnapshot
from vidaio.db.repository import Repository
from vidaio.db.types import RoundResult, RoundStatus
from vidaio.tasklog import plan_start_line, validator_task_line
from vidaio.transport.client import MinerClient
from vidaio.validator.config import ValidatorSettings
from vidaio.validator.dispatch import Assignment, dispatch
from vidaio.validator.judge import Judge, Judged, Ledger, NotScored
from vidaio.validator.kinds import KINDS
from vidaio.validator.roster import (
    CapabilityCache,
    RoundPlan,
    eligible_neurons,
    plan_round,
    round_rng,
    unreachable_miners,
)
from vidaio.validator.tasks import TaskBuilder, TaskClip, make_round_id, task_id
from vidaio.validator.weights import WeightSetter

T = TypeVar("T")
TIMING_KEYS = ("prepare_s", "dispatch_s", "download_wait_s", "download_s", "validate_s", "metrics_s", "db_s")


@dataclass
class RoundStats:
    """What one round did, for the summary line and the benchmark."""

    round_id: str = ""
    block: int = 0
    planned: int = 0
    recorded: int = 0
    status: str = "skipped"
    statuses: Counter[str] = field(default_factory=Counter)
    scores: dict[str, list[float]] = field(default_factory=lambda: {str(t): [] for t in KINDS})
    timings: dict[str, float] = field(default_factory=lambda: dict.fromkeys(TIMING_KEYS, 0.0))
    wall_s: float = 0.0
    random_weights: bool = False
    started_at: float = field(default_factory=time.monotonic)
    marks: dict[str, float] = field(default_factory=dict)
    """Seconds from the round's start: plan_s, prepared_s, last_answer_s, last_record_s."""

    def mark(self, name: str) -> None:
        self.marks[name] = time.monotonic() - self.started_at

    def add(self, judged: Judged, elapsed_s: float, db_s: float) -> None:
        r = judged.result
        self.recorded += 1
        self.statuses[r.status] += 1
        self.scores[str(r.task_type)].append(r.score)
        self.random_weights = self.random_weights or judged.random_weights
        self.timings["dispatch_s"] += elapsed_s
        self.timings["db_s"] += db_s
        for key in ("download_wait_s", "download_s", "validate_s", "metrics_s"):
            self.timings[key] += judged.timings.get(key, 0.0)

    def summary(self) -> str:
        means = ", ".join(
            f"{t} mean {sum(v) / len(v):.4f} (n={len(v)})" for t, v in self.scores.items() if v
        ) or "no scores"
        statuses = ", ".join(f"{k} {n}" for k, n in sorted(self.statuses.items())) or "-"
        spent = " ".join(f"{k[:-2]} {v:.1f}s" for k, v in self.timings.items())
        label = " [PIE-APP RANDOM WEIGHTS: demo/test scores]" if self.random_weights else ""
        return (
            f"round {self.round_id} {self.status} in {self.wall_s:.1f}s: {self.recorded}/{self.planned} results "
            f"({statuses}); {means}; time spent: {spent}{label}"
        )


class RoundRunner:
    """Runs one round end to end (see the module docstring)."""

    before_record: Callable[[RoundStats], Awaitable[None]] | None = None
    """Test seam: awaited before each result is recorded (set on an instance, or on the class as a staticmethod)."""

    def __init__(
        self,
        *,
        settings: ValidatorSettings,
        repo: Repository,
        client: MinerClient,
        caps: CapabilityCache,
        builder: TaskBuilder,
        judge: Judge,
        secret: str,
        own_hotkey: str,
    ) -> None:
        self.s = settings
        self.repo = repo
        self.client = client
        self.caps = caps
        self.builder = builder
        self.judge = judge
        self.secret = secret
        self.own_hotkey = own_hotkey
        self.work_dir = judge.work_dir
        # one writer thread: SQLite serialises writes anyway, and a dedicated thread keeps them from
        # queueing behind storage calls in the loop's shared default executor
        self._db = ThreadPoolExecutor(max_workers=1, thread_name_prefix="validator-db")

    async def _in_db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._db.shutdown(wait=True)

    async def plan(self, snapshot: MetagraphSnapshot, round_id: str) -> RoundPlan:
        await self._in_db(self.repo.sync_hotkeys, {n.uid: n.hotkey for n in snapshot.neurons})
        miners = await self.caps.refresh(eligible_neurons(snapshot, self.own_hotkey))
        plan = plan_round(miners, self.s, round_rng(self.secret, round_id))
        for uid, why in plan.skipped:
            logger.debug("round {}: uid {} not asked: {}", round_id, uid, why)  # all in the round_start line
        history = await self._in_db(self.repo.known_miners)
        missed = unreachable_miners(snapshot, self.own_hotkey, miners, history, self.caps.failures)
        return dataclasses.replace(plan, unreachable=tuple(missed))

    async def run_round(self, snapshot: MetagraphSnapshot, block: int, *, round_id: str | None = None) -> RoundStats:
        started = time.monotonic()
        round_id = round_id or make_round_id(block)
        stats = RoundStats(round_id=round_id, block=block, started_at=started)
        plan = await self.plan(snapshot, round_id)
        plan_start_line(round_id, block, plan, snapshot, self.caps.failures)
        stats.planned = plan.task_count
        stats.mark("plan_s")
        if plan.task_count == 0 and not plan.unreachable:
            logger.warning("round {}: no miner to ask (block {}, {} neurons)", round_id, block, len(snapshot.neurons))
            return stats
        await self._in_db(
            self.repo.start_round, round_id, block=block, task_count=plan.task_count + len(plan.unreachable)
        )
        await self._record_unreachable(round_id, plan, stats)
        if plan.task_count == 0:
            logger.warning("round {}: no reachable miner to ask (block {}, {} neurons)", round_id, block,
                           len(snapshot.neurons))  # fmt: skip
            await self._in_db(self.repo.finish_round, round_id, status="finished", message="no reachable miner")
            stats.status = "finished"
            stats.wall_s = time.monotonic() - started
            return stats
        clips: list[TaskClip] = []
        status: RoundStatus = "failed"
        message: str | None = None
        try:
            t0 = time.monotonic()
            assignments = await self._prepare(round_id, plan, clips)
            stats.timings["prepare_s"] = time.monotonic() - t0
            stats.mark("prepared_s")
            ledgers = {clip.group_id: Ledger() for clip in clips}
            await asyncio.gather(*(self._task(a, ledgers[a.clip.group_id], round_id, stats) for a in assignments))
            status = "finished"
        except asyncio.CancelledError:
            status, message = "interrupted", "stopped before the round finished"
            raise
        except Exception as exc:
            message = f"{type(exc).__name__}: {exc}"[:500]
            logger.opt(exception=exc).error("round {} failed: {}", round_id, message)
        finally:
            await self._cleanup(round_id, clips)
            stats.status = status
            stats.wall_s = time.monotonic() - started
            await self._in_db(self.repo.finish_round, round_id, status=status, message=message,
                              timings={**stats.timings, "wall_s": stats.wall_s})  # fmt: skip
            logger.info(stats.summary())
        return stats

    async def _record_unreachable(self, round_id: str, plan: RoundPlan, stats: RoundStats) -> None:
        """A missed round (score 0, status `unreachable`) for each miner with history that could not
        be planned: its score decays as the EMA says instead of standing still."""
        for m in plan.unreachable:
            result = RoundResult(
                round_id=round_id, task_id=task_id(round_id, m.task_type, m.uid), uid=m.uid, hotkey=m.hotkey,
                task_type=m.task_type, status="unreachable", reason=m.reason[:2000], score=0.0,
            )  # fmt: skip
            try:
                outcome = await self._in_db(self.repo.record_result, result)
            except Exception as exc:
                logger.opt(exception=exc).error("round {}: recording uid {} as unreachable failed: {}",
                                                round_id, m.uid, exc)  # fmt: skip
                continue
            stats.statuses["unreachable"] += 1
            validator_task_line(result, measure=KINDS[m.task_type].log_fields(result), accumulate=outcome.accumulate_score,
                                seconds=None, recorded=outcome.recorded)  # fmt: skip

    async def _prepare(self, round_id: str, plan: RoundPlan, clips: list[TaskClip]) -> list[Assignment]:
        """One clip per group (concurrently); the groups whose clip failed are skipped (logged)."""
        groups = [(kind, g) for kind in KINDS.values() for g in kind.groups(plan)]
        made = await asyncio.gather(*(kind.clip(self.builder, round_id, g) for kind, g in groups),
                                    return_exceptions=True)  # fmt: skip
        for m in made:
            if isinstance(m, TaskClip):
                clips.append(m)
            elif isinstance(m, BaseException) and not isinstance(m, Exception):
                raise m
        for m in made:
            if isinstance(m, Exception):
                logger.error("round {}: a task clip could not be prepared, its miners are skipped: {}", round_id, m)
        out: list[Assignment] = []
        for (kind, g), clip in zip(groups, made, strict=True):
            if isinstance(clip, TaskClip):
                out.extend(Assignment(miner, task, clip) for miner, task in kind.tasks(round_id, g, clip, self.s))
        return out

    async def _task(self, a: Assignment, ledger: Ledger, round_id: str, stats: RoundStats) -> None:
        try:
            answer = await dispatch(self.client, a, grace_s=self.s.dispatch_grace_s)
            stats.mark("last_answer_s")
            judged = await self.judge.judge(answer, ledger, round_id)
            if self.before_record is not None:
                await self.before_record(stats)
            t0 = time.monotonic()
            outcome = await self._in_db(self.repo.record_result, judged.result)
            db_s = time.monotonic() - t0
        except NotScored as exc:
            logger.error("round {}: {}; nothing recorded for uid {}", round_id, exc, a.miner.uid)
            return
        except Exception as exc:
            logger.opt(exception=exc).error("round {}: task {} of uid {} failed in the validator: {}",
                                            round_id, a.task_id, a.miner.uid, exc)  # fmt: skip
            return
        stats.add(judged, answer.result.elapsed_s, db_s)
        stats.mark("last_record_s")
        validator_task_line(judged.result, measure=a.kind.log_fields(judged.result), accumulate=outcome.accumulate_score,
                            seconds=answer.result.elapsed_s, recorded=outcome.recorded,
                            random_weights=judged.random_weights)  # fmt: skip

    async def _cleanup(self, round_id: str, clips: list[TaskClip]) -> None:
        for clip in clips:
            try:
                await self.builder.release(clip)
            except Exception as exc:
                logger.warning("round {}: cleaning up clip {} failed: {}", round_id, clip.group_id, exc)
        await asyncio.to_thread(shutil.rmtree, self.work_dir / round_id, True)


class ValidatorLoop:
    """Rounds every `round_interval_s`, weights when due, prunes now and then, until `stop` is set."""

    def __init__(
        self,
        *,
        settings: ValidatorSettings,
        chain: ChainPort,
        repo: Repository,
        runner: RoundRunner,
        weights: WeightSetter,
        on_round: Callable[[RoundStats], None] | None = None,
    ) -> None:
        self.s = settings
        self.chain = chain
        self.repo = repo
        self.runner = runner
        self.weights = weights
        self.on_round = on_round
        self.rounds = 0
        self._next_prune = time.monotonic() + settings.prune_interval_s

    async def _wait(self, stop: asyncio.Event, seconds: float) -> bool:
        """Sleep up to `seconds`; True when `stop` was set meanwhile."""
        if seconds > 0:
            try:
                await asyncio.wait_for(stop.wait(), seconds)
            except TimeoutError:
                pass
        return stop.is_set()

    async def _round(self, stop: asyncio.Event, snapshot: MetagraphSnapshot, block: int) -> RoundStats | None:
        task = asyncio.create_task(self.runner.run_round(snapshot, block), name="validator-round")
        stopper = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                grace = self.s.shutdown_grace_s
                logger.info("stopping: the running round gets {:g}s to finish", grace)
                await asyncio.wait({task}, timeout=grace)
            if not task.done():
                logger.warning("abandoning the running round (closed as interrupted)")
                task.cancel()
                await asyncio.wait({task})
        finally:
            stopper.cancel()
        if task.cancelled():
            return None
        exc = task.exception()
        if exc is not None:
            logger.opt(exception=exc).error("round failed: {}", exc)
            return None
        return task.result()

    async def run(self, stop: asyncio.Event) -> int:
        """Run rounds until `stop` (or `max_rounds`); return how many rounds ran."""
        while not stop.is_set():
            started = time.monotonic()
            try:
                snapshot = await self.chain.metagraph()
                block = await self.chain.current_block()
            except Exception as exc:
                logger.error("cannot read the chain: {}; next try in {:g}s", exc, max(5.0, self.s.round_interval_s))
                if await self._wait(stop, max(5.0, self.s.round_interval_s)):
                    break
                continue
            stats = await self._round(stop, snapshot, block)
            self.rounds += 1
            if stats is not None and self.on_round is not None:
                self.on_round(stats)
            if stop.is_set():
                break
            await self._after_round(snapshot, stats)
            if self.s.max_rounds and self.rounds >= self.s.max_rounds:
                logger.info("max_rounds={} reached; stopping", self.s.max_rounds)
                break
            if await self._wait(stop, self.s.round_interval_s - (time.monotonic() - started)):
                break
        return self.rounds

    async def _after_round(self, snapshot: MetagraphSnapshot, stats: RoundStats | None) -> None:
        try:
            block = await self.chain.current_block()
            round_id = stats.round_id if stats is not None and stats.planned else None
            await self.weights.maybe_set(snapshot, block, round_id=round_id)
        except Exception as exc:
            logger.opt(exception=exc).error("weights pass failed: {}", exc)
        if self.s.prune_interval_s and time.monotonic() >= self._next_prune:
            self._next_prune = time.monotonic() + self.s.prune_interval_s
            try:
                await asyncio.to_thread(self.repo.prune)
            except Exception as exc:
                logger.error("database prune failed: {}", exc)
