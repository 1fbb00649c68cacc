"""The verdicts `scoring.evaluate` returns, and the steps every verdict shares (refuse, fail, finish)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

from loguru import logger

Status = Literal["ok", "invalid", "error"]
Progress = Callable[[str], None]
METRIC_ERROR = "metric_error"


class Refused(Exception):
    """An anti-gaming check refused the answer (the verdict already says why)."""


class BadReferenceError(ValueError):
    """The reference or input clip (the caller's own file) cannot be used."""


@dataclass
class VerdictBase:
    task_id: str
    status: Status = "ok"
    reasons: list[str] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    vmaf: float | None = None
    vmaf_model: str | None = None
    vmaf_per_frame: dict[int, float] = field(default_factory=dict)
    vmaf_indices: list[int] = field(default_factory=list)
    sha256: str | None = None
    chroma_saturation: float | None = None
    chroma_psnr: float | None = None
    score: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["ok"] = self.ok
        d["vmaf_per_frame"] = {str(k): v for k, v in self.vmaf_per_frame.items()}
        return d


@dataclass
class CompressionVerdict(VerdictBase):
    """Compression response: S_f = w_c(1 - C^1.5) + w_vmaf(VMAF - thr)/(100 - thr), 0 below thr."""

    codec: str = ""
    vmaf_threshold: float = 0.0
    original_size: int = 0
    compressed_size: int = 0
    compression_rate: float | None = None
    compression_term: float = 0.0
    quality_term: float = 0.0
    vmaf_passed: bool = False


@dataclass
class UpscalingVerdict(VerdictBase):
    """Upscaling response: VMAF gate, PIE-APP quality S_Q, length S_L, S_pre and S_F (= score)."""

    scale: int = 2
    content_length: float = 0.0
    vmaf_threshold: float = 0.0
    vmaf_passed: bool = False
    pieapp: float | None = None
    pieapp_per_frame: list[float] = field(default_factory=list)
    pieapp_indices: list[int] = field(default_factory=list)
    pieapp_random_weights: bool = False
    vmaf_neg: float | None = None
    s_q: float = 0.0
    s_l: float = 0.0
    s_pre: float = 0.0
    s_f: float = 0.0


V = TypeVar("V", bound=VerdictBase)


def refuse(verdict: VerdictBase, reason: str, detail: str) -> None:
    """Mark the verdict invalid with one named reason (score 0)."""
    verdict.status = "invalid"
    verdict.reasons = [reason]
    verdict.messages = [f"{reason}: {detail}"]
    verdict.score = 0.0


def metric_failed(verdict: VerdictBase, exc: Exception) -> None:
    verdict.status = "error"
    verdict.reasons = [METRIC_ERROR]
    verdict.messages = [f"{METRIC_ERROR}: {' '.join(str(exc).split())[:500]}"]
    verdict.score = 0.0
    logger.warning("task {}: metric failed: {}", verdict.task_id, verdict.messages[0])


def finished(v: V, kind: str, started: float, extra: str, extra_value: float | None) -> V:
    """Stamp the total time and write the one log line per evaluated task."""
    v.timings["total_s"] = time.monotonic() - started
    logger.info(
        "{} task {}: status={} score={:.4f} vmaf={} {}={} reasons={}",
        kind,
        v.task_id,
        v.status,
        v.score,
        None if v.vmaf is None else round(v.vmaf, 3),
        extra,
        None if extra_value is None else round(extra_value, 4),
        ",".join(v.reasons) or "-",
    )
    return v
