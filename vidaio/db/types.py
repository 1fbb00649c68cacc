"""Values passed to and returned by the repository (validated at the boundary)."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scoring.task_type import TaskType

OK_STATUS = "ok"
"""The status of a valid, scored response; any other status is a failed round (score 0)."""

RoundStatus = Literal["running", "finished", "failed", "interrupted"]

_OPTIONAL_METRICS = (
    "vmaf",
    "pieapp",
    "s_q",
    "s_l",
    "compression_rate",
    "vmaf_threshold",
    "content_length",
    "processing_time_s",
)


class RoundResult(BaseModel):
    """One miner's result for one task, as the validator scored it.

    `score` is S_F (upscaling) or S_f (compression), 0 when the round failed. Metrics that were
    not measured (a timeout, an invalid output) are None; the window then counts them as 0.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    round_id: str = Field(
        min_length=1, max_length=64, description="The validator round this task belongs to."
    )
    task_id: str = Field(min_length=1, max_length=128, description="Unique id of the task (idempotency key).")
    uid: int = Field(ge=0, le=65_535, description="Miner uid on the subnet.")
    hotkey: str = Field(
        min_length=1, max_length=64, description="Miner hotkey (ss58) at the time of the task."
    )
    task_type: TaskType
    params: dict[str, Any] = Field(default_factory=dict, description="Task parameters (stored as JSON).")
    status: str = Field(
        pattern=r"^[a-z][a-z0-9_]{0,31}$", description="'ok' for a scored response, else why it failed."
    )
    reason: str | None = Field(None, max_length=2_000, description="Why the round failed or scored 0.")
    score: float = Field(ge=0.0, description="S_F or S_f of the round (0 on failure).")
    vmaf: float | None = Field(None, ge=0.0, le=100.0)
    pieapp: float | None = Field(None, ge=0.0)
    s_q: float | None = Field(None, ge=0.0, le=1.0)
    s_l: float | None = Field(None, ge=0.0, le=1.0)
    compression_rate: float | None = Field(None, ge=0.0)
    vmaf_threshold: float | None = Field(None, ge=0.0, lt=100.0)
    content_length: float | None = Field(None, ge=0.0)
    processing_time_s: float | None = Field(None, ge=0.0)

    @field_validator("score", *_OPTIONAL_METRICS)
    @classmethod
    def _finite(cls, value: float | None) -> float | None:
        if value is not None and not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value!r}")
        return value

    @field_validator("params")
    @classmethod
    def _json_params(cls, value: dict[str, Any]) -> dict[str, Any]:
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"task parameters must be JSON-serialisable: {exc}") from None
        return value

    @model_validator(mode="after")
    def _failed_scores_zero(self) -> RoundResult:
        if self.status != OK_STATUS and self.score != 0.0:
            raise ValueError(f"a round with status {self.status!r} must have score 0, got {self.score}")
        return self

    @property
    def succeeded(self) -> bool:
        return self.status == OK_STATUS


class RecordOutcome(BaseModel):
    """What `Repository.record_result` did."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    uid: int
    recorded: bool = Field(description="False when the task_id was already recorded (nothing changed).")
    hotkey_reset: bool = Field(
        False, description="The uid had another hotkey: its history and score were reset."
    )
    task_type_changed: bool = Field(
        False, description="The miner switched task type: its score restarted at 0."
    )
    adjusted_score: float = Field(
        description="Round score x total multiplier of the window incl. this round."
    )
    total_multiplier: float
    accumulate_score: float
    performance_tier: str
    total_rounds_completed: int


class WeightSetRecord(BaseModel):
    """One logged attempt to set weights."""

    model_config = ConfigDict(frozen=True)

    id: int
    round_id: str | None
    block: int | None
    attempt: int
    weights: dict[int, float]
    success: bool
    message: str | None
    created_at: datetime
    split: dict[str, Any] | None = None
    """Pool split of the attempt: target and effective (after u16 quantisation) shares, whether the
    target was kept, and the chain limits and version_key it was set under."""


class PruneReport(BaseModel):
    """Rows deleted by `Repository.prune`."""

    model_config = ConfigDict(frozen=True)

    history_rows: int
    rounds: int
    weight_sets: int


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """A DB row with datetimes (naive UTC) as ISO-8601 strings ending in Z, ready for json.dumps."""
    return {k: (v.isoformat() + "Z" if isinstance(v, datetime) else v) for k, v in row.items()}
