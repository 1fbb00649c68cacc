"""Task clips from synthesis, uploaded to the validator's bucket, and the protocol tasks built on them.

A `TaskClip` is one prepared clip shared by a group of miners (all compression miners of a round,
or one upscaling group): its local files (reference, input) and its presigned input URL. Its
`release()` deletes the uploaded object and the local files; the round calls it after scoring.

With a scoring context (`frames`), the builder also decodes, once per clip and in the background
while the miners work, the reference frames every task on the clip will sample
(`scoring.answer_check.prepare_reference`): scoring workers on this host then read them instead of
decoding the reference for each answer. They live next to the reference, in the clip's directory,
so `release()` removes them with it; a Ray node (its own copy of the reference) decodes as before.

Ids are deterministic: `round_id` names the round, a task id is `{round_id}-c{uid}` (compression)
or `{round_id}-u{uid}` (upscaling), so a restarted validator never records a result twice.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from loguru import logger

from scoring.config import ScoringConfig
from scoring.metrics.config import MetricsConfig
from services.synthesis import (
    CompressionRecipe,
    PreparedCompression,
    PreparedUpscaling,
    TaskFactory,
    UpscalingRecipe,
)
from vidaio.protocol import Codec, CompressionTask, TaskType, UpscalingTask
from vidaio.storage.errors import StorageError
from vidaio.storage.s3 import S3Store, object_key
from vidaio.validator.roster import CompressionPlan, UpscalingGroup


class FrameContext(Protocol):
    """What preparing reference frames needs (`vidaio.validator.kinds.ScoringContext` is one)."""

    @property
    def secret(self) -> str: ...

    @property
    def scoring(self) -> ScoringConfig: ...

    @property
    def metrics(self) -> MetricsConfig: ...


# the most bytes of decoded reference frames prepared per clip (1080p: 3.1 MB a frame, so a whole
# 10 s clip fits; 4K: ~80 frames); tasks past it decode the reference themselves
PREPARED_FRAMES_MAX_BYTES = 1 << 30


def make_round_id(block: int, now: float | None = None) -> str:
    """`r{block}-{unix ms in hex}`: unique across restarts, sortable within a block."""
    ms = int((time.time() if now is None else now) * 1000)
    return f"r{block}-{ms:x}"


def task_id(round_id: str, task_type: TaskType, uid: int) -> str:
    """The id of a miner's task in a round (deterministic per round and uid)."""
    return f"{round_id}-{'c' if task_type is TaskType.COMPRESSION else 'u'}{uid}"


@dataclass
class TaskClip:
    """One prepared clip, shared by a group of miners, and where they download it."""

    group_id: str
    task_type: TaskType
    prepared: PreparedCompression | PreparedUpscaling
    input_path: Path
    input_key: str = ""
    input_url: str = ""
    input_size: int = 0
    params: dict[str, object] = field(default_factory=dict)
    frames_job: asyncio.Task[None] | None = field(default=None, repr=False, compare=False)

    @property
    def reference(self) -> Path:
        return self.prepared.reference


class TaskBuilder:
    """Gets prepared clips from the factory, uploads their inputs, and cleans both up."""

    def __init__(
        self,
        factory: TaskFactory,
        store: S3Store,
        *,
        hotkey: str,
        fps: int,
        presign_ttl_s: int,
        timeout_s: float,
        frames: FrameContext | None = None,
    ) -> None:
        self.factory = factory
        self.store = store
        self.hotkey = hotkey
        self.fps = fps
        self.presign_ttl_s = presign_ttl_s
        self.timeout_s = timeout_s
        self.frames = frames

    async def compression_clip(self, round_id: str, plan: CompressionPlan) -> TaskClip:
        recipe = CompressionRecipe(plan.size, plan.seconds, self.fps)
        task = await self.factory.aget(recipe, timeout=self.timeout_s)
        assert isinstance(task, PreparedCompression)
        clip = TaskClip(
            group_id="comp",
            task_type=TaskType.COMPRESSION,
            prepared=task,
            input_path=task.reference,
            params={
                "vmaf_threshold": plan.threshold,
                "seconds": plan.seconds,
                "size": [task.width, task.height],
                "frames": task.frames,
                "original_size": task.size_bytes,
            },
        )
        ids = [task_id(round_id, TaskType.COMPRESSION, ca.miner.uid) for ca in plan.assignments]
        return self._prepare_frames(await self._upload(round_id, clip), ids, pieapp_frames=0)

    async def upscaling_clip(self, round_id: str, group: UpscalingGroup) -> TaskClip:
        g = group.geometry
        recipe = UpscalingRecipe((g.in_w, g.in_h), g.scale, float(group.content_length), self.fps)
        task = await self.factory.aget(recipe, timeout=self.timeout_s)
        assert isinstance(task, PreparedUpscaling)
        clip = TaskClip(
            group_id=f"up{group.index}",
            task_type=TaskType.UPSCALING,
            prepared=task,
            input_path=task.input,
            params={
                "upscaling_type": group.kind.value,
                "scale": g.scale,
                "content_length": group.content_length,
                "in_size": [g.in_w, g.in_h],
                "out_size": [g.out_w, g.out_h],
                "frames": task.frames,
                "group": group.index,
            },
        )
        ids = [task_id(round_id, TaskType.UPSCALING, m.uid) for m in group.miners]
        pieapp = self.frames.scoring.pieapp_frames if self.frames is not None else 0
        return self._prepare_frames(await self._upload(round_id, clip), ids, pieapp_frames=pieapp)

    def _prepare_frames(self, clip: TaskClip, task_ids: list[str], *, pieapp_frames: int) -> TaskClip:
        """Start decoding the clip's reference frames for `task_ids` in the background (see the module doc)."""
        ctx = self.frames
        if ctx is None or not task_ids:
            return clip

        def prepare() -> None:
            from scoring.answer_check import prepare_reference
            from scoring.media.probe import probe

            t0 = time.monotonic()
            try:
                done = prepare_reference(
                    probe(clip.reference), task_ids, secret=ctx.secret, vmaf_samples=ctx.scoring.vmaf_samples,
                    pieapp_frames=pieapp_frames, cfg=ctx.metrics, max_bytes=PREPARED_FRAMES_MAX_BYTES,
                )  # fmt: skip
            except Exception as exc:  # scoring decodes the reference itself
                logger.warning("clip {}: reference frames not prepared: {}", clip.group_id, exc)
                return
            if done is not None:
                logger.debug("clip {}: {} reference frames ({} MB) prepared for {} task(s) in {:.1f} s",
                             clip.group_id, len(done.yuv | done.rgb), done.bytes >> 20, len(task_ids),
                             time.monotonic() - t0)  # fmt: skip

        clip.frames_job = asyncio.create_task(asyncio.to_thread(prepare))
        return clip

    async def _upload(self, round_id: str, clip: TaskClip) -> TaskClip:
        try:
            key = object_key(self.hotkey, round_id, clip.group_id)
            obj = await self.store.upload(clip.input_path, key)
            clip.input_key, clip.input_size = key, obj.size
            clip.input_url = (await self.store.presign_get(key, self.presign_ttl_s)).url
        except BaseException:
            await self.release(clip)
            raise
        return clip

    async def release(self, clip: TaskClip) -> None:
        """Delete the uploaded input (best effort, logged) and the clip's local files."""
        if clip.frames_job is not None:  # its thread writes into the clip's directory: let it finish first
            await asyncio.gather(clip.frames_job, return_exceptions=True)
        if clip.input_key:
            try:
                await self.store.delete(clip.input_key)
            except StorageError as exc:
                logger.warning("could not delete task input {}: {}", clip.input_key, exc)
        await asyncio.to_thread(clip.prepared.remove)


def compression_task(
    round_id: str, uid: int, clip: TaskClip, *, codec: Codec, threshold: float, deadline_s: float
) -> CompressionTask:
    return CompressionTask(
        task_id=task_id(round_id, TaskType.COMPRESSION, uid),
        round_id=round_id,
        input_url=clip.input_url,
        vmaf_threshold=threshold,
        codec=codec,
        deadline_s=deadline_s,
    )


def upscaling_task(
    round_id: str, uid: int, clip: TaskClip, group: UpscalingGroup, deadline_s: float
) -> UpscalingTask:
    return UpscalingTask(
        task_id=task_id(round_id, TaskType.UPSCALING, uid),
        round_id=round_id,
        input_url=clip.input_url,
        task_type=group.kind,
        scale=group.geometry.scale,
        content_length=group.content_length,
        deadline_s=deadline_s,
    )
