"""The validator with `executor=ray` on the two-node cluster: scoring jobs run on the worker nodes
with verdicts identical to the local pool's for the same inputs and secret; a whole round scores
every miner as the local round does; a worker node SIGKILLed during scoring loses no result and
records none twice."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
import validator_strategies as st
from loguru import logger
from validator_support import MinerSpec, Subnet, compression_caps, run_miners, upscaling_caps

from scoring.config import ScoringConfig
from scoring.metrics.config import MetricsConfig
from scoring.metrics.pieapp_backends import save_random_weights
from tests.media_factory import make_clip, reencode
from vidaio.executor.config import RaySettings
from vidaio.executor.ray_scoring import SCRATCH_PREFIX, RayScorePool
from vidaio.validator.daemon import run_validator
from vidaio.validator.kinds import CompressionJob, UpscalingJob
from vidaio.validator.pool import ScorePool

pytestmark = [pytest.mark.slow, pytest.mark.integration]
SECRET = "ray-test-secret"


def _comparable(verdict: Any) -> dict[str, Any]:
    d = verdict.to_dict()
    d.pop("timings")
    return d


def _scratch_of_live_nodes(cluster: Any) -> list[Path]:
    ids = [cluster.head_id[:12]] + [w.node_id[:12] for w in cluster.workers]
    return [p for i in ids for p in Path(tempfile.gettempdir()).glob(f"{SCRATCH_PREFIX}{i}-*")]


@pytest.fixture(scope="module")
def jobs(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[list[CompressionJob | UpscalingJob], MetricsConfig]:
    """Answers of every kind for one reference: honest, the reference itself, garbage, an upscale."""
    d = tmp_path_factory.mktemp("score-jobs")
    ref = make_clip(d / "ref.mp4", size=(160, 90), frames=24, crf=12)
    honest = reencode(ref, d / "honest.mp4", "hevc", crf=30)
    copy = Path(shutil.copyfile(ref, d / "copy.mp4"))
    junk = d / "junk.mp4"
    junk.write_bytes(bytes(range(256)) * 64)
    hd = make_clip(d / "hd.mp4", size=(320, 180), frames=24, crf=12)
    sd = reencode(hd, d / "sd.mp4", "h264", crf=12, vf="scale=160:90")
    up = reencode(sd, d / "up.mp4", "hevc", crf=20, vf="scale=320:180:flags=lanczos")
    weights = save_random_weights(d / "pieapp.pth", seed=3)  # the same (random) network everywhere
    metrics = MetricsConfig(
        pieapp_weights_path=weights, pieapp_device="cpu", vmaf_threads=1, allow_random_weights=True
    )
    out: list[CompressionJob | UpscalingJob] = [
        CompressionJob(ref, honest, 70.0, "hevc", "c-honest"),
        CompressionJob(ref, copy, 70.0, "hevc", "c-copy"),
        CompressionJob(ref, junk, 70.0, "hevc", "c-junk"),
        UpscalingJob(hd, up, sd, 2, 1.0, "u-lanczos"),
        UpscalingJob(hd, junk, sd, 2, 1.0, "u-junk"),
    ]
    return out, metrics


async def _score_all(pool: Any, jobs: list[CompressionJob | UpscalingJob]) -> dict[str, dict[str, Any]]:
    async def one(job: CompressionJob | UpscalingJob) -> Any:
        return await pool.score(job)

    verdicts = await asyncio.gather(*(one(j) for j in jobs))
    return {j.task_id: _comparable(v) for j, v in zip(jobs, verdicts, strict=True)}


async def test_ray_verdicts_are_identical_to_the_local_pool(ray_cluster: Any, jobs: Any) -> None:
    job_list, metrics = jobs
    scoring = ScoringConfig(pieapp_frames=1)
    local = ScorePool(SECRET, scoring, metrics, workers=1, kind="process", torch_threads=1).start()
    try:
        expected = await _score_all(local, job_list)
    finally:
        local.close()
    pool = await RayScorePool(SECRET, scoring, metrics, RaySettings(address=ray_cluster.address)).connect()
    try:
        got = await _score_all(pool, job_list)
        workers = {w.node_id for w in ray_cluster.workers}
        assert {n for nodes in pool.placements.values() for n in nodes} <= workers
        assert ray_cluster.head_id not in workers
    finally:
        pool.close()
    assert {k: v["status"] for k, v in expected.items()} == {
        "c-honest": "ok", "c-copy": "invalid", "c-junk": "invalid", "u-lanczos": "ok", "u-junk": "invalid",
    }  # fmt: skip
    assert expected["u-lanczos"]["pieapp"] is not None and expected["c-honest"]["vmaf"] > 70
    assert got == expected
    assert _scratch_of_live_nodes(ray_cluster) == []


SPECS = [
    MinerSpec("c_honest", compression_caps(), st.honest_compression(25)),
    MinerSpec("c_reference", compression_caps(), st.reference_copy()),
    MinerSpec("c_wrong_codec", compression_caps(), st.wrong_codec()),
    MinerSpec("u_lanczos", upscaling_caps(), st.lanczos_upscaling()),
    MinerSpec("u_garbage", upscaling_caps(), st.garbage()),
    MinerSpec("u_wrong_res", upscaling_caps(), st.wrong_resolution()),
]
# what the local round test expects of these strategies: status, token in the reason
EXPECTED = {
    "c_honest": ("ok", None),
    "c_reference": ("invalid", "same_as_reference"),
    "c_wrong_codec": ("invalid", "wrong_codec"),
    "u_lanczos": ("ok", None),
    "u_garbage": ("invalid", "not_a_video"),
    "u_wrong_res": ("invalid", "wrong_resolution"),
}


async def _kill_first_scoring_node(cluster: Any, stop: asyncio.Event) -> str | None:
    """SIGKILL the raylet of the first worker node seen running a scoring job (its scratch dir)."""
    tmp = Path(tempfile.gettempdir())
    while not stop.is_set():
        for node in list(cluster.workers):
            if any(tmp.glob(f"{SCRATCH_PREFIX}{node.node_id[:12]}-*")):
                cluster.kill_raylet(node)
                return str(node.node_id[:12])
        await asyncio.sleep(0.02)
    return None


async def test_ray_round_scores_like_local_and_a_killed_node_loses_no_result(
    ray_cluster: Any, tmp_path: Path, s3: Any, wallet_dir: Path
) -> None:
    if len(ray_cluster.workers) < 2:
        ray_cluster.add_worker()  # somewhere to re-run the jobs of the node that will be killed
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="WARNING", format="{message}")
    subnet = Subnet(tmp_path, s3, wallet_dir)
    subnet.register("validator", validator=True)
    db = tmp_path / "validator.db"
    sections = subnet.validator_sections("validator", db, executor="ray", upscaling_group_size=3)
    sections["ray"] = RaySettings(address=ray_cluster.address, connect_timeout_s=60, scoring_attempts=3)
    from vidaio.validator.config import ValidatorConfig

    cfg = ValidatorConfig(**sections)  # type: ignore[arg-type]
    stop = asyncio.Event()
    try:
        async with run_miners(subnet, SPECS) as miners:
            killer = asyncio.create_task(_kill_first_scoring_node(ray_cluster, stop))
            rounds = await run_validator(cfg)
            stop.set()
            victim = await killer
    finally:
        logger.remove(sink)
    assert rounds == 1
    assert victim is not None, "no scoring job was seen on a worker node"
    assert any(f"worker node {victim} lost" in x and "re-running elsewhere" in x for x in lines), lines
    con = sqlite3.connect(db)
    try:
        rows = con.execute("SELECT uid, task_id, status, reason FROM miner_round_history").fetchall()
    finally:
        con.close()
    by_uid = {m.uid: name for name, m in miners.items()}
    assert len(rows) == len(SPECS) == len({r[1] for r in rows})  # every answer recorded, none twice
    for uid, _task, status, reason in rows:
        want, token = EXPECTED[by_uid[uid]]
        assert status == want, (by_uid[uid], status, reason)
        assert token is None or token in (reason or ""), (by_uid[uid], reason)


def test_scratch_purge_leaves_other_clusters_scratch_alone(tmp_path: Path) -> None:
    """Two clusters on one host (two validators, or a test run beside a validator): each removes only
    the scratch of nodes it knows are dead, never the other's live scratch (whose ids it does not know);
    a dir of a node nobody knows is removed once it is a day old (left by a restarted cluster)."""
    import os
    import time

    from vidaio.executor.ray_scoring import STALE_SCRATCH_S, scratch_to_purge

    def mk(node: str, age_s: float = 0.0) -> Path:
        p = tmp_path / f"{SCRATCH_PREFIX}{node}-x{len(list(tmp_path.iterdir()))}"
        p.mkdir()
        t = time.time() - age_s
        os.utime(p, (t, t))
        return p

    mine_alive, mine_dead = mk("aaaaaaaaaaaa"), mk("bbbbbbbbbbbb")
    other_cluster = mk("cccccccccccc")  # live, unknown here
    restarted = mk("dddddddddddd", age_s=STALE_SCRATCH_S + 60)
    (tmp_path / f"{SCRATCH_PREFIX}eeeeeeeeeeee-file").write_text("not a dir")
    gone = scratch_to_purge(tmp_path, {"aaaaaaaaaaaa"}, {"bbbbbbbbbbbb"})
    assert sorted(gone) == sorted([mine_dead, restarted])
    assert mine_alive not in gone and other_cluster not in gone
