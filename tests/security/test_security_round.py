"""Exploit suite, end to end: one real validator round (signed HTTP, moto S3, localnet chain, real
scoring; compression only: the upscaling boost attack is tested at file level in
test_security_outputs.py, where the gate can be set so the boost is what crosses it) against miners
that each play one attack. Every attacker ends with score 0 and a named reason
in `miner_round_history`, only the honest miners get weight, and neither the validator nor any miner
crashes (the round finishes, every task is recorded, every miner still answers /health)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest
import validator_strategies as st
from fastapi import FastAPI, Response
from hostile_http import Hostile, hostile_server
from validator_support import MinerCtx, MinerSpec, Subnet, Task, compression_caps, run_miners

from services.compression import CompressionSettings, FixedCrfEngine
from tests.media_factory import reencode, remux
from vidaio.fetch import FetchConfig
from vidaio.protocol import CompressionTask, TaskError, TaskResult
from vidaio.transport.runner import running_app
from vidaio.validator.config import ValidatorConfig
from vidaio.validator.daemon import run_validator
from vidaio.validator.loop import RoundStats

pytestmark = [pytest.mark.slow, pytest.mark.integration]

URLS: dict[str, asyncio.Future[str]] = {}  # round_id -> the honest miner's answered URL
HOSTILE = Hostile()  # the running hostile server (its port is set by the test)


def _url_board(round_id: str) -> asyncio.Future[str]:
    if round_id not in URLS:
        URLS[round_id] = asyncio.get_running_loop().create_future()
    return URLS[round_id]


def honest():
    """The real fixed-CRF engine; shares its output file (for the byte copier) and its URL (for the replayer)."""
    settings = CompressionSettings(presets={"hevc": "ultrafast"}, fixed_crf={93: {"hevc": 22}}, threads=1)

    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        assert isinstance(task, CompressionTask)
        src = await ctx.fetch_input(task)
        dst = src.with_name("out.mp4")
        engine = FixedCrfEngine(settings.model_copy(update={"work_dir": src.parent}))
        await asyncio.to_thread(engine.compress, src, dst, codec="hevc", vmaf_threshold=task.vmaf_threshold)
        result = await ctx.publish(dst, task)
        ctx.posted(task.round_id).set_result(dst)
        _url_board(task.round_id).set_result(result.output_url)
        return result

    return work


def replay_url():
    """Answers the honest miner's URL as its own (a little later, so the honest answer arrives first)."""

    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        url = await asyncio.wait_for(asyncio.shield(_url_board(task.round_id)), 30)
        await asyncio.sleep(2.0)
        return TaskResult(task_id=task.task_id, output_url=url, processing_time_s=0.1)

    return work


def transformed(vf: str | None = None, *, remux_only: bool = False, codec: str = "hevc", crf: int = 22):
    """Fetches the input and answers a transform of it: a remux, or a filtered re-encode."""

    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        src = await ctx.fetch_input(task)
        dst = src.with_name("attack.mp4")
        if remux_only:
            await asyncio.to_thread(
                remux, src, dst, extra=["-movflags", "+faststart", "-metadata", "title=mine"]
            )
        else:
            w, h = await asyncio.to_thread(_size, src)
            scale = getattr(task, "scale", 1)
            chain = f"scale={w * scale}:{h * scale}:flags=lanczos" + (f",{vf}" if vf else "")
            await asyncio.to_thread(reencode, src, dst, codec, crf=crf, vf=chain)
        return await ctx.publish(dst, task)

    return work


def _size(path: Path) -> tuple[int, int]:
    from scoring.media.probe import probe

    info = probe(path)
    return info.width, info.height


def hostile_url(path: str):
    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        return TaskResult(task_id=task.task_id, output_url=HOSTILE.url(path), processing_time_s=0.1)

    return work


def other_task_id():
    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        return TaskResult(
            task_id=task.task_id + "x", output_url="http://127.0.0.1:9/x.mp4", processing_time_s=0.1
        )

    return work


SPECS = [
    MinerSpec("c_honest", compression_caps(), honest()),
    MinerSpec("c_replay_url", compression_caps(), replay_url()),
    MinerSpec("c_copy_bytes", compression_caps(), st.copier()),
    MinerSpec("c_remux_reference", compression_caps(), transformed(remux_only=True)),
    MinerSpec("c_grayscale", compression_caps(), transformed("hue=s=0")),
    MinerSpec("c_redirect_private", compression_caps(), hostile_url("/redirect-private")),
    MinerSpec("c_redirect_loopback", compression_caps(), hostile_url("/redirect-loopback")),
    MinerSpec("c_slow_forever", compression_caps(), hostile_url("/slow")),
    MinerSpec("c_huge_declared", compression_caps(), hostile_url("/huge")),
    MinerSpec("c_flood", compression_caps(), hostile_url("/chunked-flood")),
    MinerSpec("c_other_task_id", compression_caps(), other_task_id()),
]
GARBAGE = "c_garbage_json"

# name -> (status, token(s) in the reason: any of them)
EXPECTED: dict[str, tuple[str, str | tuple[str, ...] | None]] = {
    "c_honest": ("ok", None),
    "c_replay_url": ("invalid", "this URL was already submitted"),
    "c_copy_bytes": ("invalid", "the same bytes"),
    # a remux is a few bytes larger or smaller than the original: refused at download or by validation
    "c_remux_reference": ("invalid", ("same_as_reference", "oversized")),
    "c_grayscale": ("invalid", "chroma_mismatch"),
    "c_redirect_private": ("fetch_failed", "link_local_address"),
    "c_redirect_loopback": ("fetch_failed", "loopback_address"),
    "c_slow_forever": ("fetch_failed", "timeout"),
    "c_huge_declared": ("invalid", "oversized: Content-Length 1000000000000"),
    "c_flood": ("invalid", "oversized: body exceeds the cap"),
    "c_other_task_id": ("bad_response", "response is for task"),
    GARBAGE: ("bad_response", "not a TaskResult/TaskError"),
}


def garbage_json_app() -> FastAPI:
    """A 'miner' that is not built with build_miner_app: valid capabilities, garbage task answers."""
    app = FastAPI()

    @app.get("/capabilities")
    async def caps() -> Response:
        return Response(compression_caps().model_dump_json(), media_type="application/json")

    @app.post("/tasks/compression")
    async def task() -> Response:
        return Response(b'{"task_id": [1, 2, {"output_url": nul', media_type="application/json")

    return app


def _rows(db: Path, sql: str) -> list[sqlite3.Row]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


async def test_every_attack_scores_zero_with_a_named_reason(
    tmp_path: Path, s3: Any, wallet_dir: Path
) -> None:
    subnet = Subnet(tmp_path, s3, wallet_dir)
    _, v_uid = subnet.register("sec_validator", validator=True)
    sections = subnet.validator_sections(
        "sec_validator", tmp_path / "validator.db", upscaling_group_size=4, compression_deadline_s=20.0,
        upscaling_deadline_s=30.0, compression_thresholds=[70.0],
    )  # fmt: skip
    # downloads: the slow-forever URL must cost seconds, not the default ten minutes
    sections["fetch"] = FetchConfig(
        allow_hosts=["127.0.0.1"], total_timeout_s=8, connect_timeout_s=8, read_timeout_s=4
    )
    cfg = ValidatorConfig(**sections)
    seen: list[RoundStats] = []
    async with hostile_server() as hostile, run_miners(subnet, SPECS) as miners:
        HOSTILE.port = hostile.port
        g_wallet, g_uid = subnet.register(GARBAGE)
        g_hotkey = g_wallet.hotkey.ss58_address
        async with running_app(garbage_json_app(), "127.0.0.1", 0) as g_srv:
            subnet.chain(g_hotkey).serve_sync(g_hotkey, "127.0.0.1", g_srv.port)
            rounds = await run_validator(cfg, on_round=seen.append)
        # every attacked miner is still up
        async with httpx.AsyncClient(trust_env=False, timeout=5) as http:
            for m in miners.values():
                neuron = subnet.chain("x").snapshot().by_uid(m.uid)
                assert neuron is not None and neuron.axon
                axon = neuron.axon
                assert (await http.get(f"http://{axon}/health")).json()["status"] == "ok", m.name
        assert (
            hostile.hits.get("/slow") and hostile.hits.get("/huge") and hostile.hits.get("/redirect-private")
        )

    assert rounds == 1 and len(seen) == 1
    stats = seen[0]
    assert stats.status == "finished" and stats.recorded == stats.planned == len(SPECS) + 1

    names = {m.uid: n for n, m in miners.items()} | {g_uid: GARBAGE}
    rows = {
        names[r["uid"]]: r for r in _rows(subnet.root / "validator.db", "SELECT * FROM miner_round_history")
    }
    assert set(rows) == set(EXPECTED)
    for name, (status, token) in EXPECTED.items():
        r = rows[name]
        assert r["status"] == status, (name, r["status"], r["reason"])
        if token is not None:
            tokens = (token,) if isinstance(token, str) else token
            assert any(t in (r["reason"] or "") for t in tokens), (name, r["reason"])
            assert r["s_f"] == 0.0, (name, r["s_f"])
        else:
            assert r["s_f"] > 0, (name, r["reason"])

    meta = {names[r["uid"]]: r for r in _rows(subnet.root / "validator.db", "SELECT * FROM miner_metadata")}
    honest_names = {"c_honest"}
    assert all(meta[n]["accumulate_score"] > 0 for n in honest_names)
    assert all(meta[n]["accumulate_score"] == 0 for n in set(meta) - honest_names)
    (ws,) = _rows(subnet.root / "validator.db", "SELECT * FROM weight_sets")
    assert ws["success"] == 1
    on_chain = subnet.chain("x").weights_of(v_uid)
    # the upscaling pool has no honest miner: its share goes to compression
    assert on_chain == {miners["c_honest"].uid: pytest.approx(1.0)}
