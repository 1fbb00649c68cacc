"""Repository behaviour: one-transaction recording, idempotency, hotkey reset, window, rounds, weights."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from db_support import (
    compression_result,
    history_rows,
    metadata_rows,
    random_result,
    record_of,
    replay_accumulate,
    upscaling_result,
)
from pydantic import ValidationError

from scoring.config import ScoringConfig
from scoring.history import compute_multipliers, performance_tier
from scoring.weights import compute_weights
from vidaio.db import repository as repository_module
from vidaio.db.models import utcnow
from vidaio.db.repository import Repository
from vidaio.db.types import RoundResult

META_COLUMNS = [
    "hotkey", "task_type", "accumulate_score", "bonus_multiplier", "penalty_f_multiplier",
    "penalty_q_multiplier", "total_multiplier", "avg_s_q", "avg_s_l", "avg_s_f", "avg_vmaf",
    "avg_compression_rate", "bonus_count", "penalty_f_count", "penalty_q_count", "total_rounds_completed",
    "successful_rounds", "success_rate", "performance_tier", "longest_content_processed", "last_update_timestamp",
]  # fmt: skip


def _snapshot(repo: Repository, uid: int) -> dict[str, object]:
    meta = metadata_rows(repo.path)[uid]
    return {c: getattr(meta, c) for c in META_COLUMNS}


def test_first_result_creates_metadata_and_history(repo: Repository, scoring_cfg: ScoringConfig) -> None:
    out = repo.record_result(compression_result("t1", score=0.8, vmaf=92.0))
    assert out.recorded and not out.hotkey_reset
    [row] = history_rows(repo.path)
    meta = metadata_rows(repo.path)[1]
    expected = compute_multipliers("compression", [record_of(row)], scoring_cfg)
    assert row.applied_multiplier == pytest.approx(expected.total)
    assert out.adjusted_score == pytest.approx(0.8 * expected.total)
    assert meta.accumulate_score == pytest.approx(0.25 * 0.8 * expected.total)
    assert row.params == {"codec": "av1", "vmaf_threshold": 85}
    assert (meta.total_rounds_completed, meta.successful_rounds, meta.success_rate) == (1, 1, 1.0)
    assert meta.performance_tier == "New" and meta.longest_content_processed == 5.0


def test_repeated_task_id_changes_nothing(repo: Repository) -> None:
    first = repo.record_result(compression_result("t1", score=0.7))
    before = _snapshot(repo, 1)
    again = repo.record_result(compression_result("t1", score=0.7))
    different_payload = repo.record_result(compression_result("t1", score=0.1, round_id="r9"))
    assert first.recorded and not again.recorded and not different_payload.recorded
    assert again.accumulate_score == pytest.approx(first.accumulate_score)
    assert len(history_rows(repo.path)) == 1
    assert _snapshot(repo, 1) == before


def test_hotkey_change_resets_history_and_score(repo: Repository) -> None:
    for i in range(4):
        repo.record_result(compression_result(f"old-{i}", hotkey="hk-old", score=0.9))
    assert metadata_rows(repo.path)[1].accumulate_score > 0.3
    out = repo.record_result(compression_result("new-0", hotkey="hk-new", score=0.5))
    assert out.recorded and out.hotkey_reset
    rows = history_rows(repo.path, uid=1)
    assert [r.task_id for r in rows] == ["new-0"]
    meta = metadata_rows(repo.path)[1]
    assert meta.hotkey == "hk-new" and meta.total_rounds_completed == 1
    assert meta.accumulate_score == pytest.approx(0.25 * 0.5 * rows[0].applied_multiplier)


def test_sync_hotkeys_forgets_replaced_and_departed_miners(repo: Repository) -> None:
    repo.record_result(compression_result("a", uid=1, hotkey="hk-1"))
    repo.record_result(upscaling_result("b", uid=2, hotkey="hk-2"))
    repo.record_result(compression_result("c", uid=3, hotkey="hk-3"))
    forgotten = repo.sync_hotkeys({1: "hk-1", 2: "someone-else"})
    assert sorted(forgotten) == [2, 3]
    assert set(metadata_rows(repo.path)) == {1}
    assert [r.uid for r in history_rows(repo.path)] == [1]


def test_window_is_capped_and_stored_multipliers_match_scoring(repo: Repository, scoring_cfg: ScoringConfig) -> None:
    rng = random.Random(7)
    for i in range(25):
        for uid in (4, 5):
            repo.record_result(random_result(rng, f"t{i}-{uid}", uid, round_id=f"r{i}"))
    metas = metadata_rows(repo.path)
    for uid, task in ((4, "compression"), (5, "upscaling")):
        rows = history_rows(repo.path, uid)
        assert len(rows) == 25
        window = repo.window(uid, task)
        assert len(window) == scoring_cfg.history_window == 10
        assert [w.score for w in window] == [r.s_f for r in rows[-10:]]
        records = [record_of(r) for r in rows[-10:]]
        expected = compute_multipliers(task, records, scoring_cfg)
        meta = metas[uid]
        assert (meta.bonus_count, meta.penalty_f_count, meta.penalty_q_count) == (
            expected.bonus_count, expected.penalty_f_count, expected.penalty_q_count,
        )  # fmt: skip
        assert meta.bonus_multiplier == pytest.approx(expected.bonus)
        assert meta.penalty_f_multiplier == pytest.approx(expected.penalty_f)
        assert meta.penalty_q_multiplier == pytest.approx(expected.penalty_q)
        assert meta.total_multiplier == pytest.approx(expected.total)
        assert rows[-1].applied_multiplier == pytest.approx(expected.total)
        assert rows[-1].adjusted_score == pytest.approx(rows[-1].s_f * expected.total)
        assert meta.performance_tier == performance_tier(task, records, scoring_cfg)
        assert meta.avg_s_f == pytest.approx(sum(r.s_f for r in rows[-10:]) / 10)
        assert meta.accumulate_score == pytest.approx(replay_accumulate(rows, scoring_cfg))
        ok = [r for r in rows if r.status == "ok"]
        assert meta.successful_rounds == len(ok) and meta.success_rate == pytest.approx(len(ok) / 25)


def test_task_type_switch_restarts_score_with_own_window(repo: Repository) -> None:
    for i in range(3):
        repo.record_result(compression_result(f"c{i}", uid=6, hotkey="hk-6", score=0.9))
    out = repo.record_result(upscaling_result("u0", uid=6, hotkey="hk-6", score=0.4))
    assert out.task_type_changed
    meta = metadata_rows(repo.path)[6]
    assert meta.task_type == "upscaling" and meta.total_rounds_completed == 4
    assert [w.score for w in repo.window(6, "upscaling")] == [0.4]
    assert meta.accumulate_score == pytest.approx(0.25 * out.adjusted_score)


def test_compression_upscaling_compression_window_holds_only_the_current_period(repo: Repository) -> None:
    """Issue 14: after the second switch neither the score nor the window reach back into the first
    compression period; both switches are marked in the history."""
    for i in range(6):
        repo.record_result(compression_result(f"c{i}", uid=7, hotkey="hk-7", score=0.9))
    for i in range(3):
        repo.record_result(upscaling_result(f"u{i}", uid=7, hotkey="hk-7", score=0.4))
    out = repo.record_result(compression_result("c-back", uid=7, hotkey="hk-7", score=0.3))
    assert out.task_type_changed
    window = repo.window(7, "compression")
    assert [w.score for w in window] == [0.3]  # the six 0.9 rounds of the first period stay out
    repo.record_result(compression_result("c-next", uid=7, hotkey="hk-7", score=0.5))
    assert [w.score for w in repo.window(7, "compression")] == [0.3, 0.5]
    meta = metadata_rows(repo.path)[7]
    assert meta.avg_s_f == pytest.approx(0.4) and meta.bonus_count == 0 and meta.performance_tier == "New"
    marks = [(r.task_id, r.switched_from) for r in history_rows(repo.path, 7) if r.switched_from]
    assert marks == [("u0", "compression"), ("c-back", "upscaling")]
    assert repo.window(7, "upscaling") == []  # the upscaling period is over too


def test_failed_round_counts_as_zero(repo: Repository) -> None:
    repo.record_result(compression_result("t1", score=0.9))
    out = repo.record_result(compression_result("t2", status="timeout"))
    meta = metadata_rows(repo.path)[1]
    assert out.adjusted_score == 0.0
    assert meta.success_rate == 0.5 and meta.penalty_f_count == 1 and meta.penalty_q_count == 1
    assert meta.avg_s_f == pytest.approx(0.45) and meta.avg_vmaf == pytest.approx(92.0)


def test_invalid_results_are_refused_with_a_reason() -> None:
    failed = compression_result("t", status="timeout").model_dump()
    with pytest.raises(ValidationError, match="must have score 0"):
        RoundResult.model_validate({**failed, "score": 0.5})
    with pytest.raises(ValidationError, match="finite"):
        compression_result("t", score=float("inf"))
    with pytest.raises(ValidationError, match="task_type"):
        RoundResult.model_validate({**failed, "task_type": "denoise"})
    with pytest.raises(ValidationError, match="JSON"):
        RoundResult.model_validate({**failed, "params": {"x": object()}})


def test_error_inside_the_transaction_leaves_nothing(repo: Repository, monkeypatch: pytest.MonkeyPatch) -> None:
    repo.record_result(compression_result("t1"))
    before = _snapshot(repo, 1)

    def boom(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("scoring exploded")

    monkeypatch.setattr(repository_module, "next_standing", boom)
    with pytest.raises(RuntimeError, match="scoring exploded"):
        repo.record_result(compression_result("t2", round_id="r-new"))
    assert [r.task_id for r in history_rows(repo.path)] == ["t1"]
    assert _snapshot(repo, 1) == before


def test_rounds_lifecycle_and_interrupted_rounds(repo: Repository) -> None:
    repo.start_round("r1", block=100, task_count=4)
    repo.start_round("r2", block=460)
    repo.finish_round("r1")
    with pytest.raises(ValueError, match="already exists"):
        repo.start_round("r1")
    with pytest.raises(ValueError, match="no round"):
        repo.finish_round("nope")
    assert repo.close_interrupted_rounds() == ["r2"]
    assert repo.close_interrupted_rounds() == []


def test_weight_set_log_and_standings(repo: Repository, scoring_cfg: ScoringConfig) -> None:
    repo.start_round("r1")
    repo.record_result(compression_result("a", uid=1, hotkey="hk-1", score=0.8))
    repo.record_result(upscaling_result("b", uid=2, hotkey="hk-2", score=0.5))
    repo.record_result(compression_result("c", uid=3, hotkey="hk-3", score=0.6))
    standings = repo.standings(validator_uids={3})
    assert [(s.uid, s.task_type, s.is_validator) for s in standings] == [
        (1, "compression", False), (2, "upscaling", False), (3, "compression", True),
    ]  # fmt: skip
    decision = compute_weights(standings, scoring_cfg)
    assert decision.weights is not None and decision.weights[3] == 0.0
    assert decision.weights[1] == pytest.approx(0.6) and decision.weights[2] == pytest.approx(0.4)
    first = repo.log_weight_set(decision.weights, success=False, message="rate limited", block=360, round_id="r1")
    second = repo.log_weight_set(decision.weights, success=True, block=361, attempt=2, round_id="unknown")
    logged = repo.recent_weight_sets(last=5)
    assert [w.id for w in logged] == [second, first]
    assert logged[1].weights == decision.weights and logged[1].message == "rate limited"
    assert logged[1].round_id == "r1" and logged[0].round_id is None and logged[0].success


def test_prune_keeps_every_window_and_recent_rows(repo: Repository, scoring_cfg: ScoringConfig) -> None:
    for i in range(14):
        repo.start_round(f"r{i}")
        repo.record_result(compression_result(f"a{i}", uid=1, round_id=f"r{i}"))
        repo.finish_round(f"r{i}")
    repo.record_result(upscaling_result("b0", uid=2, round_id="r0"))
    repo.log_weight_set({1: 1.0}, success=True)
    assert repo.prune().history_rows == 0  # nothing is older than the retention yet
    later = utcnow() + timedelta(days=repo._db.history_retention_days + 1)
    report = repo.prune(now=later)
    assert report.history_rows == 4 and report.weight_sets == 1
    assert [r.task_id for r in history_rows(repo.path, 1)] == [f"a{i}" for i in range(4, 14)]
    assert [r.task_id for r in history_rows(repo.path, 2)] == ["b0"]
    assert report.rounds == 3  # r1..r3 lost their rows; r0 is still used by uid 2's window
    assert metadata_rows(repo.path)[1].total_rounds_completed == 14
