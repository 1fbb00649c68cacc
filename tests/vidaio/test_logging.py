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
    assert "task done" in capsys.readouterr().err


def test_setup_logging_without_file(tmp_path: Path) -> None:
    assert setup_logging(LogConfig(dir=tmp_path / "none", to_file=False), "validator") is None
    assert not (tmp_path / "none").exists()
