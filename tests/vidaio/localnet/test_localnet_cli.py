"""`vidaio localnet` CLI without running a subnet: option errors and the final report rendering."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from typer.testing import CliRunner

from vidaio.cli.localnet import render_report
from vidaio.cli.main import app
from vidaio.localnet.report import LocalnetReport, MinerRow


def _report(random_weights: bool) -> LocalnetReport:
    miners = [
        MinerRow(uid=1, name="miner-search", strategy="search", task_type="compression", rounds=3,
                 accumulate_score=0.28, total_multiplier=0.96, tier="New", weight=0.42, incentive=0.42),
        MinerRow(uid=5, name="miner-cheater", strategy="cheater", task_type="compression", rounds=3,
                 reasons={"same_as_reference": 3, "wrong_codec": 3}),
        MinerRow(uid=3, name="miner-model", strategy="esrgan", task_type="upscaling", rounds=3,
                 accumulate_score=0.02, weight=0.4, incentive=0.4),
    ]  # fmt: skip
    return LocalnetReport(
        profile="demo",
        rounds_requested=3,
        miners=miners,
        validator_uid=0,
        pool_share={"compression": 0.6, "upscaling": 0.4},
        pieapp_random_weights=random_weights,
        paths={"validator_db": "/x/validator.db", "logs": "/x/logs"},
    )


def _render(report: LocalnetReport) -> str:
    console = Console(record=True, width=100)
    render_report(report, console)
    return console.export_text()


def test_report_names_the_random_pieapp_weights_and_the_zero_reasons() -> None:
    text = _render(_report(random_weights=True))
    assert "demo: random PIE-APP weights" in text
    assert "uid 5 (cheater) zero-score reasons: same_as_reference x3, wrong_codec x3" in text
    assert "compression 0.600, upscaling 0.400" in text
    assert "vidaio db leaderboard --db /x/validator.db" in text
    lines = [line for line in text.splitlines() if line.strip().startswith(("1 ", "5 ", "3 "))]
    assert [line.split()[1] for line in lines] == ["search", "cheater", "esrgan"]  # best first per task


def test_report_without_random_weights_has_no_demo_label() -> None:
    assert "random PIE-APP" not in _render(_report(random_weights=False))


def test_bad_options_exit_2_with_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["localnet", "--profile", "huge", "--dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "profile" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["localnet", "--rounds", "0"])
    assert result.exit_code == 2
