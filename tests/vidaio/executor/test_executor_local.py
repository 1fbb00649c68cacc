"""The default executor is `local` and never imports Ray: a whole local round (validator scoring in
its pool, a real miner answering through its worker pool) runs in a fresh interpreter, which then
has no `ray` module loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from vidaio.executor.config import RaySettings
from vidaio.miner.config import MinerConfig
from vidaio.validator.config import ValidatorConfig

REPO = Path(__file__).resolve().parents[3]

ROUND_SCRIPT = r'''
import asyncio, json, sys, tempfile
from pathlib import Path
sys.path[:0] = [sys.argv[1] + "/tests/vidaio/validator", sys.argv[1] + "/tests/vidaio/miner", sys.argv[1]]

import validator_strategies as st
from miner_support import build_world, miner_config, presigned_input
from validator_support import MINER_BUCKET, MinerSpec, Subnet, compression_caps, run_miners

from tests.media_factory import make_clip
from vidaio.miner.daemon import build_miner
from vidaio.protocol import CompressionTask
from vidaio.storage.local import local_s3
from vidaio.transport.client import MinerClient
from vidaio.transport.runner import running_app
from vidaio.validator.daemon import run_validator


async def main(root: Path) -> dict:
    with local_s3(buckets=[MINER_BUCKET]) as s3:
        subnet = Subnet(root / "v", s3, root / "wallets")
        (root / "v").mkdir()
        subnet.register("validator", validator=True)
        cfg = subnet.validator_config("validator", root / "v" / "db.sqlite", score_executor="process")
        assert cfg.validator.executor == "local"
        async with run_miners(subnet, [MinerSpec("c", compression_caps(), st.honest_compression(25))]):
            rounds = await run_validator(cfg)
        world = build_world(root / "m", s3)
        mcfg = miner_config(world, "miner_a", root / "m" / "work", task_type="compression", codecs=["av1"],
                            compression_engine="fixed")
        assert mcfg.miner.executor == "local"
        clip = make_clip(root / "in.mp4", size=(160, 90), frames=12, crf=12)
        rt = await build_miner(mcfg)
        try:
            async with running_app(rt.app, "127.0.0.1", 0) as srv, MinerClient(world.validator_keypair) as client:
                task = CompressionTask(task_id="t1", round_id="r1", input_url=presigned_input(world, clip),
                                       vmaf_threshold=80, codec="av1", deadline_s=60)
                got = await client.send_task(f"127.0.0.1:{srv.port}", rt.hotkey, task, deadline_s=60)
        finally:
            await rt.close()
    return {"rounds": rounds, "miner": got.kind, "ray": sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))}


print("RESULT " + json.dumps(asyncio.run(main(Path(tempfile.mkdtemp())))))
'''


def test_executor_defaults_to_local_and_reads_the_ray_section(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VIDAIO_RAY__ADDRESS", "10.0.0.5:6379")
    monkeypatch.setenv("VIDAIO_RAY__MAX_IN_FLIGHT_PER_NODE", "4")
    miner, validator = MinerConfig(_env_file=None), ValidatorConfig(_env_file=None)  # type: ignore[call-arg]
    assert miner.miner.executor == "local" and validator.validator.executor == "local"
    assert miner.ray.address == validator.ray.address == "10.0.0.5:6379"
    assert miner.ray.max_in_flight_per_node == 4 and RaySettings().worker_resource == "vidaio_worker"
    monkeypatch.setenv("VIDAIO_MINER__EXECUTOR", "ray")
    assert MinerConfig(_env_file=None).miner.executor == "ray"  # type: ignore[call-arg]
    monkeypatch.setenv("VIDAIO_MINER__EXECUTOR", "dask")
    with pytest.raises(ValueError, match="executor"):
        MinerConfig(_env_file=None)  # type: ignore[call-arg]


@pytest.mark.slow
@pytest.mark.integration
def test_a_local_round_and_a_local_miner_never_import_ray(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDAIO_")}
    env["HOME"] = str(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-c", ROUND_SCRIPT, str(REPO)], cwd=tmp_path, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    lines = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-4000:]
    result = json.loads(lines[-1][len("RESULT "):])
    assert result["rounds"] == 1 and result["miner"] == "ok", result
    assert result["ray"] == []
