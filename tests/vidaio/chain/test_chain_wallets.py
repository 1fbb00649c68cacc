"""Wallet creation/loading (btcli layout, no password) and the `vidaio wallet` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vidaio.chain.config import WalletConfig
from vidaio.chain.wallets import WalletError, create_wallet, ensure_wallet, load_wallet, wallet_info
from vidaio.cli.wallet import wallet_app


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def test_create_writes_btcli_layout_and_loads_back(tmp_path: Path) -> None:
    words: list[tuple[str, int]] = []
    w = create_wallet("cold", "hot", tmp_path, on_mnemonic=lambda role, m: words.append((role, len(m.split()))))
    assert words == [("coldkey", 12), ("hotkey", 12)]
    for rel in ("cold/coldkey", "cold/coldkeypub.txt", "cold/hotkeys/hot", "cold/hotkeys/hotpub.txt"):
        assert (tmp_path / rel).is_file(), rel
    loaded = load_wallet(WalletConfig(name="cold", hotkey="hot", path=tmp_path))
    assert loaded.hotkey.ss58_address == w.hotkey.ss58_address
    info = wallet_info(loaded)
    assert info.coldkey_ss58 == w.coldkeypub.ss58_address and info.hotkey_ss58 != info.coldkey_ss58
    assert not (tmp_path / "home" / ".bittensor").exists()  # nothing written outside the wallet path


def test_second_hotkey_reuses_coldkey_and_duplicates_are_refused(tmp_path: Path) -> None:
    a = create_wallet("cold", "h1", tmp_path)
    b = create_wallet("cold", "h2", tmp_path)
    assert a.coldkeypub.ss58_address == b.coldkeypub.ss58_address
    assert a.hotkey.ss58_address != b.hotkey.ss58_address
    with pytest.raises(WalletError, match="already exists"):
        create_wallet("cold", "h1", tmp_path)
    c = create_wallet("cold", "h1", tmp_path, overwrite=True)
    assert c.hotkey.ss58_address != a.hotkey.ss58_address
    assert ensure_wallet("cold", "h2", tmp_path).hotkey.ss58_address == b.hotkey.ss58_address
    assert ensure_wallet("new", "h", tmp_path).hotkey.ss58_address


def test_load_errors_name_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(WalletError, match="no directory"):
        load_wallet(WalletConfig(name="nope", hotkey="h", path=tmp_path))
    create_wallet("cold", "h1", tmp_path)
    with pytest.raises(WalletError, match=r"hotkeys/h9"):
        load_wallet(WalletConfig(name="cold", hotkey="h9", path=tmp_path))
    with pytest.raises(WalletError, match="invalid wallet name"):
        create_wallet("a/b", "h", tmp_path)


def test_cli_create_and_show(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["--name", "dev", "--hotkey", "m1", "--path", str(tmp_path)]
    res = runner.invoke(wallet_app, ["create", *args, "--json"])
    assert res.exit_code == 0, res.output
    created = json.loads(res.stdout)
    assert created["name"] == "dev" and created["hotkey_ss58"].startswith("5")
    res = runner.invoke(wallet_app, ["show", *args, "--json"])
    assert res.exit_code == 0 and json.loads(res.stdout) == created
    again = runner.invoke(wallet_app, ["create", *args])
    assert again.exit_code == 1
    assert "already exists" in again.output and "Traceback" not in again.output
    missing = runner.invoke(wallet_app, ["show", "--name", "ghost", "--path", str(tmp_path)])
    assert missing.exit_code == 1 and "not found" in missing.output
