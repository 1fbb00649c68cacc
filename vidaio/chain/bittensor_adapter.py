"""ChainPort over a real subtensor through the bittensor v11 SDK (`bt.Client`).

- metagraph: one `SubnetInfoRuntimeApi.get_metagraph` runtime call (`client.subnets.metagraph`).
- hyperparameters: the subnet's weight limits (MaxWeightsLimit, MinAllowedWeights,
  WeightsSetRateLimit, WeightsVersionKey, CommitRevealWeightsEnabled) from storage.
- set_weights: ONE submission of the `SetWeights` intent (registration and rate-limit preflight,
  max-weight clip, u16 quantisation, plaintext or timelocked commit chosen from chain state). No
  retry here, not even a reconnect-and-resubmit: the validator's recorded attempts are the only
  retry layer.
- serve: the `ServeAxon` intent, skipped when the chain already lists the same address (the
  chain rate-limits re-serving).
- connection failures drop the client and reconnect with exponential backoff.

Tests inject a fake `substrate=` (the SDK's documented seam) instead of a websocket endpoint.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from loguru import logger

from vidaio.chain.config import ChainConfig
from vidaio.chain.port import (
    ChainError,
    MetagraphSnapshot,
    NeuronInfo,
    SubnetHyperparameters,
    WeightSetResult,
)

if TYPE_CHECKING:
    import bittensor as bt

T = TypeVar("T")

_RAO_PER_UNIT = 1e9


def _connection_errors() -> tuple[type[BaseException], ...]:
    from bittensor.result import ConnectionNotReady, RpcConnectionError

    return (RpcConnectionError, ConnectionNotReady, ConnectionError, OSError, TimeoutError)


def snapshot_from_metagraph(mg: bt.Metagraph) -> MetagraphSnapshot:
    """Convert the SDK's Metagraph dataclass into our MetagraphSnapshot (stake in alpha units)."""
    neurons = tuple(
        NeuronInfo(
            uid=n.uid,
            hotkey=n.hotkey,
            coldkey=n.coldkey,
            stake=max(0.0, n.total_stake.rao / _RAO_PER_UNIT),
            validator_permit=n.validator_permit,
            axon=n.axon,
            incentive=max(0.0, float(n.incentive)),
        )
        for n in mg.neurons
    )
    return MetagraphSnapshot(netuid=mg.netuid, block=mg.block, neurons=neurons)


def _block_of(result: Any) -> int | None:
    ext_id = getattr(result, "extrinsic_id", None)
    if ext_id and "-" in ext_id:
        head = ext_id.split("-", 1)[0]
        if head.isdigit():
            return int(head)
    return None


class BittensorChain:
    """ChainPort for finney / test / local / a ws URL, acting as `wallet`'s hotkey."""

    def __init__(
        self,
        cfg: ChainConfig,
        wallet: bt.Wallet,
        *,
        substrate: Any | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._cfg = cfg
        self._wallet = wallet
        self._hotkey_ss58: str = wallet.hotkey.ss58_address
        self._substrate = substrate
        self._sleep = sleep
        self._client: bt.Client | None = None
        self._lock = asyncio.Lock()
        self._tempo = 360

    # ---------------------------------------------------------------- connection
    async def _connected(self) -> bt.Client:
        async with self._lock:
            if self._client is None:
                import bittensor as bt

                client = bt.Client(self._cfg.network, substrate=self._substrate)
                await asyncio.wait_for(client.connect(), self._cfg.call_timeout_s)
                logger.info("chain: connected to {} (netuid {})", client.endpoint, self._cfg.netuid)
                self._client = client
            return self._client

    async def _drop(self) -> None:
        async with self._lock:
            client, self._client = self._client, None
        if client is not None:
            try:
                await client.close()
            except Exception as exc:  # closing a broken connection may fail in many ways
                logger.debug("chain: close after failure raised {}", exc)

    async def _call(self, what: str, fn: Callable[[bt.Client], Awaitable[T]], *, retry: bool = True) -> T:
        """Run `fn` on a connected client; reconnect with backoff on connection failures (reads only:
        `retry=False` makes one attempt, for submissions that must not be sent twice)."""
        attempts = self._cfg.reconnect_retries + 1 if retry else 1
        errors = _connection_errors()
        for attempt in range(attempts):
            try:
                client = await self._connected()
                return await asyncio.wait_for(fn(client), self._cfg.call_timeout_s)
            except errors as exc:
                await self._drop()
                if attempt == attempts - 1:
                    raise ChainError(f"{what} failed after {attempts} attempt(s): {exc}") from exc
                delay = self._cfg.reconnect_backoff_s * (2**attempt)
                logger.warning("chain: {} failed ({}); reconnecting in {:.1f}s", what, exc, delay)
                await self._sleep(delay)
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- ChainPort
    @property
    def netuid(self) -> int:
        return self._cfg.netuid

    @property
    def hotkey(self) -> str:
        return self._hotkey_ss58

    @property
    def tempo(self) -> int:
        return self._tempo

    async def current_block(self) -> int:
        return await self._call("current_block", lambda c: c.block())

    async def metagraph(self) -> MetagraphSnapshot:
        netuid = self._cfg.netuid
        mg = await self._call("metagraph", lambda c: c.subnets.metagraph(netuid, commitments=False))
        if mg is None:
            raise ChainError(f"subnet {netuid} does not exist on {self._cfg.network}")
        self._tempo = int(mg.tempo) or self._tempo
        return snapshot_from_metagraph(mg)

    async def is_registered(self, hotkey: str) -> bool:
        from bittensor import storage

        uid = await self._call(
            "is_registered", lambda c: c.query(storage.SubtensorModule.Uids, [self._cfg.netuid, hotkey])
        )
        return uid is not None

    async def hyperparameters(self) -> SubnetHyperparameters:
        from bittensor import storage

        sm, netuid = storage.SubtensorModule, self._cfg.netuid

        async def read(c: bt.Client) -> tuple[Any, ...]:
            return await asyncio.gather(
                c.query(sm.MaxWeightsLimit, [netuid]), c.query(sm.MinAllowedWeights, [netuid]),
                c.query(sm.WeightsSetRateLimit, [netuid]), c.query(sm.WeightsVersionKey, [netuid]),
                c.query(sm.CommitRevealWeightsEnabled, [netuid]),
            )  # fmt: skip

        max_w, min_w, rate, version, commit_reveal = await self._call("hyperparameters", read)
        return SubnetHyperparameters(
            max_weight_limit=65535 if max_w is None else int(max_w),
            min_allowed_weights=int(min_w or 0),
            weights_rate_limit=int(rate or 0),
            weights_version=int(version or 0),
            commit_reveal=bool(commit_reveal),
        )

    async def set_weights(self, weights: dict[int, float], *, version_key: int = 0) -> WeightSetResult:
        """One submission (no retry, no resubmission after a dropped connection): the validator's
        recorded attempts are the only retry layer."""
        import bittensor as bt
        from bittensor.result import BittensorError

        clean = {int(u): float(w) for u, w in weights.items() if w > 0}
        if not clean:
            return WeightSetResult(success=False, message="all weights are zero; nothing to set")
        intent = bt.SetWeights(netuid=self._cfg.netuid, weights=clean, version_key=int(version_key))
        try:
            result = await self._call(
                "set_weights",
                lambda c: c.execute(intent, self._wallet, wait_for_inclusion=True, wait_for_finalization=False),
                retry=False,
            )
        except (BittensorError, ChainError) as exc:  # bt.ChainError (rate limit, not registered...) included
            return WeightSetResult(success=False, message=str(exc))
        if not result.success:
            return WeightSetResult(success=False, message=result.message or "extrinsic failed")
        block = _block_of(result)
        logger.debug("chain: weights set on {} uids (block {}, version_key {})", len(clean), block, version_key)
        return WeightSetResult(success=True, message=result.message or "ok", block=block)

    async def serve(self, ip: str, port: int) -> None:
        import bittensor as bt

        wanted = f"{ip}:{port}"
        snap = await self.metagraph()
        me = snap.by_hotkey(self._hotkey_ss58)
        if me is None:
            raise ChainError(f"hotkey {self._hotkey_ss58} is not registered on netuid {self._cfg.netuid}")
        if me.axon == wanted:
            logger.info("chain: axon {} already served; not re-serving (rate limited on chain)", wanted)
            return
        intent = bt.ServeAxon(netuid=self._cfg.netuid, ip=ip, port=port)
        try:
            result = await self._call(
                "serve", lambda c: c.execute(intent, self._wallet, wait_for_inclusion=True, wait_for_finalization=False)
            )
        except bt.ChainError as exc:
            raise ChainError(f"serve_axon {wanted} failed: {exc}") from exc
        if not result.success:
            raise ChainError(f"serve_axon {wanted} failed: {result.message}")
        logger.info("chain: served axon {}", wanted)

    async def close(self) -> None:
        await self._drop()
