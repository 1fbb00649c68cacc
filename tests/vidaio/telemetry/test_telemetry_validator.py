"""The validator's metrics fed by a real Repository: counters equal what the DB holds."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scoring.config import ScoringConfig
from vidaio.db.config import DbConfig
from vidaio.db.engine import make_engine
from vidaio.db.models import MinerRoundHistory
from vidaio.db.repository import Repository
from vidaio.telemetry.config import PrometheusConfig
from vidaio.telemetry.exporter import MetricsServerError, serve_metrics
from vidaio.telemetry.labels import reason_code
from vidaio.telemetry.validator import MeteredPool, MeteredRepository, ValidatorMetrics

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
from dashboard_seed import result, roster, seed_database  # noqa: E402


def value(reg: CollectorRegistry, name: str, **labels: str) -> float:
    got = reg.get_sample_value(name, labels)
    return 0.0 if got is None else got


@pytest.mark.parametrize(
    ("reason", "code"),
    [(None, "none"), ("", "none"), ("timeout: no answer", "timeout"), ("HTTP 403: stake too low", "http_403"),
     ("vmaf_below_threshold: VMAF 80 < 85", "vmaf_below_threshold"), ("unreachable: connect refused", "unreachable"),
     ("something odd happened without a code", "other"), ("miner_error: input fetch failed (too_large): x", "miner_error"),
     ("input fetch failed (too_large): 9 B", "input_fetch_failed")],
)  # fmt: skip
def test_reason_code(reason: str | None, code: str) -> None:
    assert reason_code(reason) == code


def test_metered_repository_counts_match_the_database(tmp_path: Path) -> None:
    metrics = ValidatorMetrics()
    repo = Repository.open(DbConfig(path=tmp_path / "v.db"), ScoringConfig())
    metered = MeteredRepository(repo, metrics)
    try:
        seed_database_into(metered)
    finally:
        repo.close()
    reg = metrics.registry
    engine = make_engine(tmp_path / "v.db", read_only=True)
    with Session(engine) as s:
        by_status = dict(s.execute(select(MinerRoundHistory.status, func.count()).group_by(MinerRoundHistory.status)).all())
    engine.dispose()
    assert sum(by_status.values()) == 3 * len(roster(1))
    for status, n in by_status.items():
        got = sum(
            value(reg, "vidaio_validator_tasks_recorded_total", task_type=t, status=status, reason=r)
            for t in ("compression", "upscaling") for r in ("none", "timeout")
        )  # fmt: skip
        assert got == n, status
    assert value(reg, "vidaio_validator_tasks_recorded_total", task_type="compression", status="timeout",
                 reason="timeout") == by_status["timeout"]  # fmt: skip
    assert value(reg, "vidaio_validator_tasks_planned_total") == 3 * len(roster(1))
    assert value(reg, "vidaio_validator_rounds_total", status="finished") == 3
    assert value(reg, "vidaio_validator_round_seconds_count") == 3
    assert value(reg, "vidaio_validator_round_seconds_sum") == pytest.approx(46 + 47 + 48)
    assert value(reg, "vidaio_validator_round_stage_seconds_sum", stage="prepare") == pytest.approx(3 + 4 + 5)
    assert value(reg, "vidaio_validator_db_write_seconds_count", op="record_result") == 3 * len(roster(1))
    assert value(reg, "vidaio_validator_weight_set_attempts_total", result="success") == 3
    assert value(reg, "vidaio_validator_weight_set_attempts_total", result="failure") == 1
    assert value(reg, "vidaio_validator_miners", state="reachable") == len(roster(1))
    assert value(reg, "vidaio_validator_miners", state="unreachable") == 0
    assert value(reg, "vidaio_validator_score_count", task_type="upscaling") == 3 * 2
    # a duplicate record (idempotent in the DB) is not counted twice
    before = value(reg, "vidaio_validator_score_count", task_type="upscaling")
    repo2 = Repository.open(DbConfig(path=tmp_path / "v.db"), ScoringConfig())
    try:
        MeteredRepository(repo2, metrics).record_result(result(1, 6, "upscaling", roster(1)[5][2], random.Random(0)))
    finally:
        repo2.close()
    assert value(reg, "vidaio_validator_score_count", task_type="upscaling") == before


def seed_database_into(repo: MeteredRepository) -> None:
    """Three rounds of the first roster (no hotkey change: the DB keeps every row), metered."""
    rng = random.Random(1)
    for n in range(1, 4):
        rid = f"round-{n:03d}"
        repo.start_round(rid, block=n, task_count=len(roster(1)))
        for uid, tt, hk in roster(1):
            repo.record_result(result(n, uid, tt, hk, rng))
        repo.finish_round(rid, timings={"prepare_s": 2.0 + n, "db_s": 0.1, "wall_s": 45.0 + n})
        if n == 2:
            repo.log_weight_set({1: 1.0}, success=False, message="busy", round_id=rid)
        repo.log_weight_set({1: 1.0}, success=True, message="ok", block=n, round_id=rid)


async def test_metered_pool_counts_busy_workers() -> None:
    import asyncio

    class Pool:
        workers = 2

        def __init__(self) -> None:
            self.gate = asyncio.Event()

        async def score(self, job: int) -> int:
            await self.gate.wait()
            return job

    metrics = ValidatorMetrics()
    inner = Pool()
    pool = MeteredPool(inner, metrics)
    tasks = [asyncio.create_task(pool.score(i)) for i in range(3)]
    await asyncio.sleep(0.01)
    assert value(metrics.registry, "vidaio_validator_scoring_pool_busy") == 2  # 3 in flight, 2 workers
    assert pool.workers == 2  # delegated
    inner.gate.set()
    assert await asyncio.gather(*tasks) == [0, 1, 2]
    assert value(metrics.registry, "vidaio_validator_scoring_pool_busy") == 0


def test_serve_metrics_scrapes_and_refuses_a_taken_port(tmp_path: Path) -> None:
    metrics = ValidatorMetrics()
    metrics.planned.inc(7)
    cfg = PrometheusConfig(enabled=True, host="127.0.0.1", port=0)
    with serve_metrics(cfg, metrics.registry, daemon="validator", default_port=0) as port:
        assert port
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert "vidaio_validator_tasks_planned_total 7.0" in text
        taken = PrometheusConfig(enabled=True, host="127.0.0.1", port=port)
        with pytest.raises(MetricsServerError, match=f"cannot listen on 127.0.0.1:{port}"):
            with serve_metrics(taken, metrics.registry, daemon="validator", default_port=0):
                pass
    with serve_metrics(PrometheusConfig(), metrics.registry, daemon="validator", default_port=0) as off:
        assert off is None


def test_seeded_database_helper(tmp_path: Path) -> None:
    repo = seed_database(tmp_path / "s.db", rounds=2)
    repo.close()
    assert (tmp_path / "s.db").is_file()
