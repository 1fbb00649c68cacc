"""docs/scoring.md#weights: two pools, proportional shares, hand-over, exclusions, guards."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import MinerStanding, ScoringConfig, compute_weights
from scoring.weights import WeightLimits, WeightsDecision, quantize_u16, within_limit

CFG = ScoringConfig(_env_file=None)


def m(uid: int, task: str | None, score: float, validator: bool = False) -> MinerStanding:
    return MinerStanding(uid=uid, hotkey=f"hk{uid}", task_type=task, accumulate_score=score,  # type: ignore[arg-type]
                         is_validator=validator)


def test_two_pools_proportional() -> None:
    d = compute_weights([m(0, "compression", 3.0), m(1, "compression", 1.0), m(2, "upscaling", 0.5),
                         m(3, "upscaling", 1.5), m(4, None, 9.0)], CFG)
    assert d.weights is not None
    assert d.weights == pytest.approx({0: 0.45, 1: 0.15, 2: 0.1, 3: 0.3, 4: 0.0})


def test_empty_pool_hands_over_its_share() -> None:
    d = compute_weights([m(0, "upscaling", 1.0), m(1, "upscaling", 3.0), m(2, "compression", 0.0)], CFG)
    assert d.weights == pytest.approx({0: 0.25, 1: 0.75, 2: 0.0})
    assert "handed" in d.reason


def test_exclusions_and_do_not_set() -> None:
    d = compute_weights([m(0, "compression", 5.0, validator=True), m(1, "upscaling", -1.0),
                         m(2, "compression", math.nan), m(3, "upscaling", math.inf), m(4, None, 1.0)], CFG)
    assert d.weights is None and "no eligible miner" in d.reason
    assert compute_weights([], CFG).weights is None


def test_duplicate_uids_refused() -> None:
    d = compute_weights([m(1, "upscaling", 1.0), m(1, "compression", 1.0)], CFG)
    assert d.weights is None and "duplicate" in d.reason


def test_huge_scores_do_not_overflow() -> None:
    d = compute_weights([m(0, "compression", 1e308), m(1, "compression", 1e308), m(2, "upscaling", 1e-300)], CFG)
    assert d.weights == pytest.approx({0: 0.3, 1: 0.3, 2: 0.4})


def test_configured_shares() -> None:
    cfg = ScoringConfig(_env_file=None, compression_pool_share=0.5, upscaling_pool_share=0.5)
    d = compute_weights([m(0, "compression", 1.0), m(1, "upscaling", 7.0)], cfg)
    assert d.weights == pytest.approx({0: 0.5, 1: 0.5})


scores = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.floats(1e-6, 1e6))
standing_rows = st.lists(
    st.tuples(st.sampled_from(["upscaling", "compression", None]), scores, st.booleans()), max_size=12
)


def build(rows: list[tuple[str | None, float, bool]]) -> list[MinerStanding]:
    return [m(uid, task, score, validator) for uid, (task, score, validator) in enumerate(rows)]


@settings(deadline=None)
@given(standing_rows)
def test_properties(rows: list[tuple[str | None, float, bool]]) -> None:
    standings = build(rows)
    d = compute_weights(standings, CFG)
    if d.weights is None:
        assert not any(not s.is_validator and s.task_type and math.isfinite(s.accumulate_score)
                       and s.accumulate_score > 0 for s in standings)
        return
    assert set(d.weights) == {s.uid for s in standings}
    assert all(math.isfinite(w) and w >= 0 for w in d.weights.values())
    assert math.fsum(d.weights.values()) == pytest.approx(1.0, abs=1e-9)
    for s in standings:
        if s.is_validator or not math.isfinite(s.accumulate_score) or s.accumulate_score <= 0 or s.task_type is None:
            assert d.weights[s.uid] == 0.0
    pool = {t: math.fsum(d.weights[s.uid] for s in standings if s.task_type == t) for t in ("compression", "upscaling")}
    if pool["compression"] > 0 and pool["upscaling"] > 0:
        assert pool["compression"] == pytest.approx(0.6, abs=1e-9)
        assert pool["upscaling"] == pytest.approx(0.4, abs=1e-9)


@settings(deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["upscaling", "compression"]), st.floats(1e-6, 1e6), st.booleans()),
                min_size=1, max_size=12), st.floats(1e-3, 1e3))
def test_scale_invariance(rows: list[tuple[str, float, bool]], k: float) -> None:
    base = compute_weights(build(rows), CFG)
    scaled = compute_weights(build([(t, s * k, v) for t, s, v in rows]), CFG)
    assert (base.weights is None) == (scaled.weights is None)
    if base.weights is not None and scaled.weights is not None:
        for uid, w in base.weights.items():
            assert scaled.weights[uid] == pytest.approx(w, rel=1e-9, abs=1e-15)


@settings(deadline=None)
@given(standing_rows)
def test_validators_always_zero(rows: list[tuple[str | None, float, bool]]) -> None:
    rows = [(t, s, True) if i % 2 == 0 else (t, s, v) for i, (t, s, v) in enumerate(rows)]
    d = compute_weights(build(rows), CFG)
    if d.weights is not None:
        assert all(d.weights[uid] == 0.0 for uid in range(0, len(rows), 2))


# --- chain limits (issue 14): max_weight_limit, min_allowed_weights, u16 quantisation -------------


def _pools(comp: list[float], up: list[float]) -> list[MinerStanding]:
    return [m(i, "compression", s) for i, s in enumerate(comp)] + [
        m(1000 + i, "upscaling", s) for i, s in enumerate(up)
    ]


def _effective(d: WeightsDecision) -> tuple[float, float]:
    assert d.split is not None
    return d.split.effective["compression"], d.split.effective["upscaling"]


@pytest.mark.parametrize(
    ("limit", "comp", "up"),
    [
        (0.5, [0.9, 0.05, 0.05], [0.1, 0.1]),  # one dominant compression miner: capped, excess stays in its pool
        (0.1, [0.9] + [0.05] * 9, [0.3] * 200),  # 10 compression miners can hold 0.6 under a 0.1 limit
        (0.1, [0.9, 0.8] + [0.01] * 8, [5.0, 0.01] + [0.01] * 20),  # skewed on both sides
    ],
)
def test_limit_keeps_the_60_40_split_when_it_can(limit: float, comp: list[float], up: list[float]) -> None:
    d = compute_weights(_pools(comp, up), CFG, WeightLimits(max_weight=limit))
    assert d.weights is not None and d.split is not None and d.split.kept, d.reason
    c, u = _effective(d)
    assert c == pytest.approx(0.6, abs=0.005) and u == pytest.approx(0.4, abs=0.005)
    q = quantize_u16(d.weights)
    assert within_limit(q, limit) and max(q.values()) / sum(q.values()) <= limit
    assert math.fsum(d.weights.values()) == pytest.approx(1.0)


def test_one_compression_miner_at_limit_half_reports_what_was_kept() -> None:
    d = compute_weights(_pools([0.9], [0.2, 0.3, 0.1]), CFG, WeightLimits(max_weight=0.5))
    assert d.weights is not None and d.split is not None and not d.split.kept
    c, u = _effective(d)
    assert c == pytest.approx(0.5, abs=1e-3) and u == pytest.approx(0.5, abs=1e-3)
    assert "compression holds 0.500 of its 0.600" in d.split.note and "NOT KEPT" in d.split.describe()


def test_three_plus_two_hundred_at_limit_tenth_reports_what_was_kept() -> None:
    d = compute_weights(_pools([0.9, 0.5, 0.2], [0.3] * 200), CFG, WeightLimits(max_weight=0.1))
    assert d.weights is not None and d.split is not None and not d.split.kept
    c, _u = _effective(d)
    assert c == pytest.approx(0.3, abs=1e-3)  # 3 miners x 0.1: the most the limit allows
    assert "compression holds 0.300 of its 0.600 (3 miner(s)" in d.split.note
    assert within_limit(quantize_u16(d.weights), 0.1)


def test_zero_score_miners_never_fill_up_the_minimum() -> None:
    standings = _pools([0.9, 0.0], [0.5, 0.0])
    d = compute_weights(standings, CFG, WeightLimits(max_weight=1.0, min_allowed_weights=3))
    assert d.weights is None and "requires at least 3" in d.reason
    d = compute_weights(standings, CFG, WeightLimits(max_weight=0.4))
    assert d.weights is None and "cannot be met by 2 eligible" in d.reason
    ok = compute_weights(standings, CFG, WeightLimits(max_weight=0.6, min_allowed_weights=2))
    assert ok.weights is not None and ok.weights[1] == 0.0 and ok.weights[1001] == 0.0


def test_quantize_u16_is_the_sdk_normalisation() -> None:
    assert quantize_u16({1: 0.25, 2: 0.75, 5: 0.0}) == {1: 21845, 2: 65535}
    assert quantize_u16({1: 1e-9, 2: 1.0}) == {2: 65535}  # rounds to 0: dropped, as on chain
    assert quantize_u16({}) == {}


@settings(max_examples=150, deadline=None)
@given(
    comp=st.lists(st.floats(0.0, 10.0), max_size=30),
    up=st.lists(st.floats(0.0, 10.0), max_size=30),
    limit=st.sampled_from([1.0, 0.5, 0.25, 0.1, 0.05]),
)
def test_limits_property(comp: list[float], up: list[float], limit: float) -> None:
    standings = _pools(comp, up)
    d = compute_weights(standings, CFG, WeightLimits(max_weight=limit))
    n_comp, n_up = sum(s > 0 for s in comp), sum(s > 0 for s in up)
    if d.weights is None:
        assert n_comp + n_up == 0 or (n_comp + n_up) * limit < 1 or "u16" in d.reason or "sum" in d.reason
        return
    assert all(d.weights[s.uid] == 0.0 for s in standings if s.accumulate_score <= 0)
    q = quantize_u16(d.weights)
    assert limit >= 1.0 or within_limit(q, limit)
    assert d.split is not None
    if n_comp and n_up and n_comp * limit >= 0.6 + 1e-3 and n_up * limit >= 0.4 + 1e-3:
        c, u = _effective(d)
        assert abs(c - 0.6) <= 0.005 and abs(u - 0.4) <= 0.005, d.split
