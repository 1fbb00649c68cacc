"""What the miner server calls: the TaskHandler protocol and the verified caller's identity."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from vidaio.protocol import Capabilities, CompressionTask, TaskError, TaskResult, UpscalingTask


class CallerInfo(BaseModel):
    """The validator behind an admitted request (signature verified, admission passed)."""

    model_config = ConfigDict(frozen=True)

    hotkey: str
    uid: int
    stake: float
    nonce_ns: int


@runtime_checkable
class TaskHandler(Protocol):
    """The miner's work, plugged into `build_miner_app`."""

    async def capabilities(self) -> Capabilities: ...

    async def handle_upscaling(self, task: UpscalingTask, caller: CallerInfo) -> TaskResult | TaskError: ...

    async def handle_compression(self, task: CompressionTask, caller: CallerInfo) -> TaskResult | TaskError: ...
