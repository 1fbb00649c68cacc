"""Typed messages exchanged between validators and miners (docs/protocol.md).

Every model is pydantic v2 with `extra="forbid"` and bounded fields, and carries
`protocol_version`. The HTTP layer (`vidaio.transport`) signs and verifies the raw JSON bodies
of these models with `bittensor.http_auth`; this module knows nothing about transport.

Resolution tables are per *profile*: "production" (docs/protocol.md), "demo" (everything halved so one CPU
machine can run rounds) and "tiny" (production / 6, for CI and unit tests).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator, model_validator

from scoring.task_type import TaskType as TaskType  # the one task-type enum (re-exported)

PROTOCOL_VERSION = 1
"""Bumped on any incompatible change of the wire format. Servers refuse other versions."""

MAX_URL_LENGTH = 4096
MAX_DEADLINE_S = 3600.0
MAX_CONTENT_LENGTH_S = 320
DEFAULT_CONTENT_LENGTH_S = 5
"""Clip length (s) of a miner that declares none: what the validator sends it."""
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"

TaskId = Annotated[str, Field(pattern=ID_PATTERN, description="Opaque id: 1-128 chars of [A-Za-z0-9_.:-].")]
Url = Annotated[str, Field(min_length=8, max_length=MAX_URL_LENGTH, description="An http(s) URL.")]
Version = Annotated[int, Field(ge=1, le=65535, description="Wire protocol version.")]


class UpscalingType(StrEnum):
    SD2HD = "SD2HD"
    HD24K = "HD24K"
    SD24K = "SD24K"
    K4_8K = "4K28K"


class Codec(StrEnum):
    AV1 = "av1"
    HEVC = "hevc"
    H264 = "h264"


class Profile(StrEnum):
    PRODUCTION = "production"
    DEMO = "demo"
    TINY = "tiny"


class UpscalingGeometry(NamedTuple):
    in_w: int
    in_h: int
    out_w: int
    out_h: int
    scale: int


_SCALE: dict[UpscalingType, int] = {
    UpscalingType.SD2HD: 2,
    UpscalingType.HD24K: 2,
    UpscalingType.SD24K: 4,
    UpscalingType.K4_8K: 2,
}
_PRODUCTION_INPUT: dict[UpscalingType, tuple[int, int]] = {
    UpscalingType.SD2HD: (960, 540),
    UpscalingType.HD24K: (1920, 1080),
    UpscalingType.SD24K: (960, 540),
    UpscalingType.K4_8K: (3840, 2160),
}
_PROFILE_DIVISOR: dict[Profile, int] = {Profile.PRODUCTION: 1, Profile.DEMO: 2, Profile.TINY: 6}


def upscaling_scale(kind: UpscalingType | str) -> int:
    """The integer scale factor of an upscaling type (2 or 4)."""
    return _SCALE[UpscalingType(kind)]


def upscaling_geometry(kind: UpscalingType | str, profile: Profile | str = Profile.PRODUCTION) -> UpscalingGeometry:
    """(in_w, in_h, out_w, out_h, scale) of an upscaling type in a profile.

    production: SD2HD 960x540->1920x1080, HD24K 1920x1080->3840x2160, SD24K 960x540->3840x2160,
    4K28K 3840x2160->7680x4320. demo divides the input by 2 (SD2HD 480x270->960x540), tiny by 6
    (SD2HD 160x90->320x180). All sizes are even (yuv420p).
    """
    kind = UpscalingType(kind)
    div = _PROFILE_DIVISOR[Profile(profile)]
    w, h = _PRODUCTION_INPUT[kind]
    scale = _SCALE[kind]
    in_w, in_h = w // div, h // div
    return UpscalingGeometry(in_w, in_h, in_w * scale, in_h * scale, scale)


def _check_http_url(value: str) -> str:
    if not value.lower().startswith(("http://", "https://")):
        raise ValueError("URL must use http or https")
    if any(c.isspace() for c in value):
        raise ValueError("URL must not contain whitespace")
    return value


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_max_length=MAX_URL_LENGTH)

    protocol_version: Version = PROTOCOL_VERSION


class Capabilities(_Message):
    """`GET /capabilities`: what this miner mines (configuration, never a code edit)."""

    task_type: TaskType
    max_content_length: int = Field(
        DEFAULT_CONTENT_LENGTH_S, ge=1, le=MAX_CONTENT_LENGTH_S,
        description="Clip length (s) this miner processes: validators send the longest length they serve within it.",
    )  # fmt: skip
    upscaling_types: list[UpscalingType] = Field(default_factory=list, max_length=len(UpscalingType))
    codecs: list[Codec] = Field(default_factory=list, max_length=len(Codec))
    software_version: str = Field("0.0.0", min_length=1, max_length=64)

    @model_validator(mode="after")
    def _consistent(self) -> Capabilities:
        if self.task_type is TaskType.UPSCALING and not self.upscaling_types:
            raise ValueError("an upscaling miner must declare at least one upscaling type")
        if self.task_type is TaskType.COMPRESSION and not self.codecs:
            raise ValueError("a compression miner must declare at least one codec")
        return self


class _Task(_Message):
    task_id: TaskId
    round_id: TaskId
    input_url: Url
    deadline_s: float = Field(gt=0, le=MAX_DEADLINE_S, description="Seconds the validator waits for the answer.")

    @field_validator("input_url")
    @classmethod
    def _input_url(cls, value: str) -> str:
        return _check_http_url(value)


class UpscalingTask(_Task):
    """`POST /tasks/upscaling`."""

    task_type: UpscalingType
    scale: int = Field(ge=2, le=4)
    content_length: int = Field(
        DEFAULT_CONTENT_LENGTH_S, ge=1, le=MAX_CONTENT_LENGTH_S, description="Clip length in seconds."
    )

    @model_validator(mode="after")
    def _scale_matches(self) -> UpscalingTask:
        expected = _SCALE[self.task_type]
        if self.scale != expected:
            raise ValueError(f"scale {self.scale} does not match {self.task_type.value} (x{expected})")
        return self


class CompressionTask(_Task):
    """`POST /tasks/compression`."""

    vmaf_threshold: float = Field(ge=0, le=100)
    codec: Codec


class TaskResult(_Message):
    """Successful answer: where the output can be downloaded."""

    task_id: TaskId
    output_url: Url
    processing_time_s: float = Field(ge=0, le=86400)

    @field_validator("output_url")
    @classmethod
    def _output_url(cls, value: str) -> str:
        return _check_http_url(value)


class TaskError(_Message):
    """Failure answer: the miner could not do the task; `error` names the reason."""

    task_id: TaskId
    error: str = Field(min_length=1, max_length=1000)


Task = UpscalingTask | CompressionTask
TaskResponse = TaskResult | TaskError

_RESPONSE_ADAPTER: TypeAdapter[TaskResult | TaskError] = TypeAdapter(TaskResult | TaskError)


def parse_task_response(data: bytes | str | dict[str, Any]) -> TaskResult | TaskError:
    """Parse a miner's answer into TaskResult or TaskError (raises pydantic.ValidationError)."""
    if isinstance(data, dict):
        return _RESPONSE_ADAPTER.validate_python(data)
    return _RESPONSE_ADAPTER.validate_json(data)


def task_type_of(task: Task) -> TaskType:
    """The task family of a task model."""
    return TaskType.UPSCALING if isinstance(task, UpscalingTask) else TaskType.COMPRESSION


def task_path(task_type: TaskType | str) -> str:
    """The miner endpoint path of a task family."""
    return f"/tasks/{TaskType(task_type).value}"
