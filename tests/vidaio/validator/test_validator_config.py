"""ValidatorConfig / ValidatorSettings: env loading, bounds, demo-only flags, the persisted secret, CLI."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidaio.cli.main import app
from vidaio.db.config import DbConfig
from vidaio.protocol import Codec, Profile, UpscalingType
from vidaio.validator.config import (
    ConfigError,
    ValidatorSettings,
    load_validator_config,
    resolve_secret,
    secret_path,
)


def test_defaults_are_production_and_every_field_is_described() -> None:
    s = ValidatorSettings()
    assert s.profile is Profile.PRODUCTION and s.max_rounds == 0 and s.miners_per_round == 0
    assert s.upscaling_types == [UpscalingType.SD2HD, UpscalingType.HD24K, UpscalingType.SD24K]
    assert s.compression_codecs == [Codec.AV1, Codec.HEVC] and s.compression_thresholds == [85, 89, 93]
    assert s.presign_ttl_s() == 900  # longest deadline (300 s) + 10 min
    assert all(f.description for f in ValidatorSettings.model_fields.values())


def test_env_and_env_file_and_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = tmp_path / "v.env"
    env.write_text(
        "VIDAIO_VALIDATOR__PROFILE=demo\n"
        "VIDAIO_VALIDATOR__UPSCALING_GROUP_SIZE=3\n"
        'VIDAIO_VALIDATOR__COMPRESSION_CODECS=["hevc"]\n'
        "VIDAIO_DB__PATH=/tmp/x/validator.db\n"
        "VIDAIO_SCORING__WEIGHTS_INTERVAL=100\n"
        "VIDAIO_SYNTHESIS__SOURCE=synthetic\n"
    )
    monkeypatch.setenv("VIDAIO_VALIDATOR__ROUND_INTERVAL_S", "42")
    cfg = load_validator_config(env, {"validator": {"max_rounds": 2}})
    v = cfg.validator
    assert (v.profile, v.upscaling_group_size, v.compression_codecs) == (Profile.DEMO, 3, [Codec.HEVC])
    assert v.round_interval_s == 42 and v.max_rounds == 2
    assert cfg.db.path == Path("/tmp/x/validator.db") and cfg.scoring.weights_interval == 100
    assert v.clip_size() == (960, 540)


@pytest.mark.parametrize(
    "overrides,needle",
    [
        ({"validator": {"upscaling_group_size": 0}}, "validator.upscaling_group_size"),
        ({"validator": {"content_lengths": [0]}}, "content lengths"),
        ({"validator": {"compression_thresholds": [100]}}, "thresholds"),
        ({"validator": {"upscaling_types": [], "compression_codecs": []}}, "nothing to validate"),
        ({"validator": {"allow_random_pieapp_weights": True}}, "demo/test only"),
        ({"metrics": {"allow_random_weights": True}}, "demo/test only"),
        ({"validator": {"compression_size": [161, 90]}}, "even"),
    ],
)
def test_bad_settings_name_the_problem(overrides: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_validator_config(None, {"_env_file": None, **overrides})


def test_random_pieapp_weights_passthrough_only_outside_production() -> None:
    cfg = load_validator_config(None, {"_env_file": None, "validator": {"profile": "tiny", "allow_random_pieapp_weights": True}})
    assert cfg.effective_metrics().allow_random_weights and not cfg.metrics.allow_random_weights
    assert not load_validator_config(None, {"_env_file": None}).effective_metrics().allow_random_weights


def test_missing_env_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_validator_config(tmp_path / "nope.env")


def test_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    db = DbConfig(path=tmp_path / "state" / "validator.db")
    first = resolve_secret(ValidatorSettings(), db)
    path = secret_path(db)
    assert path == tmp_path / "state" / "validator.db.secret" and len(first) == 64
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert resolve_secret(ValidatorSettings(), db) == first  # persisted across restarts
    assert resolve_secret(ValidatorSettings(secret="configured"), db) == "configured"
    assert [p.name for p in path.parent.iterdir()] == ["validator.db.secret"]  # no temp file left
    path.write_text("\n")
    with pytest.raises(ConfigError, match="is empty"):
        resolve_secret(ValidatorSettings(), db)


def test_cli_validator_run_reports_bad_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    runner = CliRunner()
    res = runner.invoke(app, ["validator", "run", "--rounds", "1", "--set", "validator.upscaling_group_size=0"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["validator", "run", "--set", "nodots"])
    assert res.exit_code == 2 and "section.field=value" in res.output


def test_neuron_entry_point_reports_bad_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from neurons.validator import main

    monkeypatch.chdir(tmp_path)
    assert main(["--rounds", "1", "--set", "validator.score_workers=0"]) == 2
    assert main(["--rounds", "-1"]) == 2  # the same typer command as `vidaio validator run`
