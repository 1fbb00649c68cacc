"""ScoringConfig: spec defaults, seed ranges enforced with a named message, env override."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from scoring import ScoringConfig


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in list(__import__("os").environ):
        if key.startswith("VIDAIO_SCORING__"):
            monkeypatch.delenv(key)


def test_spec_defaults() -> None:
    c = ScoringConfig()
    assert (c.vmaf_samples, c.pieapp_frames, c.pieapp_cap, c.upscaling_vmaf_threshold) == (5, 4, 2.0, 50.0)
    assert (c.quality_weight, c.length_weight, c.final_score_scale, c.final_score_steepness) == (0.5, 0.5, 0.1, 6.979)
    assert (c.compression_rate_weight, c.compression_vmaf_weight, c.compression_rate_exponent) == (0.8, 0.2, 1.5)
    assert (c.history_window, c.ema_decay, c.vmaf_safety_margin) == (10, 0.75, 5.0)
    assert (c.upscaling_bonus_threshold, c.upscaling_penalty_f_threshold, c.upscaling_penalty_q_threshold) == (
        0.32, 0.20, 0.25)
    assert (c.compression_bonus_threshold, c.compression_penalty_f_threshold) == (0.74, 0.4)
    assert (c.max_bonus, c.max_penalty_f, c.max_penalty_q, c.max_penalty_vmaf) == (0.15, 0.20, 0.25, 0.25)
    assert (c.upscaling_tier_elite, c.upscaling_tier_good, c.upscaling_tier_average) == (0.32, 0.20, 0.10)
    assert (c.compression_tier_elite, c.compression_tier_good, c.compression_tier_average) == (0.74, 0.55, 0.40)
    assert (c.compression_pool_share, c.upscaling_pool_share, c.weights_interval) == (0.6, 0.4, 360)
    # one setting per fact: served lengths and VMAF thresholds are the validator's (issue 14)
    assert not {"default_content_length", "available_content_lengths", "compression_vmaf_thresholds"} & set(
        ScoringConfig.model_fields)


def test_every_field_is_described() -> None:
    missing = [n for n, f in ScoringConfig.model_fields.items() if not f.description]
    assert missing == []


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("history_window", 11, "[5, 10]"),
        ("history_window", 4, "[5, 10]"),
        ("compression_rate_weight", 0.95, "[0.6, 0.9]"),
        ("compression_vmaf_weight", 0.05, "[0.1, 0.4]"),
        ("compression_rate_exponent", 2.5, "[1.2, 2.0]"),
        ("vmaf_safety_margin", 2, "[3, 10]"),
        ("upscaling_bonus_threshold", 0.5, "[0.3, 0.4]"),
        ("upscaling_penalty_f_threshold", 0.1, "[0.15, 0.25]"),
        ("upscaling_penalty_q_threshold", 0.31, "[0.2, 0.3]"),
        ("compression_bonus_threshold", 0.69, "[0.7, 0.8]"),
        ("compression_penalty_f_threshold", 0.5, "[0.35, 0.45]"),
        ("max_bonus", 0.25, "[0.1, 0.2]"),
        ("max_penalty_f", 0.1, "[0.15, 0.25]"),
        ("max_penalty_q", 0.35, "[0.2, 0.3]"),
        ("quality_weight", 1.5, "[0.0, 1.0]"),
        ("ema_decay", 1.0, "(0.0, 1.0)"),
        ("upscaling_vmaf_threshold", 101, "[0, 100]"),
    ],
)
def test_out_of_range_rejected_with_name_and_range(field: str, value: float, allowed: str) -> None:
    with pytest.raises(ValidationError) as err:
        ScoringConfig(**{field: value})
    text = str(err.value)
    assert field in text and f"allowed {allowed}" in text


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"compression_pool_share": 0.7}, "compression_pool_share \\+ upscaling_pool_share must be 1"),
        ({"compression_rate_weight": 0.7}, "compression_rate_weight \\+ compression_vmaf_weight must be 1"),
        ({"quality_weight": 0.6}, "quality_weight \\+ length_weight must be 1"),
        ({"upscaling_tier_good": 0.5}, "upscaling_tier_elite >= upscaling_tier_good"),
    ],
)
def test_inconsistent_settings_rejected(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValidationError, match=match):
        ScoringConfig(**kwargs)


def test_consistent_pair_accepted() -> None:
    c = ScoringConfig(compression_rate_weight=0.7, compression_vmaf_weight=0.3)
    assert (c.compression_rate_weight, c.compression_vmaf_weight) == (0.7, 0.3)


def test_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDAIO_SCORING__HISTORY_WINDOW", "7")
    monkeypatch.setenv("VIDAIO_SCORING__EMA_DECAY", "0.5")
    monkeypatch.setenv("VIDAIO_SCORING__MAX_BONUS", "0.12")
    c = ScoringConfig()
    assert (c.history_window, c.ema_decay, c.max_bonus) == (7, 0.5, 0.12)


def test_env_out_of_range_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDAIO_SCORING__MAX_BONUS", "0.5")
    with pytest.raises(ValidationError, match=r"max_bonus.*allowed \[0.1, 0.2\]"):
        ScoringConfig()


def test_dotenv_file_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("VIDAIO_SCORING__VMAF_SAFETY_MARGIN=8\nOTHER=1\n")
    assert ScoringConfig().vmaf_safety_margin == 8.0
