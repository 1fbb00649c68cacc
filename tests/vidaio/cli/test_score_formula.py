"""`vidaio score formula ...` through the real top-level app (typer CliRunner)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vidaio.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _no_env(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.chdir(tmp_path)
    for key in list(__import__("os").environ):
        if key.startswith("VIDAIO_SCORING__"):
            monkeypatch.delenv(key)


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, ["score", "formula", *args])


def test_compression_json() -> None:
    r = invoke("compression", "--vmaf", "85", "--threshold", "70", "--rate", "0.3", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["s_f"] == pytest.approx(0.769, abs=1e-3)
    assert data["compression_rate"] == pytest.approx(0.3)
    assert data["compression_term"] == pytest.approx(0.669, abs=1e-3)
    assert data["quality_term"] == pytest.approx(0.100, abs=1e-3)


def test_compression_below_threshold_json() -> None:
    data = json.loads(invoke("compression", "--vmaf", "65", "--threshold", "70", "--rate", "0.4", "--json").stdout)
    assert data["s_f"] == 0.0 and data["vmaf_passed"] is False


def test_upscaling_json() -> None:
    r = invoke("upscaling", "--pieapp", "0.5", "--vmaf", "80", "--length", "10", "--json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert data["s_q"] == pytest.approx(0.600, abs=1e-3)
    assert data["s_l"] == pytest.approx(0.4155, abs=1e-4)
    assert data["s_pre"] == pytest.approx(0.5 * data["s_q"] + 0.5 * data["s_l"])
    assert data["s_f"] == pytest.approx(0.1057, abs=1e-4)


def test_upscaling_gate_and_default_length() -> None:
    data = json.loads(invoke("upscaling", "--pieapp", "0", "--vmaf", "40", "--json").stdout)
    assert data["s_q"] == 0.0 and data["length"] == 5 and data["s_l"] == pytest.approx(0.3105, abs=1e-4)


def test_table_output_lists_every_term() -> None:
    r = invoke("upscaling", "--pieapp", "0.5", "--vmaf", "80", "--length", "5")
    assert r.exit_code == 0
    for term in ("s_q", "s_l", "s_pre", "s_f", "0.6005"):
        assert term in r.stdout
    r = invoke("compression", "--vmaf", "85", "--threshold", "70", "--rate", "0.3")
    assert r.exit_code == 0 and "compression_term" in r.stdout and "0.7685" in r.stdout


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["compression", "--vmaf", "85", "--threshold", "70", "--rate", "-0.3"], "--rate"),
        (["compression", "--vmaf", "101", "--threshold", "70", "--rate", "0.3"], "--vmaf"),
        (["compression", "--vmaf", "80", "--threshold", "100", "--rate", "0.3"], "--threshold"),
        (["upscaling", "--pieapp", "0.5", "--vmaf", "101", "--length", "5"], "--vmaf"),
        (["upscaling", "--pieapp", "0.5", "--vmaf", "80", "--length", "7"], "unknown --length 7"),
        (["upscaling", "--pieapp", "-1", "--vmaf", "80", "--length", "5"], "PIE-APP"),
        (["upscaling", "--pieapp", "nan", "--vmaf", "80", "--length", "5"], "PIE-APP"),
    ],
)
def test_bad_input_one_line_reason(args: list[str], reason: str) -> None:
    r = invoke(*args)
    assert r.exit_code != 0
    assert r.exception is None or isinstance(r.exception, SystemExit)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and reason in lines[0]
    assert "Traceback" not in r.output


def test_bad_config_env_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDAIO_SCORING__HISTORY_WINDOW", "3")
    r = invoke("compression", "--vmaf", "85", "--threshold", "70", "--rate", "0.3")
    assert r.exit_code != 0
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "history_window" in lines[0] and "[5, 10]" in lines[0]
    assert "Traceback" not in r.output
