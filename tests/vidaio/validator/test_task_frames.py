"""The task builder prepares each clip's reference frames for every task on it, and releases them with the clip."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from scoring.answer_check import reference_plan
from scoring.config import ScoringConfig
from scoring.media.prepared import frames_dir, load_frames
from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from services.synthesis import PreparedCompression
from tests.media_factory import make_clip
from vidaio.protocol import Capabilities, Codec, TaskType
from vidaio.validator.kinds import ScoringContext
from vidaio.validator.roster import CompressionAssignment, CompressionPlan, KnownMiner
from vidaio.validator.tasks import TaskBuilder, task_id


class _Factory:  # a TaskFactory
    def __init__(self, prepared: PreparedCompression) -> None:
        self.prepared = prepared

    async def aget(self, recipe: Any, timeout: float) -> PreparedCompression:
        return self.prepared


class _Store:
    async def upload(self, path: Path, key: str) -> Any:
        return SimpleNamespace(size=path.stat().st_size)

    async def presign_get(self, key: str, ttl: int) -> Any:
        return SimpleNamespace(url=f"https://bucket/{key}")

    async def delete(self, key: str) -> None:
        return None


async def test_compression_clip_prepares_every_tasks_frames_and_release_removes_them(tmp_path: Path) -> None:
    folder = tmp_path / "clip"
    folder.mkdir()
    ref = make_clip(folder / "ref.mp4", (96, 64), frames=24)
    prepared = PreparedCompression(ref, ref.stat().st_size, 96, 64, 24, 24, 1.0, 0, "test", folder)
    ctx = ScoringContext("secret", ScoringConfig(), MetricsConfig())
    store: Any = _Store()
    factory: Any = _Factory(prepared)
    builder = TaskBuilder(factory, store, hotkey="hk", fps=24, presign_ttl_s=60, timeout_s=10, frames=ctx)
    miners = [KnownMiner(uid, f"hk{uid}", "127.0.0.1:1", 0.0, Capabilities(task_type="compression", codecs=["hevc"]))
              for uid in (3, 8)]  # fmt: skip
    plan = CompressionPlan(
        90.0, 1.0, (96, 64), Codec.HEVC, tuple(CompressionAssignment(m, Codec.HEVC) for m in miners)
    )
    clip = await builder.compression_clip("r1-abc", plan)
    assert clip.frames_job is not None
    await clip.frames_job
    info = probe(ref)
    for uid in (3, 8):
        p = reference_plan(info, task_id("r1-abc", TaskType.COMPRESSION, uid), secret="secret", vmaf_samples=5,
                           pieapp_frames=0, cfg=ctx.metrics)  # fmt: skip
        assert load_frames(ref, p.yuv) is not None, uid
    await builder.release(clip)
    assert not frames_dir(ref).exists() and not folder.exists()


async def test_no_scoring_context_prepares_nothing(tmp_path: Path) -> None:
    ref = make_clip(tmp_path / "ref.mp4", (64, 64), frames=12)
    prepared = PreparedCompression(ref, ref.stat().st_size, 64, 64, 24, 12, 0.5, 0, "test", tmp_path)
    store: Any = _Store()
    factory: Any = _Factory(prepared)
    builder = TaskBuilder(factory, store, hotkey="hk", fps=24, presign_ttl_s=60, timeout_s=10)
    miner = KnownMiner(1, "hk1", "127.0.0.1:1", 0.0, Capabilities(task_type="compression", codecs=["hevc"]))
    plan = CompressionPlan(90.0, 0.5, (64, 64), Codec.HEVC, (CompressionAssignment(miner, Codec.HEVC),))
    clip = await builder.compression_clip("r1-abc", plan)
    assert clip.frames_job is None and not frames_dir(ref).exists()
