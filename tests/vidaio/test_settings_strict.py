"""Strict configuration (issue 16): every newcomer mistake is one line naming the problem and the
fix, exit code 2, no traceback, through the real launchers (`python -m neurons.*`, `vidaio ... run`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vidaio.miner.config import MinerConfig, load_miner_config
from vidaio.protocol import Codec, TaskType
from vidaio.settings_base import VidaioSettings, decode_list_or_json
from vidaio.settings_keys import check_overrides, unknown_env_keys
from vidaio.settings_load import ConfigError
from vidaio.validator.config import ValidatorConfig

REPO = Path(__file__).resolve().parents[2]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDAIO_")}
    env.update(extra)
    return env


def _launch(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=tmp_path, env=_clean_env(**env), capture_output=True, text=True, timeout=120
    )


def _assert_one_line_exit_2(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    out = (proc.stdout + proc.stderr).strip()
    assert proc.returncode == 2, out
    assert "Traceback" not in out, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    for needle in needles:
        assert needle in lines[0], (needle, out)
    return lines[0]


MISTAKES = [
    pytest.param(
        ["-m", "neurons.miner"], {"VIDAIO_MINNER__TASK_TYPE": "upscaling"},
        ("VIDAIO_MINNER__TASK_TYPE", "did you mean VIDAIO_MINER__TASK_TYPE"), id="misspelled-section",
    ),
    pytest.param(
        ["-m", "neurons.miner"], {"VIDAIO_MINER_TASK_TYPE": "upscaling"},
        ("VIDAIO_MINER_TASK_TYPE", "did you mean VIDAIO_MINER__TASK_TYPE"), id="one-underscore",
    ),
    pytest.param(
        ["-m", "neurons.miner", "--set", "task_type=upscaling"], {},
        ("task_type", "miner.task_type"), id="set-without-section",
    ),
    pytest.param(
        ["-m", "vidaio.cli.main", "miner", "run", "--set", "miner.taskk_type=upscaling"], {},
        ("miner.taskk_type", "did you mean miner.task_type"), id="set-misspelled-field",
    ),
    pytest.param(
        ["-m", "neurons.validator"], {"VIDAIO_STORAGE__ENDPOINT_URL": "127.0.0.1:5055"},
        ("storage.endpoint_url", "http://host:port"), id="url-without-scheme",
    ),
    pytest.param(
        ["-m", "neurons.miner"], {"VIDAIO_MINER__CODECS": '["av1", "hevc"'},
        ("codecs", "not valid JSON"), id="broken-json-list",
    ),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("args", "env", "needles"), MISTAKES)
def test_config_mistakes_are_one_line_exit_2(
    tmp_path: Path, args: list[str], env: dict[str, str], needles: tuple[str, ...]
) -> None:
    _assert_one_line_exit_2(_launch(args, tmp_path, **env), *needles)


@pytest.mark.slow
def test_unknown_key_in_the_env_file_is_named_with_the_file(tmp_path: Path) -> None:
    env_file = tmp_path / "miner.env"
    env_file.write_text("VIDAIO_MINER__TASK_TYPE=upscaling\nVIDAIO_WALET__NAME=m\n")
    line = _assert_one_line_exit_2(_launch(["-m", "neurons.miner", "--env-file", str(env_file)], tmp_path))
    assert "VIDAIO_WALET__NAME" in line and str(env_file) in line and "VIDAIO_WALLET__NAME" in line


@pytest.mark.slow
def test_both_launchers_are_the_same_command(tmp_path: Path) -> None:
    env = {"VIDAIO_VALIDATOR__MAX_ROUNDZ": "1"}
    a = _launch(["-m", "neurons.validator", "--rounds", "1", "--set", "validator.max_rounds=2"], tmp_path, **env)
    b = _launch(["-m", "vidaio.cli.main", "validator", "run", "--rounds", "1", "--set", "validator.max_rounds=2"],
                tmp_path, **env)  # fmt: skip
    assert _assert_one_line_exit_2(a, "VIDAIO_VALIDATOR__MAX_ROUNDZ") == _assert_one_line_exit_2(b)
    helps = [_launch([*cmd, "--help"], tmp_path).stdout for cmd in (["-m", "neurons.validator"],
             ["-m", "vidaio.cli.main", "validator", "run"])]  # fmt: skip
    for text in helps:
        assert "--rounds" in text and "--set" in text and "--env-file" in text


def test_comma_separated_lists_from_env_env_file_and_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in [k for k in os.environ if k.startswith("VIDAIO_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIDAIO_MINER__CODECS", "av1,hevc")
    assert load_miner_config().miner.codecs == [Codec.AV1, Codec.HEVC]
    monkeypatch.setenv("VIDAIO_MINER__CODECS", '["h264"]')  # JSON still works
    assert load_miner_config().miner.codecs == [Codec.H264]
    monkeypatch.delenv("VIDAIO_MINER__CODECS")
    env_file = tmp_path / "m.env"
    env_file.write_text("VIDAIO_MINER__CODECS=hevc, h264\nVIDAIO_MINER__TASK_TYPE=compression\n")
    assert load_miner_config(env_file).miner.codecs == [Codec.HEVC, Codec.H264]
    cfg = load_miner_config(None, {"miner": {"codecs": "av1,h264"}})
    assert cfg.miner.codecs == [Codec.AV1, Codec.H264] and cfg.miner.task_type is TaskType.COMPRESSION


def test_known_keys_of_every_daemon_pass_and_lookalikes_fail() -> None:
    ok = [
        "VIDAIO_MINER__TASK_TYPE", "vidaio_miner__task_type", "VIDAIO_DB__PATH", "VIDAIO_LOCALNET__ROUNDS",
        "VIDAIO_MINER__COMPRESSION__THREADS", "VIDAIO_SCORING__VMAF_SAMPLES", "VIDAIO_MINER",
        "VIDAIO_MINER_ENV_FILE", "VIDAIO_PM2_LOG_DIR", "PATH", "HOME",
    ]  # fmt: skip
    assert unknown_env_keys(ok) == []
    bad = unknown_env_keys(["VIDAIO_MINER__TASKTYPE", "VIDAIO_DB_PATH", "VIDAIO_MINER__"])
    assert [b.split()[0] for b in bad] == ["VIDAIO_MINER__TASKTYPE", "VIDAIO_DB_PATH", "VIDAIO_MINER__"]
    assert "did you mean VIDAIO_MINER__TASK_TYPE" in bad[0] and "did you mean VIDAIO_DB__PATH" in bad[1]


def test_the_projects_own_non_setting_variables_are_accepted() -> None:
    """Every single-underscore `VIDAIO_*` name that the Makefile, pm2 file or scripts set must not stop a daemon:
    CI exports VIDAIO_STRICT_SKIPS to every child, and the Ray pm2 apps read VIDAIO_RAY_* from the same env."""
    import re

    root = Path(__file__).resolve().parents[2]
    sources = ["Makefile", "ecosystem.config.js", "scripts/setup.sh", "scripts/pm2.sh", "tests/strict_skips.py"]
    names = set()
    for rel in sources:
        path = root / rel
        if path.exists():
            names |= {n for n in re.findall(r"VIDAIO_[A-Z0-9_]+", path.read_text()) if "__" not in n}
    names.discard("VIDAIO_RAY_ENV_FILE_UNUSED")  # a placeholder env-file name in ecosystem.config.js, never set
    assert {"VIDAIO_STRICT_SKIPS", "VIDAIO_RAY_HEAD", "VIDAIO_RAY_ADDRESS"} <= names
    assert unknown_env_keys(sorted(names)) == []


def test_set_keys_are_checked_against_the_daemon_model() -> None:
    assert check_overrides(MinerConfig, {"miner": {"task_type": "x", "compression": {"threads": 1}}}) == []
    assert check_overrides(ValidatorConfig, {"validator": {"max_rounds": 1}, "db": {"path": "x"}}) == []
    (problem,) = check_overrides(MinerConfig, {"validator": {"max_rounds": 1}})
    assert "validator.max_rounds" in problem and "not a setting of this daemon" in problem


def test_in_process_errors_are_config_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIDAIO_MINER__TASKTYPE", "upscaling")
    with pytest.raises(ConfigError, match="did you mean VIDAIO_MINER__TASK_TYPE"):
        load_miner_config()
    with pytest.raises(ConfigError, match="does not exist"):
        load_miner_config(tmp_path / "missing.env")


def test_decode_list_or_json() -> None:
    assert decode_list_or_json("a, b,,c") == ["a", "b", "c"]
    assert decode_list_or_json("[1, 2]") == [1, 2]
    assert decode_list_or_json('{"a": 1}') == {"a": 1}
    with pytest.raises(ValueError, match="codecs is not valid JSON"):
        decode_list_or_json("[1, 2", "codecs")


def test_every_vidaio_settings_model_uses_the_one_base() -> None:
    from vidaio.cli.db import _DbEnv
    from vidaio.cli.score_clips import _Settings
    from vidaio.config import DAEMON_MODELS

    for model in [*DAEMON_MODELS.values(), _DbEnv, _Settings]:
        assert issubclass(model, VidaioSettings), model
    hits = [
        p for p in (REPO / "vidaio").rglob("*.py")
        if 'env_prefix="VIDAIO_"' in p.read_text() and p.name != "settings_base.py"
    ]  # fmt: skip
    assert hits == []
