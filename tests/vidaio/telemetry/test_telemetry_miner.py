"""The miner's metrics on a real miner app (signed requests): tasks by outcome, engine/upload, refusals."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "miner"))
from miner_support import World, build_world, miner_config, presigned_input  # noqa: E402

from tests.media_factory import make_clip  # noqa: E402
from vidaio.miner.daemon import build_miner  # noqa: E402
from vidaio.protocol import CompressionTask, TaskError, TaskResult  # noqa: E402
from vidaio.storage.local import LocalS3, local_s3  # noqa: E402
from vidaio.telemetry.labels import reason_code  # noqa: E402
from vidaio.telemetry.miner import MinerMetrics  # noqa: E402
from vidaio.transport.client import MinerClient  # noqa: E402
from vidaio.transport.runner import running_app  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    with local_s3() as endpoint:
        yield endpoint


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def task(url: str, task_id: str, codec: str) -> CompressionTask:
    return CompressionTask(task_id=task_id, round_id="r1", input_url=url, vmaf_threshold=85, codec=codec, deadline_s=60)


def value(m: MinerMetrics, name: str, **labels: str) -> float:
    return m.registry.get_sample_value(name, labels) or 0.0


async def test_miner_counts_tasks_engine_upload_and_refusals(s3: LocalS3, tmp_path: Path) -> None:
    world: World = build_world(tmp_path / "world", s3)
    clip = make_clip(tmp_path / "in.mp4", size=(160, 90), frames=24, crf=12)
    url = presigned_input(world, clip)
    cfg = miner_config(world, "miner_a", tmp_path / "work", task_type="compression", codecs=["av1"],
                       compression_engine="fixed")  # fmt: skip
    rt = await build_miner(cfg)
    try:
        m = rt.handler.metrics
        async with running_app(rt.app, "127.0.0.1", 0) as srv, MinerClient(world.validator_keypair) as client:
            axon = f"127.0.0.1:{srv.port}"
            ok = await client.send_task(axon, rt.hotkey, task(url, "t-ok", "av1"), deadline_s=60)
            refused = await client.send_task(axon, rt.hotkey, task(url, "t-h264", "h264"), deadline_s=10)
            async with httpx.AsyncClient() as raw:  # unsigned: refused before the handler
                unsigned = await raw.post(f"http://{axon}/tasks/compression", content=b"{}")
    finally:
        await rt.close()
    assert isinstance(ok.result, TaskResult), ok
    assert isinstance(refused.result, TaskError) and unsigned.status_code == 401
    assert value(m, "vidaio_miner_tasks_received_total", task_type="compression", codec="av1") == 1
    assert value(m, "vidaio_miner_tasks_received_total", task_type="compression", codec="h264") == 1
    assert value(m, "vidaio_miner_tasks_completed_total", task_type="compression", codec="av1") == 1
    assert value(m, "vidaio_miner_tasks_failed_total", task_type="compression", codec="h264", reason="refused") == 1
    assert value(m, "vidaio_miner_tasks_in_progress", task_type="compression") == 0
    assert value(m, "vidaio_miner_engine_seconds_count", task_type="compression", codec="av1") == 1
    assert value(m, "vidaio_miner_engine_seconds_sum", task_type="compression", codec="av1") > 0
    assert value(m, "vidaio_miner_output_bytes_sum", task_type="compression", codec="av1") > 0
    assert value(m, "vidaio_miner_upload_seconds_count", task_type="compression") == 1
    assert value(m, "vidaio_miner_admission_refusals_total", cause="auth") == 1
    assert value(m, "vidaio_miner_queue_depth") == 0 and value(m, "vidaio_miner_jobs_in_flight") == 0


def test_failure_outcomes_get_a_bounded_reason() -> None:
    m = MinerMetrics()
    for outcome in ("error: deadline: passed while fetching the input", "cancelled (the miner is stopping)",
                    "error: input fetch failed (too_large): 9 B", "error: internal error in the miner"):  # fmt: skip
        m.task("upscaling").finish(outcome)
    failed = {s.labels["reason"]: s.value for s in m.failed.collect()[0].samples if s.name.endswith("_total")}
    assert failed == {"deadline": 1, "cancelled": 1, "input_fetch_failed": 1, "other": 1}
    assert reason_code("internal error in the miner") == "other"
