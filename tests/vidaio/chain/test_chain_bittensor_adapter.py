"""The bittensor adapter through the SDK's own seam: a fake Substrate given to `bt.Client(substrate=...)`.

Asserts the exact extrinsic the SDK would submit and the metagraph parsed from a runtime-API answer.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from bittensor.result import RpcConnectionError
from fake_substrate import FakeSubstrate

from vidaio.chain.bittensor_adapter import BittensorChain
from vidaio.chain.config import ChainConfig
from vidaio.chain.factory import make_chain
from vidaio.chain.port import ChainError, ChainPort
from vidaio.chain.wallets import create_wallet

S = "SubtensorModule"


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # Client.connect writes ~/.bittensor/...


@pytest.fixture(scope="module")
def wallets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("w")
    return {n: create_wallet(n, "hk", root) for n in ("validator", "miner_a", "miner_b")}


def weights_storage(my_hotkey: str, **overrides: Any) -> dict[tuple[str, str], Any]:
    storage: dict[tuple[str, str], Any] = {
        (S, "Uids"): lambda p: 0 if p[1] == my_hotkey else None,
        (S, "CommitRevealWeightsEnabled"): False,
        (S, "WeightsSetRateLimit"): 100,
        (S, "LastUpdate"): [0, 0, 0],
        (S, "MinAllowedWeights"): 1,
        (S, "MaxWeightsLimit"): 65535,
        (S, "SubnetEpochConsensus"): "Yuma",
    }
    storage.update({(S, k): v for k, v in overrides.items()})
    return storage


def metagraph_answer(hotkeys: list[str], coldkeys: list[str]) -> dict[str, Any]:
    """What `SubnetInfoRuntimeApi.get_metagraph` decodes to (the fields the SDK reads)."""
    return {
        "netuid": 7, "name": list(b"vidaio"), "symbol": list(b"V"), "block": 4242, "tempo": 99,
        "last_step": 4200, "blocks_since_last_step": 42, "owner_hotkey": hotkeys[0], "owner_coldkey": coldkeys[0],
        "network_registered_at": 1, "num_uids": 3, "max_uids": 256,
        "hotkeys": hotkeys, "coldkeys": coldkeys,
        "axons": [
            {"ip": 0, "port": 0, "ip_type": 4},
            {"ip": int(ipaddress.IPv4Address("10.1.2.3")), "port": 8091, "ip_type": 4},
            {"ip": int(ipaddress.IPv6Address("2001:db8::1")), "port": 9000, "ip_type": 6},
        ],
        "active": [True, True, True],
        "validator_permit": [True, False, False],
        "total_stake": [2_500 * 10**9, 0, 12 * 10**9],
        "incentives": [0, 65535, 0],
        "last_update": [4000, 0, 0], "block_at_registration": [1, 2, 3],
    }


def chain_for(wallet: Any, fake: FakeSubstrate, **cfg: Any) -> BittensorChain:
    async def no_sleep(_: float) -> None:
        return None

    config = ChainConfig(netuid=7, network="local", reconnect_backoff_s=0, **cfg)
    return BittensorChain(config, wallet, substrate=fake, sleep=no_sleep)


async def test_set_weights_submits_exact_extrinsic(wallets: dict[str, Any]) -> None:
    me = wallets["validator"].hotkey.ss58_address
    fake = FakeSubstrate(storage=weights_storage(me))
    chain = chain_for(wallets["validator"], fake)
    assert isinstance(chain, ChainPort)
    result = await chain.set_weights({1: 0.25, 2: 0.75, 5: 0.0}, version_key=3)
    assert result.success and result.block == 1001
    assert len(fake.submitted) == 1
    call, signer = fake.submitted[0]
    assert signer == me  # signed by the hotkey
    assert (call.module, call.function) == ("SubtensorModule", "set_mechanism_weights")
    assert call.params == {"netuid": 7, "mecid": 0, "dests": [1, 2], "weights": [21845, 65535], "version_key": 3}
    await chain.close()


async def test_set_weights_not_registered_fails_without_submit(wallets: dict[str, Any]) -> None:
    fake = FakeSubstrate(storage=weights_storage("someone-else"))
    result = await chain_for(wallets["validator"], fake).set_weights({1: 1.0})
    assert not result.success and "not registered" in result.message
    assert fake.submitted == []


async def test_set_weights_rate_limited_is_not_retried(wallets: dict[str, Any]) -> None:
    me = wallets["validator"].hotkey.ss58_address
    fake = FakeSubstrate(block=1000, storage=weights_storage(me, LastUpdate=[990, 0, 0]))
    result = await chain_for(wallets["validator"], fake).set_weights({1: 1.0})
    assert not result.success and "rate limit" in result.message
    assert fake.submitted == []
    assert sum(1 for q in fake.queries if q[1] == "WeightsSetRateLimit") == 1  # no retry loop


async def test_set_weights_is_one_submission(wallets: dict[str, Any]) -> None:
    """No retry layer inside the adapter: a rejected extrinsic is reported after one submission."""
    me = wallets["validator"].hotkey.ss58_address
    fake = FakeSubstrate(storage=weights_storage(me), submit_success=False)
    result = await chain_for(wallets["validator"], fake, reconnect_retries=3).set_weights({1: 1.0})
    assert not result.success and "rejected" in result.message
    assert len(fake.submitted) == 1


async def test_hyperparameters_read_from_storage(wallets: dict[str, Any]) -> None:
    me = wallets["validator"].hotkey.ss58_address
    storage = weights_storage(me, MaxWeightsLimit=32768, MinAllowedWeights=4, WeightsSetRateLimit=100,
                              WeightsVersionKey=2031, CommitRevealWeightsEnabled=True)  # fmt: skip
    hp = await chain_for(wallets["validator"], FakeSubstrate(storage=storage)).hyperparameters()
    assert (hp.max_weight_limit, hp.min_allowed_weights, hp.weights_rate_limit, hp.weights_version,
            hp.commit_reveal) == (32768, 4, 100, 2031, True)  # fmt: skip
    assert hp.max_weight == pytest.approx(0.5, abs=1e-4)


async def test_all_zero_weights_are_not_submitted(wallets: dict[str, Any]) -> None:
    fake = FakeSubstrate(storage=weights_storage(wallets["validator"].hotkey.ss58_address))
    result = await chain_for(wallets["validator"], fake).set_weights({1: 0.0})
    assert not result.success and "zero" in result.message and fake.submitted == []


async def test_metagraph_parsed_from_runtime_api(wallets: dict[str, Any]) -> None:
    hks = [wallets[n].hotkey.ss58_address for n in ("validator", "miner_a", "miner_b")]
    cks = [wallets[n].coldkeypub.ss58_address for n in ("validator", "miner_a", "miner_b")]
    fake = FakeSubstrate(metagraph=metagraph_answer(hks, cks))
    chain = chain_for(wallets["validator"], fake)
    snap = await chain.metagraph()
    assert fake.runtime_calls == [("SubnetInfoRuntimeApi", "get_metagraph", [7])]
    assert (snap.netuid, snap.block, chain.tempo) == (7, 4242, 99)
    v, a, b = snap.neurons
    assert (v.uid, v.hotkey, v.coldkey, v.stake, v.validator_permit, v.axon) == (0, hks[0], cks[0], 2500.0, True, None)
    assert (a.axon, a.incentive, a.validator_permit) == ("10.1.2.3:8091", 1.0, False)
    assert b.axon == "[2001:db8::1]:9000" and b.stake == 12.0
    assert snap.by_hotkey(hks[1]) == a and snap.by_uid(2) == b
    assert snap.validators() == [v] and snap.miners() == [a, b]


async def test_missing_subnet_is_chain_error(wallets: dict[str, Any]) -> None:
    with pytest.raises(ChainError, match="does not exist"):
        await chain_for(wallets["validator"], FakeSubstrate(metagraph=None)).metagraph()


async def test_reconnects_after_connection_failure(wallets: dict[str, Any]) -> None:
    fake = FakeSubstrate(block=77)
    fake.fail_next = [RpcConnectionError("socket closed"), RpcConnectionError("socket closed")]
    chain = chain_for(wallets["validator"], fake, reconnect_retries=2)
    assert await chain.current_block() == 77
    assert fake.connects == 3  # first connect + two reconnects
    fake.fail_next = [RpcConnectionError("down")] * 5
    with pytest.raises(ChainError, match="failed after 3 attempt"):
        await chain.current_block()


async def test_serve_publishes_axon_once(wallets: dict[str, Any]) -> None:
    hks = [wallets[n].hotkey.ss58_address for n in ("validator", "miner_a", "miner_b")]
    me = wallets["miner_a"]
    storage = {(S, "Uids"): lambda p: hks.index(p[1]) if p[1] in hks else None}
    fake = FakeSubstrate(storage=storage, metagraph=metagraph_answer(hks, hks))
    chain = chain_for(me, fake)
    await chain.serve("10.1.2.3", 8091)  # already listed with this address: nothing submitted
    assert fake.submitted == []
    await chain.serve("192.168.7.9", 9001)
    call, signer = fake.submitted[0]
    assert signer == hks[1] and call.function == "serve_axon"
    assert call.params["ip"] == int(ipaddress.IPv4Address("192.168.7.9"))
    assert (call.params["port"], call.params["ip_type"], call.params["netuid"]) == (9001, 4, 7)
    assert await chain.is_registered(hks[2]) and not await chain.is_registered(hks[0][::-1])


async def test_make_chain_selects_backend(wallets: dict[str, Any], tmp_path: Path) -> None:
    from vidaio.chain.localnet import LocalnetChain

    w = wallets["validator"]
    local = make_chain(ChainConfig(backend="localnet", localnet_path=tmp_path / "c.sqlite"), w)
    assert isinstance(local, LocalnetChain) and isinstance(local, ChainPort)
    assert local.hotkey == w.hotkey.ss58_address
    real = make_chain(ChainConfig(network="test"), w)
    assert isinstance(real, BittensorChain) and real.hotkey == w.hotkey.ss58_address
