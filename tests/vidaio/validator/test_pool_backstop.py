"""The scoring pool's backstop (issue 19): a job that never returns is given up at its wall limit + grace.

Real `ScorePool`s and real answers; the stuck job (`pool_jobs.StuckJob`) blocks in a C-level wait
that the in-job budget cannot interrupt, after starting a child in its own session (as ffmpeg is).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from scoring.config import ScoringConfig
from scoring.metrics.config import MetricsConfig
from tests.media_factory import make_clip, reencode
from tests.procs import alive
from tests.vidaio.validator.pool_jobs import RELEASE, HeavyJob, MeterJob, StuckJob, WaitingJob
from vidaio.validator.kinds import CompressionJob, Verdict
from vidaio.validator.pool import ScorePool

LIMIT_S, GRACE_S = 4.0, 6.0  # budget 2 CPU-s x wall factor 2; the pool waits 10 s (loaded machines)
BUDGET = MetricsConfig(
    vmaf_threads=1, answer_budget_base_s=2.0, answer_budget_s_per_mpx_frame=0.0, answer_budget_wall_factor=2.0
)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("backstop")
    ref = make_clip(d / "ref.mp4", (96, 64), frames=30, crf=12)
    return {"dir": d, "ref": ref, "answer": reencode(ref, d / "answer.mp4", "hevc", crf=28)}


def _pool(kind: str, workers: int) -> ScorePool:
    return ScorePool(
        secret="s", scoring=ScoringConfig(), metrics=BUDGET, workers=workers, kind=kind,  # type: ignore[arg-type]
        backstop_grace_s=GRACE_S, backstop_grace_ratio=0.0,
    ).start()  # fmt: skip


def _args(clips: dict[str, Path], name: str) -> dict:
    return {
        "reference": clips["ref"], "distorted": clips["answer"], "vmaf_threshold": 50, "codec": "hevc",
        "task_id": name,
    }  # fmt: skip


def test_backstop_limit_is_the_jobs_wall_limit_plus_grace(clips: dict[str, Path]) -> None:
    pool = ScorePool(
        secret="s", scoring=ScoringConfig(), metrics=BUDGET, backstop_grace_s=15, backstop_grace_ratio=0.25
    )
    job = CompressionJob(**_args(clips, "a"))
    assert pool.backstop_s(job) == pytest.approx(LIMIT_S + 15)
    pool.backstop_grace_s = 0.5
    assert pool.backstop_s(job) == pytest.approx(LIMIT_S * 1.25)
    pool.metrics = MetricsConfig(answer_budget_base_s=0, answer_budget_s_per_mpx_frame=0)
    assert pool.backstop_s(job) is None  # budget switched off: no backstop either


@pytest.mark.slow
def test_process_pool_kills_a_stuck_worker_and_resubmits_the_others(clips: dict[str, Path]) -> None:
    d = clips["dir"]
    pids, attempts = d / "stuck-p.pids", d / "waiting.attempts"
    stuck = StuckJob(**_args(clips, "stuck"), pids=str(pids))
    waiting = WaitingJob(**_args(clips, "waiting"), stuck_pids=str(pids), attempts=str(attempts))
    pool = _pool("process", workers=2)

    async def round_() -> tuple:
        async def timed(job: CompressionJob, delay: float) -> tuple:
            await asyncio.sleep(delay)
            t0 = time.monotonic()
            v = await pool.score(job)
            return v, time.monotonic() - t0

        (s, s_took), (w, _w_took) = await asyncio.gather(timed(stuck, 0.0), timed(waiting, 1.5))
        nxt = await pool.score(CompressionJob(**_args(clips, "next")))
        return s, s_took, w, nxt

    started = time.monotonic()
    try:
        s, s_took, w, nxt = asyncio.run(round_())
    finally:
        pool.close()
    elapsed = time.monotonic() - started
    assert s.status == "invalid" and s.score == 0.0 and s.reasons == ["scoring_budget_exceeded"]
    assert "the scoring pool stopped it after" in s.messages[0]
    assert LIMIT_S + GRACE_S - 0.5 < s_took < LIMIT_S + GRACE_S + 10  # given up at its limit + grace
    assert w.ok and w.score > 0, w.messages  # lost with the killed pool, submitted again, scored
    assert len(attempts.read_text().split()) == 2
    assert nxt.ok and nxt.score > 0, nxt.messages  # the rebuilt pool scores the next answer
    assert elapsed < 60  # not the 300 s the stuck job wanted
    worker, child = map(int, pids.read_text().split())
    deadline = time.monotonic() + 5
    while (alive(worker) or alive(child)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(worker) and not alive(child)  # the worker and the child it started are gone


@pytest.mark.slow
def test_thread_pool_gives_up_a_stuck_thread_without_blocking_the_round(clips: dict[str, Path]) -> None:
    pids = clips["dir"] / "stuck-t.pids"
    RELEASE.clear()
    pool = _pool("thread", workers=1)

    async def round_() -> tuple:
        t0 = time.monotonic()
        s = await pool.score(StuckJob(**_args(clips, "stuck"), pids=str(pids)))
        took = time.monotonic() - t0
        return s, took, await pool.score(CompressionJob(**_args(clips, "next")))

    try:
        s, took, nxt = asyncio.run(round_())
        running = pool._exec().running()  # type: ignore[attr-defined]
    finally:
        RELEASE.set()
        pool.close()
    assert s.reasons == ["scoring_budget_exceeded"] and s.score == 0.0
    assert LIMIT_S + GRACE_S - 0.5 < took < LIMIT_S + GRACE_S + 10
    assert nxt.ok and nxt.score > 0, nxt.messages  # one worker, yet the next answer was not held up
    assert running == 1  # the stuck thread still runs in the background (threads cannot be killed)


@pytest.mark.slow
def test_thread_pool_does_not_charge_an_honest_answer_for_its_neighbours_cpu(clips: dict[str, Path]) -> None:
    """Two thread workers score at once: one burns CPU in codec threads, the other is honest (~0.2
    CPU-s to score: 600 small frames) under a 0.5 CPU-s budget. Counted per process, the neighbour's
    CPU during its validation decode exhausted that budget (measured: ~1.0 CPU-s charged)."""
    d = clips["dir"]
    heavy = make_clip(d / "heavy.mp4", (1280, 720), frames=60, codec="hevc", crf=30)
    ref = make_clip(d / "long-ref.mp4", (160, 90), frames=600, crf=12)
    long_clips = {"ref": ref, "answer": reencode(ref, d / "long-answer.mp4", "hevc", crf=28)}
    metrics = MetricsConfig(
        vmaf_threads=1,
        answer_budget_base_s=0.5,
        answer_budget_s_per_mpx_frame=0.0,
        answer_budget_wall_factor=60.0,
    )
    pool = ScorePool(secret="s", scoring=ScoringConfig(), metrics=metrics, workers=2, kind="thread").start()

    async def round_() -> list:
        async def honest_later() -> Verdict:
            await asyncio.sleep(0.5)
            return await pool.score(CompressionJob(**_args(long_clips, "honest")))

        heavy_job = HeavyJob(**_args(long_clips, "heavy"), heavy=str(heavy), reps=25)
        return await asyncio.gather(pool.score(heavy_job), honest_later())

    try:
        hv, honest = asyncio.run(round_())
    finally:
        pool.close()
    assert hv.ok, hv.messages  # its decodes ran before its budget started
    assert honest.ok and honest.score > 0, honest.messages


@pytest.mark.parametrize(("kind", "meter"), [("thread", "ThreadMeter"), ("process", "ProcessMeter")])
def test_each_executor_kind_meters_a_jobs_cpu_its_way(clips: dict[str, Path], kind: str, meter: str) -> None:
    pool = _pool(kind, workers=1)
    try:
        assert asyncio.run(pool.score(MeterJob(**_args(clips, "m")))) == meter  # type: ignore[arg-type]
    finally:
        pool.close()
