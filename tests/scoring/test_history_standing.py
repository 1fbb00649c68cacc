"""`next_standing`: the one miner-standing rule production records with (hand-computed table, reset,
task-type switch, missed rounds decaying as 0.75^N)."""

from __future__ import annotations

import pytest

from scoring.config import ScoringConfig
from scoring.history import RoundRecord, StoredStanding, next_standing

CFG = ScoringConfig(_env_file=None)


@pytest.mark.parametrize(
    ("task", "previous", "period", "new", "expected"),
    [
        # one good compression round: 1 bonus round -> 1 + 1/10 * 0.15; VMAF 92 >= 85 + 5: no penalty
        ("compression", None, [], RoundRecord(0.8, vmaf=92.0, vmaf_threshold=85.0, compression_rate=0.3),
         {"total": 1.015, "adjusted_score": 0.812, "accumulate_score": 0.203, "bonus_count": 1,
          "penalty_q_count": 0, "avg_compression_rate": 0.3, "tier": "New"}),
        # ten poor upscaling rounds: penalty_F 1 - 0.20, penalty_Q 1 - 0.25 -> 0.6
        ("upscaling", 0.4, [RoundRecord(0.15, s_q=0.1, s_l=0.3105, vmaf=70.0)] * 9,
         RoundRecord(0.15, s_q=0.1, s_l=0.3105, vmaf=70.0),
         {"total": 0.6, "adjusted_score": 0.09, "accumulate_score": 0.3225, "penalty_f_count": 10,
          "penalty_q_count": 10, "avg_s_f": 0.15, "avg_s_l": 0.3105, "tier": "Average"}),
        # a failed round (nothing measured) counts as 0 everywhere, but averages skip the missing metrics
        ("compression", 0.5, [RoundRecord(0.9, vmaf=99.0, vmaf_threshold=85.0)], RoundRecord(0.0, vmaf_threshold=85.0),
         {"bonus_count": 1, "penalty_f_count": 1, "penalty_q_count": 1, "adjusted_score": 0.0,
          "accumulate_score": 0.375, "avg_s_f": 0.45, "avg_vmaf": 99.0, "avg_s_q": None}),
    ],
)  # fmt: skip
def test_standing_table(task: str, previous: float | None, period: list[RoundRecord], new: RoundRecord,
                        expected: dict[str, object]) -> None:  # fmt: skip
    stored = None if previous is None else StoredStanding("hk", task, previous, period)  # type: ignore[arg-type]
    st = next_standing(stored, "hk", task, new, CFG)
    got = {
        "total": st.multipliers.total, "bonus_count": st.multipliers.bonus_count,
        "penalty_f_count": st.multipliers.penalty_f_count, "penalty_q_count": st.multipliers.penalty_q_count,
        "adjusted_score": st.adjusted_score, "accumulate_score": st.accumulate_score, "tier": st.tier,
        "avg_s_f": st.avg_s_f, "avg_s_l": st.avg_s_l, "avg_s_q": st.avg_s_q, "avg_vmaf": st.avg_vmaf,
        "avg_compression_rate": st.avg_compression_rate,
    }  # fmt: skip
    for key, value in expected.items():
        assert got[key] == (value if value is None or isinstance(value, str) else pytest.approx(value)), key


def test_window_is_capped_at_history_window() -> None:
    stored = StoredStanding("hk", "compression", 0.5, [RoundRecord(0.9)] * 30)
    st = next_standing(stored, "hk", "compression", RoundRecord(0.1), CFG)
    assert len(st.window) == CFG.history_window and st.window[-1].score == 0.1


def test_new_hotkey_resets_history_and_score() -> None:
    stored = StoredStanding("old-hk", "compression", 0.9, [RoundRecord(0.9, vmaf=99, vmaf_threshold=85)] * 9)
    st = next_standing(stored, "new-hk", "compression", RoundRecord(0.5, vmaf=99, vmaf_threshold=85), CFG)
    assert st.hotkey_reset and not st.task_switched
    assert len(st.window) == 1 and st.accumulate_score == pytest.approx(0.25 * st.adjusted_score)


def test_task_switch_restarts_window_and_score() -> None:
    stored = StoredStanding("hk", "compression", 0.9, [RoundRecord(0.9, vmaf=99, vmaf_threshold=85)] * 9)
    st = next_standing(stored, "hk", "upscaling", RoundRecord(0.4, s_q=0.8, vmaf=90), CFG)
    assert st.task_switched and not st.hotkey_reset
    assert st.window == (RoundRecord(0.4, s_q=0.8, vmaf=90),) and st.tier == "New"
    assert st.accumulate_score == pytest.approx(0.25 * st.adjusted_score)


def test_missed_rounds_decay_as_ema_says() -> None:
    """A run of missed rounds (score 0) multiplies the accumulate score by 0.75 each time."""
    stored = StoredStanding("hk", "upscaling", 0.8, [RoundRecord(0.5, s_q=0.8, vmaf=90)] * 9)
    acc, period = stored.accumulate_score, list(stored.period)
    for n in range(1, 16):
        st = next_standing(StoredStanding("hk", "upscaling", acc, period), "hk", "upscaling", RoundRecord(0.0), CFG)
        acc, period = st.accumulate_score, list(st.window)
        assert st.adjusted_score == 0.0 and acc == pytest.approx(0.8 * 0.75**n, rel=1e-12)


def test_unknown_task_type_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown task type"):
        next_standing(None, "hk", "denoise", RoundRecord(0.1), CFG)
