"""Sending tasks to miners under deadlines, and naming every way an answer can fail.

`dispatch` never raises: it returns an `Answer` with the client's typed outcome and the moment it
arrived (arrival order decides who submitted an output first). The judge's `answer_failure` maps a
failed outcome to the (status, reason) stored in `miner_round_history`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from loguru import logger

from vidaio.protocol import CompressionTask, TaskResult, TaskType, UpscalingTask
from vidaio.transport.client import DispatchResult, MinerClient
from vidaio.validator.kinds import TaskKind, kind_of
from vidaio.validator.roster import KnownMiner
from vidaio.validator.tasks import TaskClip

MAX_REASON = 500


@dataclass(frozen=True)
class Assignment:
    """One miner's task in a round, on a shared clip."""

    miner: KnownMiner
    task: CompressionTask | UpscalingTask
    clip: TaskClip

    @property
    def kind(self) -> TaskKind:
        return kind_of(self.task)

    @property
    def task_type(self) -> TaskType:
        return self.kind.task_type

    @property
    def task_id(self) -> str:
        return self.task.task_id


@dataclass(frozen=True)
class Answer:
    """What came back for an assignment, and when (monotonic seconds)."""

    assignment: Assignment
    result: DispatchResult
    arrived_at: float

    @property
    def output(self) -> TaskResult | None:
        r = self.result.result
        return r if self.result.ok and isinstance(r, TaskResult) else None


# Transport failures worth one immediate retry: a pooled keep-alive connection that the miner's
# server closed while idle (uvicorn: after 5 s) fails with one of these before any answer
# (measured: "ReadError" with 128 miners on a loaded event loop). Only early failures are retried,
# so a miner that crashed mid-task does not get a second full deadline.
_STALE_CONNECTION = ("ReadError", "RemoteProtocolError", "WriteError", "ConnectError")
STALE_RETRY_WINDOW_S = 5.0


def _retry_once(result: DispatchResult) -> bool:
    """A failure that says the miner never started the task: a stale pooled connection, or a
    signature that reached the miner after its freshness window (HTTP 401, our event loop lagged)."""
    if result.kind == "refused" and result.status_code == 401:
        return "older than" in result.reason  # can only happen >= 10 s after signing: no time window
    return (
        result.kind == "error"
        and result.status_code is None
        and result.elapsed_s < STALE_RETRY_WINDOW_S
        and result.reason.startswith(_STALE_CONNECTION)
    )


async def dispatch(client: MinerClient, assignment: Assignment, *, grace_s: float = 2.0) -> Answer:
    """Send the task and wait for the answer (deadline + grace); never raises.

    Retried once when the miner cannot have started: a stale pooled connection failing within
    `STALE_RETRY_WINDOW_S`, or a stale signature (HTTP 401: the request reached the miner too late).
    """
    m = assignment.miner
    result = DispatchResult(kind="error", reason="not sent")
    for attempt in (1, 2):
        try:
            result = await client.send_task(m.axon, m.hotkey, assignment.task, assignment.task.deadline_s + grace_s)
        except Exception as exc:  # the client is documented not to raise; keep one miner from failing the round
            result = DispatchResult(kind="error", reason=f"{type(exc).__name__}: {exc}"[:MAX_REASON])
        if attempt == 2 or not _retry_once(result):
            break
        logger.debug("task {} -> uid {}: {}; retrying once", assignment.task_id, m.uid, result.reason)
    return Answer(assignment, result, time.monotonic())

