"""An in-memory stand-in for the bittensor v11 `Substrate` seam (`bt.Client(substrate=...)`).

It answers only what our adapter asks for: the storage items the SetWeights/ServeAxon intents
preflight, the `SubnetInfoRuntimeApi.get_metagraph` runtime call, and it records every composed
and submitted call so tests can assert the exact extrinsic.
"""

from __future__ import annotations

from typing import Any

from bittensor import Balance, ExtrinsicResult


class FakeSubstrate:
    def __init__(self, *, block: int = 1000, storage: dict[tuple[str, str], Any] | None = None,
                 metagraph: dict[str, Any] | None = None, submit_success: bool = True) -> None:
        self.token_symbols: dict[int, str] = {}
        self.block = block
        self.storage = storage or {}
        self.metagraph = metagraph
        self.submit_success = submit_success
        self.composed: list[Any] = []
        self.submitted: list[tuple[Any, str]] = []
        self.queries: list[tuple[str, str, list | None]] = []
        self.runtime_calls: list[tuple[str, str, list]] = []
        self.connects = 0
        self.fail_next: list[BaseException] = []

    def balance(self, rao: int, netuid: int = 0) -> Balance:
        return Balance(rao, netuid)

    async def connect(self) -> None:
        self.connects += 1

    async def close(self) -> None:
        return None

    def _maybe_fail(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    async def block_hash(self, block: int | None = None) -> str:
        return f"0x{(block if block is not None else self.block):064x}"

    async def block_number(self) -> int:
        self._maybe_fail()
        return self.block

    async def finalized_block_number(self) -> int:
        return self.block

    async def block_time(self) -> float:
        return 12.0

    async def query(self, module: str, storage_function: str, params: list | None = None,
                    block_hash: str | None = None) -> Any:
        self._maybe_fail()
        self.queries.append((module, storage_function, params))
        value = self.storage.get((module, storage_function))
        if callable(value):
            return value(params)
        return value

    async def query_map(self, module: str, storage_function: str, params: list | None = None,
                        block_hash: str | None = None) -> list[tuple[Any, Any]]:
        self.queries.append((module, storage_function, params))
        return []

    async def runtime_call(self, api: str, method: str, params: list, block_hash: str | None = None) -> Any:
        self._maybe_fail()
        self.runtime_calls.append((api, method, params))
        if (api, method) == ("SubnetInfoRuntimeApi", "get_metagraph"):
            return self.metagraph
        raise NotImplementedError(f"{api}.{method}")

    async def compose(self, call: Any) -> Any:
        self.composed.append(call)
        return call

    async def estimate_fee(self, call: Any, keypair: Any) -> Balance:
        return Balance(1000)

    async def submit(self, call: Any, keypair: Any, *, nonce: int | None = None, period: int | None = None,
                     wait_for_inclusion: bool = True, wait_for_finalization: bool = True) -> ExtrinsicResult:
        self.submitted.append((call, keypair.ss58_address))
        if not self.submit_success:
            return ExtrinsicResult(success=False, message="rejected by fake")
        return ExtrinsicResult(success=True, message="ok", extrinsic_id=f"{self.block + 1}-3")
