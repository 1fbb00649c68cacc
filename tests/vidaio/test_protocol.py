"""Protocol models (docs/protocol.md): bounds, extra=forbid, geometry tables, response parsing."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from vidaio.protocol import (
    PROTOCOL_VERSION,
    Capabilities,
    Codec,
    CompressionTask,
    Profile,
    TaskError,
    TaskResult,
    TaskType,
    UpscalingTask,
    UpscalingType,
    parse_task_response,
    task_path,
    task_type_of,
    upscaling_geometry,
)


def up(**kw: object) -> UpscalingTask:
    base: dict[str, object] = {"task_id": "t1", "round_id": "r1", "input_url": "https://s3.example/in.mp4",
                               "task_type": "SD2HD", "scale": 2, "content_length": 5, "deadline_s": 60}
    base.update(kw)
    return UpscalingTask(**base)  # type: ignore[arg-type]


def comp(**kw: object) -> CompressionTask:
    base: dict[str, object] = {"task_id": "t1", "round_id": "r1", "input_url": "http://127.0.0.1/in.mp4",
                               "vmaf_threshold": 89, "codec": "av1", "deadline_s": 60}
    base.update(kw)
    return CompressionTask(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kind", "profile", "expected"),
    [
        ("SD2HD", "production", (960, 540, 1920, 1080, 2)),
        ("HD24K", "production", (1920, 1080, 3840, 2160, 2)),
        ("SD24K", "production", (960, 540, 3840, 2160, 4)),
        ("4K28K", "production", (3840, 2160, 7680, 4320, 2)),
        ("SD2HD", "demo", (480, 270, 960, 540, 2)),
        ("SD24K", "demo", (480, 270, 1920, 1080, 4)),
        ("SD2HD", "tiny", (160, 90, 320, 180, 2)),
        ("SD24K", "tiny", (160, 90, 640, 360, 4)),
    ],
)
def test_upscaling_geometry(kind: str, profile: str, expected: tuple[int, ...]) -> None:
    assert tuple(upscaling_geometry(kind, profile)) == expected


def test_every_geometry_is_even_and_consistent() -> None:
    for profile in Profile:
        for kind in UpscalingType:
            g = upscaling_geometry(kind, profile)
            assert all(v % 2 == 0 for v in (g.in_w, g.in_h, g.out_w, g.out_h)), (kind, profile)
            assert (g.out_w, g.out_h) == (g.in_w * g.scale, g.in_h * g.scale)
    with pytest.raises(ValueError):
        upscaling_geometry("SD2HD", "huge")


def test_round_trip_and_version() -> None:
    task = up(task_type="SD24K", scale=4, content_length=10)
    again = UpscalingTask.model_validate_json(task.model_dump_json())
    assert again == task and again.protocol_version == PROTOCOL_VERSION
    assert task_type_of(task) is TaskType.UPSCALING and task_path(task_type_of(task)) == "/tasks/upscaling"
    c = comp(codec="hevc")
    assert c.codec is Codec.HEVC and task_type_of(c) is TaskType.COMPRESSION
    assert task_path("compression") == "/tasks/compression"


@pytest.mark.parametrize(
    "bad",
    [
        {"scale": 4},  # SD2HD is x2
        {"extra_field": 1},
        {"input_url": "file:///etc/passwd"},
        {"input_url": "http://x/ y"},
        {"input_url": "http://" + "a" * 5000},
        {"task_id": ""},
        {"task_id": "../../etc"},
        {"deadline_s": 0},
        {"deadline_s": 1e6},
        {"content_length": 0},
        {"content_length": 321},
        {"task_type": "8K216K"},
        {"protocol_version": 0},
    ],
)
def test_upscaling_task_rejects(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        up(**bad)


@pytest.mark.parametrize("bad", [{"vmaf_threshold": 101}, {"vmaf_threshold": -1}, {"codec": "vp9"}, {"scale": 2}])
def test_compression_task_rejects(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        comp(**bad)


def test_models_are_frozen() -> None:
    with pytest.raises(ValidationError):
        up().task_id = "other"  # type: ignore[misc]


def test_parse_task_response() -> None:
    ok = parse_task_response(b'{"task_id":"t1","output_url":"https://b/o.mp4","processing_time_s":2.5}')
    assert isinstance(ok, TaskResult) and ok.processing_time_s == 2.5
    err = parse_task_response({"task_id": "t1", "error": "out of memory"})
    assert isinstance(err, TaskError) and err.error == "out of memory"
    for bad in (b"{}", b'{"task_id":"t1"}', b'{"task_id":"t1","error":""}',
                b'{"task_id":"t1","output_url":"ftp://x/y","processing_time_s":1}',
                b'{"task_id":"t1","error":"x","output_url":"http://a/b","processing_time_s":1}', b"not json"):
        with pytest.raises(ValidationError):
            parse_task_response(bad)


def test_capabilities_consistency() -> None:
    caps = Capabilities(task_type="compression", codecs=["av1", "hevc"], max_content_length=10)
    assert Capabilities.model_validate_json(caps.model_dump_json()) == caps
    with pytest.raises(ValidationError, match="at least one codec"):
        Capabilities(task_type="compression")
    with pytest.raises(ValidationError, match="at least one upscaling type"):
        Capabilities(task_type="upscaling", codecs=["av1"])
    with pytest.raises(ValidationError):
        Capabilities(task_type="upscaling", upscaling_types=["SD2HD"], software_version="x" * 65)
