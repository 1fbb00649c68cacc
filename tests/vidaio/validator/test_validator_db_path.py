"""A mistyped db.path is an error, not a new empty DB and a new sampling secret (issue 16.2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from loguru import logger
from validator_support import Subnet

from vidaio.validator.config import secret_path
from vidaio.validator.daemon import ValidatorStartupError, build_validator


async def test_missing_db_directory_is_an_error_unless_init(tmp_path: Path, s3: Any, wallet_dir: Path) -> None:
    subnet = Subnet(tmp_path, s3, wallet_dir)
    subnet.register("val", validator=True)
    typo = tmp_path / "vidaoi" / "validator.db"
    cfg = subnet.validator_config("val", typo, secret="")  # generated next to the DB, as in production
    with pytest.raises(ValidatorStartupError) as exc:
        await build_validator(cfg)
    message = str(exc.value)
    assert f"{typo.parent} of db.path" in message and "does not exist" in message
    assert "vidaio db upgrade" in message and "--init" in message and "\n" not in message
    assert not typo.parent.exists()  # no directory, no DB, no secret made

    warnings: list[str] = []
    sink = logger.add(lambda m: warnings.append(m.record["message"]), level="WARNING")
    try:
        rt = await build_validator(cfg, init=True)  # explicit first start
        await rt.close()
        assert typo.is_file() and secret_path(cfg.db).is_file()
        assert any("NEW sampling secret" in w for w in warnings), warnings
        warnings.clear()
        rt = await build_validator(cfg)  # the directory exists now: a normal start, no new secret
        await rt.close()
        assert not any("NEW sampling secret" in w for w in warnings), warnings
    finally:
        logger.remove(sink)
