"""The miner with `executor=ray` on a two-node cluster: whole jobs run on the worker node (fetch,
engine, upload there), outputs pass validation, no temp file stays on either node; a worker node
SIGKILLed mid-job gives a valid result from another node or a clear error answer within the
deadline, and the miner keeps serving."""

from __future__ import annotations

import asyncio
import http.server
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from loguru import logger
from miner_support import World, build_world, download, miner_settings, presigned_input

from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from scoring.validation import expected_for_compression, expected_for_upscaling, validate_output
from tests.media_factory import make_clip
from vidaio.executor.ray_miner import purge_dead_node_dirs
from vidaio.miner.config import MinerConfig
from vidaio.miner.daemon import MinerRuntime, build_miner
from vidaio.protocol import CompressionTask, TaskError, TaskResult, UpscalingTask
from vidaio.storage.local import LocalS3, local_s3
from vidaio.transport.client import MinerClient
from vidaio.transport.runner import running_app

pytestmark = [pytest.mark.slow, pytest.mark.integration]


@pytest.fixture(scope="module")
def s3() -> Iterator[LocalS3]:
    with local_s3() as endpoint:
        yield endpoint


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, s3: LocalS3) -> World:
    return build_world(tmp_path_factory.mktemp("ray-miner-world"), s3)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("clips") / "in.mp4", size=(160, 90), frames=24, crf=12)


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="DEBUG", format="{message}")
    yield lines
    logger.remove(sink)


@asynccontextmanager
async def ray_miner(world: World, cluster: Any, wallet: str, work: Path, ray: dict[str, Any] | None = None,
                    **miner: Any) -> AsyncIterator[tuple[str, MinerRuntime]]:  # fmt: skip
    settings = miner_settings(world, wallet, work, executor="ray", **miner)
    settings["ray"] = {"address": cluster.address, "connect_timeout_s": 60, **(ray or {})}
    rt = await build_miner(MinerConfig(_env_file=None, **settings))  # type: ignore[arg-type]
    try:
        async with running_app(rt.app, "127.0.0.1", 0) as srv:
            yield f"127.0.0.1:{srv.port}", rt
    finally:
        await rt.close()


def cmp_task(url: str, task_id: str, deadline_s: float = 60) -> CompressionTask:
    return CompressionTask(task_id=task_id, round_id="r1", input_url=url, vmaf_threshold=80, codec="av1",
                           deadline_s=deadline_s)  # fmt: skip


def ran_on(lines: list[str], task_id: str) -> str:
    """The node id (12 chars) the Ray executor's log line names for `task_id` (the attempt that answered)."""
    (line,) = [x for x in lines if x.startswith(f"task {task_id} ran on Ray node ")]
    return line.split(" ran on Ray node ")[1].split()[0]


def files_left(work: Path) -> list[Path]:
    """Files or task directories under the miner's work dir (both nodes use it on this machine)."""
    return [p for p in work.rglob("*") if p.is_file() or p.name.startswith("task-")] if work.exists() else []


async def test_jobs_run_on_the_worker_node_and_outputs_pass_validation(
    ray_cluster: Any, world: World, clip: Path, tmp_path: Path, log_lines: list[str]
) -> None:
    worker, head = ray_cluster.worker.node_id[:12], ray_cluster.head_id[:12]
    url = presigned_input(world, clip)
    metrics = MetricsConfig()
    async with MinerClient(world.validator_keypair) as client:
        work = tmp_path / "c"
        async with ray_miner(world, ray_cluster, "miner_a", work, task_type="compression", codecs=["av1"],
                             compression_engine="fixed") as (axon, rt):  # fmt: skip
            got = await client.send_task(axon, rt.hotkey, cmp_task(url, "rc-1"), deadline_s=60)
        assert got.kind == "ok" and isinstance(got.result, TaskResult), got
        out = download(got.result.output_url, tmp_path / "c.mp4")
        check = validate_output(out, expected_for_compression(probe(clip), "av1", metrics), reference=clip)
        assert check.ok, check.messages
        assert ran_on(log_lines, "rc-1") == worker != head
        assert files_left(work) == []

        work = tmp_path / "u"
        task = UpscalingTask(task_id="ru-1", round_id="r1", input_url=url, task_type="SD2HD", scale=2,
                             content_length=1, deadline_s=60)  # fmt: skip
        async with ray_miner(world, ray_cluster, "miner_b", work, task_type="upscaling",
                             upscaling_types=["SD2HD"]) as (axon, rt):  # fmt: skip
            got = await client.send_task(axon, rt.hotkey, task, deadline_s=60)
        assert got.kind == "ok" and isinstance(got.result, TaskResult), got
        out = download(got.result.output_url, tmp_path / "u.mp4")
        check = validate_output(out, expected_for_upscaling(probe(clip), 2, metrics))
        assert check.ok, check.messages
        assert ran_on(log_lines, "ru-1") == worker
        assert files_left(work) == []


class StallFirstGet(http.server.ThreadingHTTPServer):
    """Serves one file; the first GET sends a few bytes, then stalls until `release` (or 60 s)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.first_seen = threading.Event()
        self.release = threading.Event()
        self.gets = 0
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                server.gets += 1
                first = server.gets == 1
                self.send_response(200)
                self.send_header("Content-Type", "video/mp4")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                try:
                    if first:
                        self.wfile.write(server.body[:512])
                        self.wfile.flush()
                        server.first_seen.set()
                        server.release.wait(60)
                        self.wfile.write(server.body[512:])
                    else:
                        self.wfile.write(server.body)
                except OSError:
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        super().__init__(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/in.mp4"

    def close(self) -> None:
        self.release.set()
        self.shutdown()
        self.server_close()


async def _kill_worker_mid_job(ray_cluster: Any, client: MinerClient, axon: str, hotkey: str, clip: Path,
                               task_id: str, deadline_s: float) -> tuple[Any, float, str]:  # fmt: skip
    """Send a task whose input stalls on the worker node, add a fresh worker, SIGKILL the first one's raylet."""
    server = StallFirstGet(clip.read_bytes())
    try:
        victim = ray_cluster.worker
        started = time.monotonic()
        pending = asyncio.create_task(client.send_task(axon, hotkey, cmp_task(server.url, task_id, deadline_s),
                                                       deadline_s=deadline_s))  # fmt: skip
        assert await asyncio.to_thread(server.first_seen.wait, 30), "the job never reached the worker node"
        ray_cluster.add_worker()  # Ray starts nodes from the main thread only (blocks the loop a few seconds)
        ray_cluster.kill_raylet(victim)
        server.release.set()
        got = await pending
        return got, time.monotonic() - started, victim.node_id[:12]
    finally:
        server.close()


async def test_worker_killed_mid_job_retries_on_another_node_and_the_miner_keeps_serving(
    ray_cluster: Any, world: World, clip: Path, tmp_path: Path, log_lines: list[str]
) -> None:
    work = tmp_path / "w"
    async with MinerClient(world.validator_keypair) as client:
        async with ray_miner(world, ray_cluster, "miner_c", work, task_type="compression", codecs=["av1"],
                             compression_engine="fixed", ray={"retry_min_s": 5}) as (axon, rt):  # fmt: skip
            got, elapsed, victim = await _kill_worker_mid_job(ray_cluster, client, axon, rt.hotkey, clip, "kill-1", 90)
            assert elapsed < 90
            assert got.kind == "ok" and isinstance(got.result, TaskResult), got
            out = download(got.result.output_url, tmp_path / "k.mp4")
            check = validate_output(out, expected_for_compression(probe(clip), "av1", MetricsConfig()), reference=clip)
            assert check.ok, check.messages
            survivor = ran_on(log_lines, "kill-1")
            assert survivor == ray_cluster.worker.node_id[:12] != victim
            assert any(x.startswith("task kill-1 ran on Ray node") and "(attempt 2)" in x for x in log_lines)
            # the miner keeps serving
            nxt = await client.send_task(axon, rt.hotkey, cmp_task(presigned_input(world, clip), "kill-2"), deadline_s=60)
            assert nxt.kind == "ok", nxt
    # the surviving node cleaned up; the killed one could not: its dir goes when the cluster knows the
    # node is dead and an actor starts on the host (what purge_dead_node_dirs does at actor start)
    assert [p for p in files_left(work) if f"ray-{victim}" not in str(p)] == []
    await _until_dead(victim)
    purge_dead_node_dirs(work)
    assert files_left(work) == []


async def _until_dead(node12: str, timeout_s: float = 90) -> None:
    import ray

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not any(str(n["NodeID"]).startswith(node12) and n.get("Alive") for n in ray.nodes()):
            return
        await asyncio.sleep(0.5)
    raise AssertionError(f"node {node12} still alive for the cluster after {timeout_s}s")


async def test_worker_killed_with_no_time_to_retry_is_a_clear_error_answer(
    ray_cluster: Any, world: World, clip: Path, tmp_path: Path
) -> None:
    work = tmp_path / "e"
    async with MinerClient(world.validator_keypair) as client:
        async with ray_miner(world, ray_cluster, "miner_d", work, task_type="compression", codecs=["av1"],
                             compression_engine="fixed", ray={"retry_min_s": 3000}) as (axon, rt):  # fmt: skip
            got, elapsed, victim = await _kill_worker_mid_job(ray_cluster, client, axon, rt.hotkey, clip, "kill-3", 90)
            assert elapsed < 90
            assert got.kind == "error" and isinstance(got.result, TaskError), got
            assert f"worker node {victim} was lost mid-task" in got.result.error
            assert "too little to retry" in got.result.error
            nxt = await client.send_task(axon, rt.hotkey, cmp_task(presigned_input(world, clip), "kill-4"), deadline_s=60)
            assert nxt.kind == "ok", nxt


async def test_no_worker_node_offering_the_resource_is_a_clear_start_up_error(
    ray_cluster: Any, world: World, tmp_path: Path
) -> None:
    from vidaio.miner.daemon import MinerStartupError

    settings = miner_settings(world, "miner_a", tmp_path / "w", executor="ray", task_type="compression")
    settings["ray"] = {"address": ray_cluster.address, "worker_resource": "gpu_box", "connect_timeout_s": 2}
    with pytest.raises(MinerStartupError, match="no Ray worker node ready after 2s .*resource 'gpu_box'"):
        await build_miner(MinerConfig(_env_file=None, **settings))  # type: ignore[arg-type]


async def test_the_deadline_is_enforced_on_the_worker_node(
    ray_cluster: Any, world: World, clip: Path, tmp_path: Path
) -> None:
    """An input that never finishes arriving: the node gives up at the task's deadline, answers why,
    and leaves no temp file; the head never waits past the deadline."""
    work = tmp_path / "d"
    server = StallFirstGet(clip.read_bytes())
    try:
        async with MinerClient(world.validator_keypair) as client:
            async with ray_miner(world, ray_cluster, "miner_a", work, task_type="compression", codecs=["av1"],
                                 compression_engine="fixed") as (axon, rt):  # fmt: skip
                started = time.monotonic()
                got = await client.send_task(axon, rt.hotkey, cmp_task(server.url, "late-1", 6), deadline_s=6)
                elapsed = time.monotonic() - started
                assert got.kind == "error" and isinstance(got.result, TaskError), got
                assert got.result.error.startswith("deadline"), got.result.error
                assert elapsed < 6 + 2, elapsed
                assert server.first_seen.is_set()  # the fetch had started on the node
    finally:
        server.close()
    assert files_left(work) == []
