"""next_state: the pure recomputation of a miner's standing from its window (hand-computed table)."""

from __future__ import annotations

import pytest

from scoring.config import ScoringConfig
from vidaio.db.miner_state import WindowRound, next_state

CFG = ScoringConfig()


@pytest.mark.parametrize(
    ("task", "previous", "window", "expected"),
    [
        # one good compression round: 1 bonus round -> 1 + 1/10 * 0.15; VMAF 92 >= 85 + 5: no penalty
        ("compression", 0.0, [WindowRound(0.8, vmaf=92.0, vmaf_threshold=85.0, compression_rate=0.3)],
         {"total_multiplier": 1.015, "adjusted_score": 0.812, "accumulate_score": 0.203, "bonus_count": 1,
          "penalty_q_count": 0, "avg_compression_rate": 0.3, "performance_tier": "New"}),
        # ten poor upscaling rounds: penalty_F 1 - 0.20, penalty_Q 1 - 0.25 -> 0.6
        ("upscaling", 0.4, [WindowRound(0.15, s_q=0.1, s_l=0.3105, vmaf=70.0)] * 10,
         {"total_multiplier": 0.6, "adjusted_score": 0.09, "accumulate_score": 0.3225, "penalty_f_count": 10,
          "penalty_q_count": 10, "avg_s_f": 0.15, "avg_s_l": 0.3105, "performance_tier": "Average"}),
        # a failed round (nothing measured) counts as 0 everywhere, but averages skip the missing metrics
        ("compression", 0.5, [WindowRound(0.9, vmaf=99.0, vmaf_threshold=85.0), WindowRound(0.0, vmaf_threshold=85.0)],
         {"bonus_count": 1, "penalty_f_count": 1, "penalty_q_count": 1, "adjusted_score": 0.0,
          "accumulate_score": 0.375, "avg_s_f": 0.45, "avg_vmaf": 99.0, "avg_s_q": None}),
    ],
)  # fmt: skip
def test_next_state_table(task: str, previous: float, window: list[WindowRound], expected: dict) -> None:
    state = next_state(task, previous, window, CFG)  # type: ignore[arg-type]
    for key, value in expected.items():
        got = getattr(state, key)
        assert got == (value if value is None or isinstance(value, str) else pytest.approx(value)), key


def test_next_state_refuses_bad_windows() -> None:
    with pytest.raises(ValueError, match="at least the round just recorded"):
        next_state("compression", 0.0, [], CFG)
    with pytest.raises(ValueError, match="more than history_window"):
        next_state("compression", 0.0, [WindowRound(0.5)] * 11, CFG)
