"""The executor seam: what the miner and the validator need from whatever runs their heavy jobs.

`MinerExecutor` runs one whole miner job (safe fetch -> engine -> upload -> presigned URL) and is
implemented by `vidaio.miner.execute.LocalMinerExecutor` (the thread pool of `vidaio.miner.worker`)
and `vidaio.executor.ray_miner.RayMinerExecutor`. `ScoringExecutor` scores one answer and is
implemented by `vidaio.validator.pool.ScorePool` and `vidaio.executor.ray_scoring.RayScorePool`.
"""

from __future__ import annotations

from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from vidaio.miner.execute import JobStats, MinerJob, MinerJobOutcome
    from vidaio.validator.kinds import ScoreJob, Verdict


class ScoringWorkerLost(BrokenProcessPool):
    """Every attempt of a scoring job lost its worker (process or Ray node). A BrokenProcessPool, so the
    judge records it the way it records a crashed local worker: a metric error for that answer."""


class MinerExecutor(Protocol):
    """Runs miner jobs; raises what `vidaio.miner.handler.describe_failure` turns into an error answer."""

    @property
    def active(self) -> int:
        """Jobs submitted and not finished."""
        ...

    async def run(self, job: MinerJob, stats: JobStats | None = None) -> MinerJobOutcome:
        """Fetch, process, upload, presign; the outcome's URL is what the validator gets. `stats`
        gets the sizes as soon as they are known (the local executor; Ray reports them at the end)."""
        ...

    async def shutdown(self, grace_s: float = 0.0) -> int:
        """Refuse new jobs, give running ones `grace_s`, abandon the rest; how many were abandoned."""
        ...


class ScoringExecutor(Protocol):
    """Scores one answer (validation, VMAF, PIE-APP) off the event loop."""

    secret: str  # the validator's sampling secret (the judge samples claim frames with it)

    def start(self) -> ScoringExecutor: ...

    async def call(self, fn: Any, *args: Any) -> Any:
        """`fn(*args)` (a module-level function) where scoring runs, e.g. `scoring.claims.claim_print`."""
        ...

    async def score(self, job: ScoreJob, seen_sha256: tuple[str, ...] = ()) -> Verdict:
        """The verdict of one answer (either task kind: the job carries its own `scoring.evaluate` call)."""
        ...

    def close(self, *, wait: bool = True) -> None: ...
