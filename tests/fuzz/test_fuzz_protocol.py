"""Fuzzing the protocol models (docs/protocol.md): any JSON, any bytes, any mutation of a valid message either
parses into a model that satisfies the documented bounds or raises pydantic's ValidationError, nothing
else; every valid message survives a JSON round trip unchanged."""

from __future__ import annotations

import json
import re
from typing import Any

from fuzz_support import JSON
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from vidaio.protocol import (
    ID_PATTERN,
    MAX_DEADLINE_S,
    Capabilities,
    CompressionTask,
    TaskError,
    TaskResult,
    UpscalingTask,
    parse_task_response,
    upscaling_scale,
)

MODELS: list[type[BaseModel]] = [Capabilities, UpscalingTask, CompressionTask, TaskResult, TaskError]
FAST = settings(max_examples=150, deadline=None, database=None)
IDS = st.from_regex(ID_PATTERN, fullmatch=True)
URLS = st.builds(
    lambda scheme, host, path: f"{scheme}://{host}/{path}",
    st.sampled_from(["http", "https", "HTTP"]),
    st.from_regex(r"[a-z0-9.-]{1,30}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9/_.?=&%-]{0,60}", fullmatch=True),
)


def _parse(model: type[BaseModel], raw: bytes | str) -> BaseModel | None:
    try:
        return model.model_validate_json(raw)
    except ValidationError:
        return None


def _check_bounds(m: BaseModel) -> None:
    if isinstance(m, UpscalingTask | CompressionTask):
        assert re.fullmatch(ID_PATTERN, m.task_id) and re.fullmatch(ID_PATTERN, m.round_id)
        assert 0 < m.deadline_s <= MAX_DEADLINE_S
        assert m.input_url.lower().startswith(("http://", "https://"))
        assert not any(c.isspace() for c in m.input_url)
    if isinstance(m, UpscalingTask):
        assert m.scale == upscaling_scale(m.task_type)
    if isinstance(m, TaskResult):
        assert m.output_url.lower().startswith(("http://", "https://")) and m.processing_time_s >= 0


@FAST
@given(value=JSON)
def test_any_json_parses_or_raises_validation_error(value: Any) -> None:
    raw = json.dumps(value)
    for model in MODELS:
        m = _parse(model, raw)
        if m is not None:
            _check_bounds(m)
    try:
        _check_bounds(parse_task_response(raw))
    except ValidationError:
        pass


@FAST
@given(raw=st.binary(max_size=400))
def test_any_bytes_parse_or_raise_validation_error(raw: bytes) -> None:
    for model in MODELS:
        m = _parse(model, raw)
        if m is not None:
            _check_bounds(m)


UPSCALING = st.builds(
    lambda tid, rid, url, kind, length, deadline: UpscalingTask(
        task_id=tid, round_id=rid, input_url=url, task_type=kind, scale=upscaling_scale(kind),
        content_length=length, deadline_s=deadline,
    ),
    IDS, IDS, URLS, st.sampled_from(["SD2HD", "HD24K", "SD24K", "4K28K"]), st.integers(1, 320),
    st.floats(min_value=0.001, max_value=MAX_DEADLINE_S),
)  # fmt: skip
COMPRESSION = st.builds(
    lambda tid, rid, url, thr, codec, deadline: CompressionTask(
        task_id=tid, round_id=rid, input_url=url, vmaf_threshold=thr, codec=codec, deadline_s=deadline
    ),
    IDS, IDS, URLS, st.floats(min_value=0, max_value=100), st.sampled_from(["av1", "hevc", "h264"]),
    st.floats(min_value=0.001, max_value=MAX_DEADLINE_S),
)  # fmt: skip
RESULTS = st.one_of(
    st.builds(
        lambda t, u, p: TaskResult(task_id=t, output_url=u, processing_time_s=p),
        IDS,
        URLS,
        st.floats(0, 86400),
    ),
    st.builds(lambda t, e: TaskError(task_id=t, error=e), IDS, st.text(min_size=1, max_size=1000)),
)


@FAST
@given(msg=st.one_of(UPSCALING, COMPRESSION, RESULTS))
def test_valid_messages_round_trip(msg: BaseModel) -> None:
    raw = msg.model_dump_json()
    again = type(msg).model_validate_json(raw)
    assert again == msg
    _check_bounds(again)
    if isinstance(msg, TaskResult | TaskError):
        assert parse_task_response(raw) == msg


@FAST
@given(msg=st.one_of(UPSCALING, COMPRESSION), key=st.text(min_size=1, max_size=10), value=JSON)
def test_unknown_fields_are_refused(msg: BaseModel, key: str, value: Any) -> None:
    data = json.loads(msg.model_dump_json())
    if key in data:
        return
    data[key] = value
    assert _parse(type(msg), json.dumps(data)) is None  # extra="forbid"
