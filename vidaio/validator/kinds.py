"""Task kinds: everything that differs between a compression task and an upscaling task, one object each.

The judge, the scoring pools (local and Ray) and the round loop are generic over a `TaskKind`:

- `byte_cap`: the download cap of an answer (docs/scoring.md#output-validation);
- `recorded`: the task's parameters as recorded with its result (params, VMAF threshold, content length);
- `job`: the scoring job, a picklable `ScoreJob` (its files and its `scoring.evaluate` call);
- `result_fields`: the verdict -> the metric fields of the `RoundResult`;
- `claim_key` / `claim_codec`: which answers answer the same task (near-copy detection) and the codec
  whose near-copy limit applies;
- `log_fields`: the metric fields of the validator's `task` log line;
- `groups` / `clip` / `tasks`: the kind's clip groups in the round plan, how a group's clip is
  prepared, and the protocol task of each miner of the group (its parameters and deadline).

`kind_of(task)` (a protocol task) and `KINDS[task_type]` find the kind.
"""

from __future__ import annotations

import dataclasses
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, cast

from scoring.config import ScoringConfig
from scoring.evaluate import CompressionVerdict, UpscalingVerdict, evaluate_compression, evaluate_upscaling
from scoring.metrics.config import MetricsConfig
from vidaio.protocol import CompressionTask, TaskType, UpscalingTask

if TYPE_CHECKING:
    from vidaio.db.types import RoundResult
    from vidaio.validator.config import ValidatorSettings
    from vidaio.validator.roster import CompressionPlan, KnownMiner, RoundPlan, UpscalingGroup
    from vidaio.validator.tasks import TaskBuilder, TaskClip

Verdict = CompressionVerdict | UpscalingVerdict
Task = CompressionTask | UpscalingTask


class Assigned(Protocol):
    """What a kind reads from a miner's assignment (`vidaio.validator.dispatch.Assignment`)."""

    @property
    def task(self) -> Task: ...

    @property
    def clip(self) -> TaskClip: ...

    @property
    def task_id(self) -> str: ...


@dataclass(frozen=True)
class ScoringContext:
    """What every scoring job needs besides its own inputs: the sampling secret and the configs."""

    secret: str
    scoring: ScoringConfig
    metrics: MetricsConfig


class ScoreJob(Protocol):
    """One answer to score: picklable (it travels to a scoring process or a Ray node)."""

    task_id: str
    reference: Path
    distorted: Path

    def files(self) -> dict[str, Path]:
        """The job's files by field name; `distorted` is the miner's answer, the others the validator's clips."""
        ...

    def with_files(self, files: Mapping[str, Path]) -> ScoreJob:
        """The same job on copies of its files (a Ray node writes them to its own scratch dir)."""
        ...

    def run(self, seen: tuple[str, ...], ctx: ScoringContext, metric: Any = None) -> Verdict:
        """`scoring.evaluate` on this answer; `metric` is the PIE-APP metric to use (None: the process's own)."""
        ...


@dataclass(frozen=True)
class CompressionJob:
    reference: Path
    distorted: Path
    vmaf_threshold: float
    codec: str
    task_id: str
    url: str | None = None

    def files(self) -> dict[str, Path]:
        return {"reference": self.reference, "distorted": self.distorted}

    def with_files(self, files: Mapping[str, Path]) -> CompressionJob:
        return dataclasses.replace(self, **files)  # type: ignore[arg-type]

    def run(self, seen: tuple[str, ...], ctx: ScoringContext, metric: Any = None) -> CompressionVerdict:
        return evaluate_compression(
            self.reference, self.distorted, vmaf_threshold=self.vmaf_threshold, codec=self.codec,
            task_id=self.task_id, secret=ctx.secret, scoring_cfg=ctx.scoring, metrics_cfg=ctx.metrics,
            seen_sha256=seen, url=self.url,
        )  # fmt: skip


@dataclass(frozen=True)
class UpscalingJob:
    reference: Path
    distorted: Path
    input_path: Path
    scale: int
    content_length: float
    task_id: str
    url: str | None = None

    def files(self) -> dict[str, Path]:
        return {"reference": self.reference, "distorted": self.distorted, "input_path": self.input_path}

    def with_files(self, files: Mapping[str, Path]) -> UpscalingJob:
        return dataclasses.replace(self, **files)  # type: ignore[arg-type]

    def run(self, seen: tuple[str, ...], ctx: ScoringContext, metric: Any = None) -> UpscalingVerdict:
        return evaluate_upscaling(
            self.reference, self.distorted, input_path=self.input_path, scale=self.scale,
            content_length=self.content_length, task_id=self.task_id, secret=ctx.secret, scoring_cfg=ctx.scoring,
            metrics_cfg=ctx.metrics, pieapp_metric=metric, seen_sha256=seen, url=self.url,
        )  # fmt: skip


def clamp(value: float | None, lo: float = 0.0, hi: float | None = None) -> float | None:
    if value is None:
        return None
    value = max(lo, float(value))
    return min(hi, value) if hi is not None else value


class TaskKind(ABC):
    """What one task type does differently; stateless (one instance per type, in `KINDS`)."""

    task_type: ClassVar[TaskType]
    task_class: ClassVar[type[CompressionTask] | type[UpscalingTask]]

    @abstractmethod
    def groups(self, plan: RoundPlan) -> Sequence[Any]:
        """This kind's clip groups in the round plan (each shares one clip)."""

    @abstractmethod
    def clip(self, builder: TaskBuilder, round_id: str, group: Any) -> Awaitable[TaskClip]:
        """Prepare and upload the group's clip."""

    @abstractmethod
    def tasks(
        self, round_id: str, group: Any, clip: TaskClip, s: ValidatorSettings
    ) -> list[tuple[KnownMiner, Task]]:
        """Each miner of the group and its protocol task on `clip`."""

    @abstractmethod
    def byte_cap(self, a: Assigned, metrics: MetricsConfig) -> int:
        """The most bytes the validator downloads for an answer to `a`."""

    @abstractmethod
    def recorded(self, a: Assigned, *, upscaling_gate: float) -> tuple[dict[str, Any], float, float]:
        """(params, VMAF threshold, content length in seconds) recorded with every result of `a`."""

    @abstractmethod
    def job(self, a: Assigned, answer: Path, url: str | None) -> ScoreJob:
        """The scoring job of the downloaded answer `answer` to `a`."""

    @abstractmethod
    def _metric_fields(self, v: Verdict, params: dict[str, Any]) -> dict[str, Any]:
        """The type's own metric fields of the result (may note facts in the recorded `params`)."""

    def result_fields(self, v: Verdict, params: dict[str, Any]) -> dict[str, Any]:
        """The verdict's metric fields for the `RoundResult` (bounded as the table's checks require)."""
        return {"vmaf": clamp(v.vmaf, 0.0, 100.0), **self._metric_fields(v, params)}

    @abstractmethod
    def claim_key(self, a: Assigned) -> str:
        """Answers with the same key answer the same task (same clip and parameters), so may be one claim."""

    @abstractmethod
    def claim_codec(self, a: Assigned) -> str | None:
        """The codec whose near-copy limit applies (None: the miner chose it; the strictest limit applies)."""

    @abstractmethod
    def log_fields(self, result: RoundResult) -> dict[str, Any]:
        """The type's metric fields in the validator's `task` log line."""


class CompressionKind(TaskKind):
    task_type = TaskType.COMPRESSION
    task_class = CompressionTask

    @staticmethod
    def _task(a: Assigned) -> CompressionTask:
        return cast(CompressionTask, a.task)

    def groups(self, plan: RoundPlan) -> Sequence[CompressionPlan]:
        return () if plan.compression is None else (plan.compression,)

    def clip(self, builder: TaskBuilder, round_id: str, group: CompressionPlan) -> Awaitable[TaskClip]:
        return builder.compression_clip(round_id, group)

    def tasks(
        self, round_id: str, group: CompressionPlan, clip: TaskClip, s: ValidatorSettings
    ) -> list[tuple[KnownMiner, Task]]:
        from vidaio.validator.tasks import compression_task  # the S3 client stays out of scoring workers

        return [
            (ca.miner, compression_task(round_id, ca.miner.uid, clip, codec=ca.codec, threshold=group.threshold,
                                        deadline_s=s.compression_deadline_s))
            for ca in group.assignments
        ]  # fmt: skip

    def byte_cap(self, a: Assigned, metrics: MetricsConfig) -> int:
        # the original's size (the input *is* the original); validation then requires < original, so a
        # copy of the original is still named same_as_reference
        return max(1, a.clip.input_size)

    def recorded(self, a: Assigned, *, upscaling_gate: float) -> tuple[dict[str, Any], float, float]:
        task = self._task(a)
        params: dict[str, Any] = {**a.clip.params, "codec": task.codec.value}
        return params, task.vmaf_threshold, float(a.clip.params.get("seconds", 0.0))  # type: ignore[arg-type]

    def job(self, a: Assigned, answer: Path, url: str | None) -> CompressionJob:
        task = self._task(a)
        return CompressionJob(a.clip.reference, answer, task.vmaf_threshold, task.codec.value, a.task_id, url)

    def _metric_fields(self, v: Verdict, params: dict[str, Any]) -> dict[str, Any]:
        return {"compression_rate": clamp(cast(CompressionVerdict, v).compression_rate)}

    def claim_key(self, a: Assigned) -> str:
        task = self._task(a)
        return f"{a.clip.group_id}/{task.codec.value}/{task.vmaf_threshold:g}"

    def claim_codec(self, a: Assigned) -> str | None:
        return self._task(a).codec.value

    def log_fields(self, result: RoundResult) -> dict[str, Any]:
        return {"c": result.compression_rate}


class UpscalingKind(TaskKind):
    task_type = TaskType.UPSCALING
    task_class = UpscalingTask

    @staticmethod
    def _task(a: Assigned) -> UpscalingTask:
        return cast(UpscalingTask, a.task)

    def groups(self, plan: RoundPlan) -> Sequence[UpscalingGroup]:
        return plan.upscaling

    def clip(self, builder: TaskBuilder, round_id: str, group: UpscalingGroup) -> Awaitable[TaskClip]:
        return builder.upscaling_clip(round_id, group)

    def tasks(
        self, round_id: str, group: UpscalingGroup, clip: TaskClip, s: ValidatorSettings
    ) -> list[tuple[KnownMiner, Task]]:
        from vidaio.validator.tasks import upscaling_task  # the S3 client stays out of scoring workers

        return [
            (m, upscaling_task(round_id, m.uid, clip, group, s.upscaling_deadline_s)) for m in group.miners
        ]

    def byte_cap(self, a: Assigned, metrics: MetricsConfig) -> int:
        # 8x/20x the input (docs/scoring.md#output-validation)
        return max(1, int(metrics.max_size_ratio(self._task(a).scale) * a.clip.input_size))

    def recorded(self, a: Assigned, *, upscaling_gate: float) -> tuple[dict[str, Any], float, float]:
        return dict(a.clip.params), upscaling_gate, float(self._task(a).content_length)

    def job(self, a: Assigned, answer: Path, url: str | None) -> UpscalingJob:
        task = self._task(a)
        return UpscalingJob(
            a.clip.reference,
            answer,
            a.clip.input_path,
            task.scale,
            float(task.content_length),
            a.task_id,
            url,
        )

    def _metric_fields(self, v: Verdict, params: dict[str, Any]) -> dict[str, Any]:
        u = cast(UpscalingVerdict, v)
        fields: dict[str, Any] = {"pieapp": clamp(u.pieapp), "s_l": clamp(u.s_l, 0.0, 1.0)}
        if u.status == "ok":
            fields["s_q"] = clamp(u.s_q, 0.0, 1.0)
        if u.pieapp_random_weights:
            params["pieapp_random_weights"] = True
        return fields

    def claim_key(self, a: Assigned) -> str:
        task = self._task(a)
        return f"{a.clip.group_id}/x{task.scale}/{task.content_length:g}"

    def claim_codec(self, a: Assigned) -> str | None:
        return None

    def log_fields(self, result: RoundResult) -> dict[str, Any]:
        return {"pieapp": result.pieapp}


KINDS: Mapping[TaskType, TaskKind] = {k.task_type: k for k in (CompressionKind(), UpscalingKind())}
_BY_CLASS: Mapping[type, TaskKind] = {k.task_class: k for k in KINDS.values()}


def kind_of(task: Task) -> TaskKind:
    """The kind of a protocol task."""
    return _BY_CLASS[type(task)]
