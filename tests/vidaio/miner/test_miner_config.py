"""MinerConfig: env vars, env files, CLI overrides, demo-only strategies, every field documented."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from services.upscaling import UpscaleSettings
from vidaio.cli.run import parse_overrides
from vidaio.envdoc import iter_settings
from vidaio.miner.config import ConfigError, MinerConfig, MinerSettings, load_miner_config


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("VIDAIO_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)  # no stray ./.env


def test_env_file_env_vars_and_overrides_layer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / "miner.env"
    env_file.write_text(
        "VIDAIO_MINER__TASK_TYPE=upscaling\nVIDAIO_MINER__CPU_WORKERS=3\nVIDAIO_SERVER__PORT=9000\n"
        "VIDAIO_DB__PATH=ignored-by-the-miner\n"
    )
    monkeypatch.setenv("VIDAIO_MINER__UPSCALING__ENGINE", "model")
    monkeypatch.setenv("VIDAIO_MINER__UPSCALING_TYPES", '["SD2HD"]')
    overrides = parse_overrides(["server.port=9100", "miner.upscaling.crf=24", "fetch.allow_hosts=[\"127.0.0.1\"]"])
    cfg = load_miner_config(env_file, overrides)
    assert cfg.miner.task_type.value == "upscaling" and cfg.miner.cpu_workers == 3
    assert cfg.server.port == 9100  # override beats the env file
    assert cfg.miner.upscaling.engine == "model" and cfg.miner.upscaling.crf == 24  # type: ignore[attr-defined]
    assert [t.value for t in cfg.miner.upscaling_types] == ["SD2HD"]
    assert cfg.fetch.allow_hosts == ["127.0.0.1"]
    engine = cfg.miner.upscale_settings()
    assert isinstance(engine, UpscaleSettings) and (engine.engine, engine.crf) == ("model", 24)


def test_bad_configuration_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_miner_config(tmp_path / "missing.env")
    with pytest.raises(ConfigError, match=r"miner\.cpu_workers"):
        load_miner_config(overrides={"miner": {"cpu_workers": "0"}})
    with pytest.raises(ConfigError, match="upscaling.engine"):
        load_miner_config(overrides={"miner": {"upscaling": {"engine": "bicubic"}}})
    with pytest.raises(ConfigError, match="demo-only"):
        load_miner_config(overrides={"miner": {"compression_engine": "passthrough"}})
    cfg = load_miner_config(overrides={"miner": {"compression_engine": "passthrough", "allow_demo_strategies": "true"}})
    assert cfg.miner.compression_engine == "passthrough"


@pytest.mark.parametrize(
    ("items", "message"),
    [(["miner"], "section.field=value"), (["miner..x=1"], "section.field=value"), (["a.b=[1,"], "not valid JSON"),
     (["a.b=1", "a.b.c=2"], "already set"), (["task_type=x"], "miner.task_type")],
)  # fmt: skip
def test_parse_overrides_errors(items: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_overrides(items)


def test_parse_overrides_values() -> None:
    assert parse_overrides(["a.b=x=y", "a.c=null", "a.d={\"k\": 1}", "e.f= 2"]) == {
        "a": {"b": "x=y", "c": None, "d": {"k": 1}}, "e": {"f": " 2"},
    }  # fmt: skip


def test_every_setting_has_a_default_and_a_description() -> None:
    MinerConfig(_env_file=None)  # type: ignore[call-arg]
    rows = list(iter_settings(MinerConfig))
    names = {r[0] for r in rows}
    assert {"VIDAIO_MINER__TASK_TYPE", "VIDAIO_MINER__UPSCALING__ENGINE", "VIDAIO_MINER__COMPRESSION__MAX_PROBES",
            "VIDAIO_METRICS__VMAF_THREADS", "VIDAIO_SERVER__PORT", "VIDAIO_STORAGE__BUCKET"} <= names  # fmt: skip
    undocumented = [r[0] for r in rows if r[0].startswith("VIDAIO_MINER__") and not r[2]]
    assert undocumented == []


def test_upscaling_section_mirrors_the_engine_settings() -> None:
    section = MinerSettings.model_fields["upscaling"].annotation
    assert isinstance(section, type) and issubclass(section, BaseModel)
    assert set(section.model_fields) == set(UpscaleSettings.__pydantic_fields__)


def test_cli_and_entry_point_exit_2_on_bad_configuration() -> None:
    import typer
    from typer.testing import CliRunner

    from neurons.miner import main as neuron_main
    from vidaio.cli.run import miner_app

    app = typer.Typer()
    app.add_typer(miner_app, name="miner")  # as vidaio/cli/main.py registers it
    runner = CliRunner()
    bad_set = runner.invoke(app, ["miner", "run", "--set", "miner"])
    assert bad_set.exit_code == 2 and "section.field=value" in bad_set.output
    assert runner.invoke(app, ["miner", "run", "--set", "miner.cpu_workers=0"]).exit_code == 2
    assert neuron_main(["--set", "miner.compression_engine=passthrough"]) == 2
    assert neuron_main(["--set", "nodot"]) == 2  # the same typer command: an exit code, not argparse's SystemExit
