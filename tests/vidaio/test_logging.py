import json
import re
from pathlib import Path

from loguru import logger

from vidaio.logging import LogConfig, setup_logging


def test_setup_logging_writes_rotating_file(tmp_path: Path, capsys) -> None:
    path = setup_logging(LogConfig(dir=tmp_path / "logs", level="INFO"), "miner")
    logger.info("task done uid=3 score=0.5")
    logger.debug("hidden at INFO")
    logger.complete()
    assert path == tmp_path / "logs" / "miner.log"
    text = path.read_text()
    assert "task done uid=3 score=0.5" in text and "| miner |" in text
    assert "hidden at INFO" not in text
    captured = capsys.readouterr()
    assert "task done" in captured.out and "task done" not in captured.err  # INFO: stdout only


def test_setup_logging_without_file(tmp_path: Path) -> None:
    assert setup_logging(LogConfig(dir=tmp_path / "none", to_file=False), "validator") is None
    assert not (tmp_path / "none").exists()


def test_warnings_go_to_stderr_info_to_stdout(tmp_path: Path, capsys) -> None:
    setup_logging(LogConfig(dir=tmp_path, to_file=False, level="DEBUG"), "validator")
    logger.debug("a debug line")
    logger.info("an info line")
    logger.warning("a warning line")
    logger.error("an error line")
    captured = capsys.readouterr()
    assert "a debug line" in captured.out and "an info line" in captured.out
    assert "a warning line" not in captured.out and "an error line" not in captured.out
    assert "a warning line" in captured.err and "an error line" in captured.err
    assert "an info line" not in captured.err
    # one timestamp per line (pm2 adds none: ecosystem.config.js has time: false)
    line = next(ln for ln in captured.out.splitlines() if "an info line" in ln)
    assert len(re.findall(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}", line)) == 1


def test_json_file_log_carries_the_task_fields(tmp_path: Path) -> None:
    from vidaio.tasklog import miner_task_line, parse_kv

    path = setup_logging(LogConfig(dir=tmp_path, json_file=True), "miner")
    text = miner_task_line(
        task_id="t-1", validator_uid=0, task_type="compression", codec="av1", threshold=90.0, scale=None,
        input_bytes=1000, output_bytes=250, seconds=1.25, status="ok", engine="search crf=30 preset=8",
    )  # fmt: skip
    logger.complete()
    assert path is not None
    records = [json.loads(ln)["record"] for ln in path.read_text().splitlines()]
    (rec,) = [r for r in records if r["extra"].get("event") == "task"]
    assert rec["message"] == text
    extra = rec["extra"]
    assert extra["task"] == "t-1" and extra["output_bytes"] == 250 and extra["engine"] == "search crf=30 preset=8"
    parsed = parse_kv(text)
    assert parsed["task"] == "t-1" and parsed["engine"] == "search crf=30 preset=8" and parsed["scale"] == "-"
    assert float(parsed["seconds"]) == extra["seconds"] == 1.25


def test_pm2_config_does_not_restart_config_errors_nor_double_timestamps() -> None:
    text = (Path(__file__).resolve().parents[2] / "ecosystem.config.js").read_text()
    assert re.search(r"stop_exit_codes:\s*\[2\]", text)
    assert re.search(r"\btime:\s*false", text)
