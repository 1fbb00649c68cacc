"""docs/scoring.md#rolling-history-and-multipliers and the seed's multiplier examples: window multipliers, EMA, tier, hotkey reset."""

from __future__ import annotations

import math

import pytest

from scoring import (
    RoundRecord,
    ScoringConfig,
    StoredStanding,
    compute_multipliers,
    next_standing,
    performance_tier,
    update_accumulate_score,
)

CFG = ScoringConfig(_env_file=None)


def ups(n: int, score: float, s_q: float) -> list[RoundRecord]:
    return [RoundRecord(score=score, s_q=s_q, vmaf=90.0) for _ in range(n)]


def comp(n: int, score: float, vmaf: float, thr: float = 85.0) -> list[RoundRecord]:
    return [RoundRecord(score=score, vmaf=vmaf, vmaf_threshold=thr) for _ in range(n)]


# --- seed "Example Calculation" lines --------------------------------------------------------


def test_upscaling_bonus_example_7_of_10() -> None:
    m = compute_multipliers("upscaling", ups(7, 0.5, 0.8) + ups(3, 0.25, 0.8), CFG)
    assert (m.bonus_count, m.penalty_f_count, m.penalty_q_count) == (7, 0, 0)
    assert m.bonus == pytest.approx(1.105, abs=1e-3)


def test_upscaling_sf_penalty_example_4_of_10() -> None:
    m = compute_multipliers("upscaling", ups(4, 0.1, 0.8) + ups(6, 0.25, 0.8), CFG)
    assert m.penalty_f_count == 4
    assert m.penalty_f == pytest.approx(0.92, abs=1e-3)


def test_upscaling_sq_penalty_example_3_of_10() -> None:
    m = compute_multipliers("upscaling", ups(3, 0.25, 0.2) + ups(7, 0.25, 0.8), CFG)
    assert m.penalty_q_count == 3
    assert m.penalty_q == pytest.approx(0.925, abs=1e-3)


def test_compression_examples() -> None:
    bonus = compute_multipliers("compression", comp(7, 0.8, 95) + comp(3, 0.5, 95), CFG)
    assert bonus.bonus == pytest.approx(1.105, abs=1e-3) and bonus.total == pytest.approx(1.105, abs=1e-3)
    pen = compute_multipliers("compression", comp(4, 0.3, 95) + comp(6, 0.5, 95), CFG)
    assert pen.penalty_f == pytest.approx(0.92, abs=1e-3)
    vm = compute_multipliers("compression", comp(2, 0.5, 89.9) + comp(8, 0.5, 90.0), CFG)
    assert vm.penalty_q_count == 2  # VMAF < thr + 5 counts; == thr + 5 does not
    assert vm.penalty_q == pytest.approx(0.95)


# --- seed "Performance Multiplier Case Studies" (upscaling) ---------------------------------
# The seed's "Avg S_F" column contradicts its own count columns (e.g. "Good", avg S_F 0.653 with
# 0/10 rounds above 0.32), so each window is built from the counts, which fix the multiplier.
CASES = [
    ("Elite", ups(10, 0.854, 0.717), (10, 0, 0), 1.150),
    ("Good", ups(10, 0.25, 0.571), (0, 0, 0), 1.000),
    ("Average", ups(7, 0.25, 0.505) + ups(3, 0.25, 0.2), (0, 0, 3), 0.925),
    ("Poor", ups(10, 0.1, 0.2), (0, 10, 10), 0.600),
]


@pytest.mark.parametrize(("name", "window", "counts", "total"), CASES)
def test_upscaling_case_studies(name: str, window: list[RoundRecord], counts: tuple[int, int, int], total: float) -> None:
    m = compute_multipliers("upscaling", window, CFG)
    assert (m.bonus_count, m.penalty_f_count, m.penalty_q_count) == counts, name
    assert m.total == pytest.approx(total, abs=1e-3), name


# --- window semantics --------------------------------------------------------------------------


def test_only_last_window_counts_and_divides_by_window_size() -> None:
    old_bad = ups(20, 0.0, 0.0)
    m = compute_multipliers("upscaling", old_bad + ups(10, 0.5, 0.8), CFG)
    assert m.total == pytest.approx(1.15)
    short = compute_multipliers("upscaling", ups(2, 0.5, 0.8), CFG)
    assert short.bonus == pytest.approx(1.0 + 2 / 10 * 0.15)  # divided by 10, not by 2
    assert compute_multipliers("upscaling", [], CFG).total == 1.0


def test_failed_round_is_penalised_everywhere() -> None:
    m_u = compute_multipliers("upscaling", [RoundRecord(score=0.0)], CFG)
    assert (m_u.bonus_count, m_u.penalty_f_count, m_u.penalty_q_count) == (0, 1, 1)
    m_c = compute_multipliers("compression", [RoundRecord(score=0.0)], CFG)
    assert (m_c.bonus_count, m_c.penalty_f_count, m_c.penalty_q_count) == (0, 1, 1)


def test_configured_window_size() -> None:
    cfg = ScoringConfig(_env_file=None, history_window=5)
    m = compute_multipliers("upscaling", ups(5, 0.1, 0.8) + ups(5, 0.5, 0.8), cfg)
    assert m.bonus_count == 5 and m.penalty_f_count == 0 and m.bonus == pytest.approx(1.15)


def test_unknown_task_type() -> None:
    with pytest.raises(ValueError, match="unknown task type"):
        compute_multipliers("denoise", [], CFG)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs", [{"score": math.nan}, {"score": -0.1}, {"score": math.inf}, {"score": 0.1, "s_q": 1.5},
               {"score": 0.1, "vmaf": 101}, {"score": "x"}]
)
def test_round_record_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="RoundRecord"):
        RoundRecord(**kwargs)


# --- EMA, tier, reset --------------------------------------------------------------------------


def test_ema() -> None:
    assert update_accumulate_score(0.0, 1.0, CFG) == pytest.approx(0.25)
    assert update_accumulate_score(0.4, 0.8, CFG) == pytest.approx(0.75 * 0.4 + 0.25 * 0.8)
    cfg = ScoringConfig(_env_file=None, ema_decay=0.5)
    assert update_accumulate_score(1.0, 0.0, cfg) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="finite"):
        update_accumulate_score(math.nan, 0.5, CFG)


@pytest.mark.parametrize(
    ("task", "score", "tier"),
    [("upscaling", 0.32, "Elite"), ("upscaling", 0.319, "Good"), ("upscaling", 0.20, "Good"),
     ("upscaling", 0.10, "Average"), ("upscaling", 0.099, "Poor"), ("compression", 0.74, "Elite"),
     ("compression", 0.55, "Good"), ("compression", 0.40, "Average"), ("compression", 0.39, "Poor")],
)
def test_tiers(task: str, score: float, tier: str) -> None:
    window = [RoundRecord(score=score, s_q=0.5, vmaf=95, vmaf_threshold=85) for _ in range(10)]
    assert performance_tier(task, window, CFG) == tier  # type: ignore[arg-type]
    assert performance_tier(task, window[:9], CFG) == "New"  # type: ignore[arg-type]


def test_tier_uses_window_average() -> None:
    window = ups(5, 0.5, 0.8) + ups(5, 0.1, 0.8)  # mean 0.3
    assert performance_tier("upscaling", window, CFG) == "Good"
    assert performance_tier("upscaling", ups(30, 0.0, 0.0) + window, CFG) == "Good"


def test_next_standing_folds_new_round_into_window() -> None:
    stored = StoredStanding("hk", "upscaling", 0.2, ups(9, 0.5, 0.8))
    out = next_standing(stored, "hk", "upscaling", RoundRecord(score=0.4, s_q=0.8, vmaf=90), CFG)
    assert out.multipliers.bonus_count == 10
    assert out.adjusted_score == pytest.approx(0.4 * 1.15)
    assert out.accumulate_score == pytest.approx(0.75 * 0.2 + 0.25 * 0.46)
    assert out.tier == "Elite" and not out.hotkey_reset and not out.task_switched
    failed = next_standing(StoredStanding("hk", "compression", 0.4), "hk", "compression", RoundRecord(score=0.0), CFG)
    assert failed.adjusted_score == 0.0 and failed.accumulate_score == pytest.approx(0.3)
    assert failed.tier == "New"
