"""Picks the executor of a daemon from its settings; the Ray modules are imported only for `ray`."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scoring.config import ScoringConfig
    from scoring.metrics.config import MetricsConfig
    from vidaio.executor.base import MinerExecutor, ScoringExecutor
    from vidaio.executor.config import RaySettings
    from vidaio.miner.config import MinerConfig
    from vidaio.storage.s3 import S3Store
    from vidaio.validator.config import ValidatorSettings


class ExecutorStartupError(RuntimeError):
    """The configured executor cannot start; the message says what to fix."""


def _require_ray() -> None:
    import importlib.util

    if importlib.util.find_spec("ray") is None:
        raise ExecutorStartupError("executor=ray needs the ray extra: pip install -e '.[ray]' (make setup installs it)")


async def build_miner_executor(cfg: MinerConfig, storage: S3Store) -> MinerExecutor:
    """`local`: the engines loaded here and the worker pool; `ray`: actors on the cluster's worker nodes."""
    s = cfg.miner
    ffmpeg = str(cfg.metrics.ffmpeg_path) if cfg.metrics.ffmpeg_path else None
    if s.executor == "ray":
        _require_ray()
        from vidaio.executor.cluster import ClusterError
        from vidaio.executor.ray_miner import RayMinerExecutor

        executor = RayMinerExecutor(s, cfg.storage, cfg.fetch, ffmpeg, cfg.ray)
        try:
            return await executor.start()
        except ClusterError as exc:
            await executor.shutdown()
            raise ExecutorStartupError(str(exc)) from None
    from vidaio.miner.execute import LocalMinerExecutor, MinerEngines
    from vidaio.miner.worker import WorkerPool
    from vidaio.protocol import TaskType

    upscaler = None
    if s.task_type is TaskType.UPSCALING:
        from services.upscaling import build_engine

        settings = s.upscale_settings(cfg.metrics.ffmpeg_path)
        try:
            upscaler = await asyncio.to_thread(build_engine, settings)
        except Exception as exc:
            raise ExecutorStartupError(f"upscaling engine {settings.engine!r} cannot start: {exc}") from None
    return LocalMinerExecutor(
        engines=MinerEngines(s, upscaler), storage=storage, pool=WorkerPool(s.cpu_workers, s.gpu_workers),
        fetch_cfg=cfg.fetch, work_dir=Path(s.work_dir),
    )  # fmt: skip


async def build_scoring_executor(
    settings: ValidatorSettings, ray_cfg: RaySettings, secret: str, scoring: ScoringConfig, metrics: MetricsConfig,
    log_level: str = "INFO",
) -> ScoringExecutor:  # fmt: skip
    """`local`: the validator's ScorePool (processes or threads); `ray`: scoring actors on the worker nodes."""
    if settings.executor == "ray":
        _require_ray()
        from vidaio.executor.cluster import ClusterError
        from vidaio.executor.ray_scoring import RayScorePool

        pool = RayScorePool(secret, scoring, metrics, ray_cfg)
        try:
            return await pool.connect()
        except ClusterError as exc:
            pool.close()
            raise ExecutorStartupError(str(exc)) from None
    from vidaio.validator.pool import ScorePool

    return ScorePool(
        secret, scoring, metrics, workers=settings.score_workers, kind=settings.score_executor,
        torch_threads=settings.score_torch_threads, log_level=log_level,
    ).start()  # fmt: skip
