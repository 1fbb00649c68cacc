"""Start-up refuses with one clear reason: missing wallet, unregistered hotkey, no PIE-APP weights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from validator_support import ABSENT_WEIGHTS, Subnet, wallet

from scoring.metrics.config import MetricsConfig
from vidaio.validator.daemon import ValidatorStartupError, build_validator, check_pieapp, main


def test_missing_pieapp_weights_refuse_upscaling() -> None:
    with pytest.raises(ValidatorStartupError, match="cannot score upscaling: PIE-APP weights .* not available"):
        check_pieapp(MetricsConfig(pieapp_weights_path=ABSENT_WEIGHTS))
    check_pieapp(MetricsConfig(pieapp_weights_path=ABSENT_WEIGHTS, allow_random_weights=True))  # flagged demo run


async def test_unregistered_hotkey_and_missing_wallet(tmp_path: Path, s3: Any, wallet_dir: Path) -> None:
    subnet = Subnet(tmp_path, s3, wallet_dir)
    wallet(wallet_dir, "stranger")  # exists, never registered
    subnet.register("someone_else", validator=True)
    cfg = subnet.validator_config("stranger", tmp_path / "v.db")
    with pytest.raises(ValidatorStartupError, match="is not registered on netuid 1"):
        await build_validator(cfg)
    assert not (tmp_path / "v.db").exists()  # nothing half-made
    cfg = subnet.validator_config("no_such_wallet", tmp_path / "v.db")
    with pytest.raises(ValidatorStartupError, match="wallet 'no_such_wallet' not found"):
        await build_validator(cfg)


def test_main_exit_codes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = tmp_path / "v.env"
    env.write_text(f"VIDAIO_WALLET__PATH={tmp_path / 'none'}\nVIDAIO_LOG__TO_FILE=false\nVIDAIO_DB__PATH={tmp_path / 'v.db'}\n")
    assert main(env, {"validator": {"max_rounds": 1}}) == 1  # cannot start: no wallet
    assert main(env, {"validator": {"score_workers": 0}}) == 2  # bad configuration
