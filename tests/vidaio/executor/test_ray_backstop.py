"""The Ray scorer's backstop (issue 19): a job stuck in work that never returns to Python is given up
at its wall limit + grace, its actor killed with the processes it started and replaced on the same
node, and the job that died with it run again. The stuck job (`pool_jobs.StuckJob`) blocks in a
C-level wait after starting a child in its own session (as ffmpeg is)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from scoring.config import ScoringConfig
from scoring.metrics.config import MetricsConfig
from tests.media_factory import make_clip, reencode
from tests.procs import alive
from tests.vidaio.validator.pool_jobs import StuckJob, WaitingJob
from vidaio.executor.config import RaySettings
from vidaio.executor.ray_scoring import RayScorePool
from vidaio.validator.kinds import CompressionJob

pytestmark = [pytest.mark.slow, pytest.mark.integration]
LIMIT_S, GRACE_S = 4.0, 4.0  # budget 2 CPU-s x wall factor 2; the pool waits 8 s
BUDGET = MetricsConfig(
    vmaf_threads=1, answer_budget_base_s=2.0, answer_budget_s_per_mpx_frame=0.0, answer_budget_wall_factor=2.0
)


async def test_ray_backstop_kills_a_stuck_actor_and_reruns_its_other_job(
    ray_cluster: Any, tmp_path: Path
) -> None:
    ref = make_clip(tmp_path / "ref.mp4", (96, 64), frames=30, crf=12)
    answer = reencode(ref, tmp_path / "answer.mp4", "hevc", crf=28)
    pids, attempts = tmp_path / "stuck.pids", tmp_path / "waiting.attempts"

    def args(name: str) -> dict:
        return {"reference": ref, "distorted": answer, "vmaf_threshold": 50, "codec": "hevc", "task_id": name}

    pool = RayScorePool(
        "s", ScoringConfig(), BUDGET, RaySettings(address=ray_cluster.address, node_refresh_s=3600),
        backstop_grace_s=GRACE_S, backstop_grace_ratio=0.0,
    )  # fmt: skip
    node = ray_cluster.worker.node_id
    # one node only, so the waiting job shares the stuck job's actor (2 threads: max_in_flight_per_node)
    pool.fleet.dead_nodes.update(w.node_id for w in ray_cluster.workers if w.node_id != node)
    await pool.connect()
    try:

        async def timed(job: CompressionJob, delay: float) -> tuple:
            await asyncio.sleep(delay)
            t0 = time.monotonic()
            return await pool.score(job), time.monotonic() - t0

        started = time.monotonic()
        waiting = WaitingJob(**args("waiting"), stuck_pids=str(pids), attempts=str(attempts))
        (s, s_took), (w, _) = await asyncio.gather(
            timed(StuckJob(**args("stuck"), pids=str(pids)), 0.0), timed(waiting, 1.0)
        )
        nxt = await pool.score(CompressionJob(**args("next")))
        elapsed = time.monotonic() - started
        actors = [slot.actor for slot in pool.fleet.slots.values()]
    finally:
        pool.close()
    assert s.status == "invalid" and s.score == 0.0 and s.reasons == ["scoring_budget_exceeded"]
    assert "the scoring pool stopped it after" in s.messages[0], s.messages
    assert LIMIT_S + GRACE_S - 0.5 < s_took < LIMIT_S + GRACE_S + 5  # given up at its limit + grace
    assert w.ok and w.score > 0, w.messages  # lost with the killed actor, run again, scored
    assert len(attempts.read_text().split()) == 2
    assert nxt.ok and nxt.score > 0, nxt.messages  # scored on the replacement actor
    assert pool.placements["next"] == [node] and pool.placements["waiting"] == [node, node]
    assert len(actors) == 1
    assert elapsed < 45  # not the 300 s the stuck job wanted
    worker, child = map(int, pids.read_text().split())
    deadline = time.monotonic() + 5
    while (alive(worker) or alive(child)) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not alive(worker) and not alive(child)  # the actor process and its own-session child are gone
