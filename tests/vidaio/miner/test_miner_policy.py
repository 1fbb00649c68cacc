"""Pure miner policy: capabilities, refusals, input byte caps, the work budget, input checks."""

from __future__ import annotations

import pytest

from scoring.media.probe import ProbeInfo
from vidaio.miner import policy
from vidaio.miner.config import MinerSettings
from vidaio.miner.jobs import InputRejected, check_input
from vidaio.protocol import CompressionTask, UpscalingTask

URL = "http://127.0.0.1:9/in.mp4"


def up_task(kind: str = "SD2HD", length: int = 5, scale: int = 2) -> UpscalingTask:
    return UpscalingTask(
        task_id="t1", round_id="r1", input_url=URL, task_type=kind, scale=scale, content_length=length, deadline_s=60
    )


def cmp_task(codec: str = "av1", thr: float = 89) -> CompressionTask:
    return CompressionTask(task_id="t2", round_id="r1", input_url=URL, vmaf_threshold=thr, codec=codec, deadline_s=60)


def test_capabilities_declare_only_the_mined_family() -> None:
    up = policy.capabilities_for(
        MinerSettings(task_type="upscaling", upscaling_types=["SD24K", "SD2HD"], max_content_length=10), "1.2.3"
    )
    assert (up.task_type.value, up.max_content_length, up.software_version) == ("upscaling", 10, "1.2.3")
    assert [t.value for t in up.upscaling_types] == ["SD24K", "SD2HD"] and up.codecs == []
    cmp = policy.capabilities_for(MinerSettings(task_type="compression", codecs=["hevc", "hevc", "h264"]), "x")
    assert [c.value for c in cmp.codecs] == ["hevc", "h264"] and cmp.upscaling_types == []


@pytest.mark.parametrize(
    ("settings", "task", "expected"),
    [
        ({"task_type": "compression"}, up_task(), "mines compression tasks, not upscaling"),
        ({"task_type": "upscaling", "upscaling_types": ["SD2HD"]}, up_task("SD24K", scale=4), "SD24K is not mined"),
        ({"task_type": "upscaling", "max_content_length": 5}, up_task(length=10), "exceeds this miner's maximum of 5s"),
        ({"task_type": "upscaling", "max_content_length": 10}, up_task(length=10), None),
    ],
)
def test_upscaling_refusals(settings: dict, task: UpscalingTask, expected: str | None) -> None:
    reason = policy.upscaling_refusal(task, MinerSettings(**settings))
    assert reason == expected if expected is None else expected in (reason or "")


@pytest.mark.parametrize(
    ("settings", "task", "expected"),
    [
        ({"task_type": "upscaling"}, cmp_task(), "mines upscaling tasks, not compression"),
        ({"codecs": ["av1"]}, cmp_task("h264"), "codec h264 is not mined here (mined: av1)"),
        ({"codecs": ["av1"]}, cmp_task("av1", thr=0), "outside (0, 100)"),
        ({"codecs": ["av1"]}, cmp_task("av1"), None),
    ],
)
def test_compression_refusals(settings: dict, task: CompressionTask, expected: str | None) -> None:
    reason = policy.compression_refusal(task, MinerSettings(**settings))
    assert reason == expected if expected is None else expected in (reason or "")


def test_upscaling_byte_cap_follows_geometry_length_and_limits() -> None:
    s = MinerSettings(task_type="upscaling", input_max_bits_per_pixel=4.0, input_max_fps=60, duration_tolerance_s=1)
    # production SD2HD: 960x540 px x 60 fps x (5+1) s x 4 bit / 8
    assert policy.upscaling_byte_cap(up_task(length=5), s) == 960 * 540 * 60 * 6 * 4 // 8
    assert policy.upscaling_byte_cap(up_task(length=10), s) == 960 * 540 * 60 * 11 * 4 // 8
    tiny = s.model_copy(update={"profile": "tiny"})  # 160x90 inputs: the floor applies
    assert policy.upscaling_byte_cap(up_task(length=1), tiny) == s.input_min_bytes
    capped = s.model_copy(update={"input_max_bytes": 10_000, "input_min_bytes": 1024})
    assert policy.upscaling_byte_cap(up_task(), capped) == 10_000
    assert policy.compression_byte_cap(cmp_task(), capped) == 10_000


def test_work_budget_counts_from_signing_time() -> None:
    assert policy.work_budget_s(deadline_s=60, margin_s=5, now_wall_s=1000.0, signed_wall_s=990.0) == 45
    # a signing time in the future (clock skew) counts as now; no signing time: the full deadline
    assert policy.work_budget_s(deadline_s=60, margin_s=5, now_wall_s=1000.0, signed_wall_s=1002.0) == 55
    assert policy.work_budget_s(deadline_s=60, margin_s=5, now_wall_s=1000.0, signed_wall_s=None) == 55
    assert policy.work_budget_s(deadline_s=3, margin_s=5, now_wall_s=1000.0, signed_wall_s=1000.0) < 0
    assert policy.work_budget_s(deadline_s=10, margin_s=1, now_wall_s=1000.0, signed_wall_s=900.0) == -1


def _info(w: int = 160, h: int = 90, frames: int = 24, duration: float = 1.0) -> ProbeInfo:
    return ProbeInfo(
        path="x.mp4", container="mov,mp4", codec="h264", profile=None, width=w, height=h, pix_fmt="yuv420p",
        sar="1:1", avg_fps=24.0, frame_count=frames, duration_s=duration, size_bytes=1000,
    )  # fmt: skip


def test_check_input_names_the_problem() -> None:
    check_input(_info(), max_duration_s=2.0, max_size=(160, 90))
    with pytest.raises(InputRejected, match="320x180, larger than the 160x90"):
        check_input(_info(320, 180), max_duration_s=2.0, max_size=(160, 90))
    with pytest.raises(InputRejected, match="lasts 7.00s, longer than the 6s"):
        check_input(_info(duration=7.0), max_duration_s=6.0)
    with pytest.raises(InputRejected, match="no video frames"):
        check_input(_info(frames=0), max_duration_s=6.0)
