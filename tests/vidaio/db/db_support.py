"""Shared helpers for tests/vidaio/db: a migrated template file, a repository, result factories."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from scoring.config import ScoringConfig
from scoring.history import RoundRecord, StoredStanding, next_standing
from vidaio.db.config import DbConfig
from vidaio.db.migrate import upgrade_to_head
from vidaio.db.models import MinerMetadata, MinerRoundHistory
from vidaio.db.repository import Repository
from vidaio.db.types import RoundResult


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database at the head schema, migrated once per session and copied by each test."""
    path = tmp_path_factory.mktemp("db-template") / "template.db"
    upgrade_to_head(path)
    return path


@pytest.fixture
def scoring_cfg() -> ScoringConfig:
    return ScoringConfig()


@pytest.fixture
def db_cfg(tmp_path: Path, migrated_template: Path) -> DbConfig:
    path = tmp_path / "validator.db"
    shutil.copy(migrated_template, path)
    return DbConfig(path=path, busy_timeout_ms=15_000)


@pytest.fixture
def repo(db_cfg: DbConfig, scoring_cfg: ScoringConfig) -> Iterator[Repository]:
    repository = Repository.open(db_cfg, scoring_cfg)
    yield repository
    repository.close()


def compression_result(task_id: str, uid: int = 1, *, hotkey: str = "hk-1", round_id: str = "r1",
                       score: float = 0.8, vmaf: float = 92.0, status: str = "ok", **extra: Any) -> RoundResult:
    ok = status == "ok"
    return RoundResult(
        round_id=round_id, task_id=task_id, uid=uid, hotkey=hotkey, task_type="compression",
        params={"codec": "av1", "vmaf_threshold": 85}, status=status, reason=None if ok else f"{status} reason",
        score=score if ok else 0.0, vmaf=vmaf if ok else None, vmaf_threshold=85.0,
        compression_rate=0.3 if ok else None, content_length=5.0, processing_time_s=1.5, **extra,
    )  # fmt: skip


def upscaling_result(task_id: str, uid: int = 2, *, hotkey: str = "hk-2", round_id: str = "r1",
                     score: float = 0.4, s_q: float = 0.6, status: str = "ok") -> RoundResult:
    ok = status == "ok"
    return RoundResult(
        round_id=round_id, task_id=task_id, uid=uid, hotkey=hotkey, task_type="upscaling",
        params={"scale": 2, "content_length": 5}, status=status, score=score if ok else 0.0,
        vmaf=80.0 if ok else None, pieapp=0.5 if ok else None, s_q=s_q if ok else None, s_l=0.3105,
        content_length=5.0, processing_time_s=2.0,
    )  # fmt: skip


def random_result(rng: random.Random, task_id: str, uid: int, round_id: str = "r1") -> RoundResult:
    """A plausible result for `uid` (even uids compress, odd uids upscale); ~20 % failures."""
    status = "ok" if rng.random() > 0.2 else rng.choice(["timeout", "invalid", "error"])
    if uid % 2 == 0:
        return compression_result(task_id, uid, hotkey=f"hk-{uid}", round_id=round_id, status=status,
                                  score=rng.uniform(0.0, 0.95), vmaf=rng.uniform(85.0, 99.0))  # fmt: skip
    return upscaling_result(task_id, uid, hotkey=f"hk-{uid}", round_id=round_id, status=status,
                            score=rng.uniform(0.0, 0.9), s_q=rng.uniform(0.0, 1.0))  # fmt: skip


def history_rows(db_path: Path, uid: int | None = None) -> list[MinerRoundHistory]:
    """Every history row (of `uid`), oldest first, read with a fresh repository-independent engine."""
    from vidaio.db.engine import make_engine

    engine = make_engine(db_path, read_only=True)
    try:
        with Session(engine) as s:
            query = select(MinerRoundHistory).order_by(MinerRoundHistory.id)
            if uid is not None:
                query = query.where(MinerRoundHistory.uid == uid)
            return list(s.scalars(query))
    finally:
        engine.dispose()


def metadata_rows(db_path: Path) -> dict[int, MinerMetadata]:
    from vidaio.db.engine import make_engine

    engine = make_engine(db_path, read_only=True)
    try:
        with Session(engine) as s:
            return {m.uid: m for m in s.scalars(select(MinerMetadata))}
    finally:
        engine.dispose()


def record_of(row: MinerRoundHistory) -> RoundRecord:
    return RoundRecord(score=row.s_f, s_q=row.s_q, vmaf=row.vmaf, vmaf_threshold=row.vmaf_threshold, s_l=row.s_l,
                       compression_rate=row.compression_rate)  # fmt: skip


def replay_accumulate(rows: list[MinerRoundHistory], cfg: ScoringConfig) -> float:
    """The accumulate score of one miner recomputed from its history rows (oldest first) with the
    production rule (`next_standing`), from the rows alone: checks what the repository loads and stores.

    Valid when the rows are the miner's complete history (no pruning).
    """
    stored: StoredStanding | None = None
    for row in rows:
        st = next_standing(stored, row.hotkey, row.task_type, record_of(row), cfg)
        stored = StoredStanding(row.hotkey, row.task_type, st.accumulate_score, st.window)  # type: ignore[arg-type]
    return stored.accumulate_score if stored is not None else 0.0
