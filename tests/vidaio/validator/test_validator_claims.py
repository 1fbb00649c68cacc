"""One claim per solution, end to end (issue 19 item 4): a real validator round (signed HTTP, moto S3,
localnet chain, real scoring) where an operator's encode is answered first and three more hotkeys
answer near-copies of it (the same encode with one frame re-encoded, a remux with a changed title and
the index moved to the end, the same encode at CRF + 1), and three honest miners answer with other
encoder settings (one of them the same CRF at another preset, within the size ratio). The first
arrival is paid, the copies are `duplicate_submission` naming its uid, every honest miner is paid.

The round's clip is the validator's seeded synthetic source (seed 7, 2 s at 320x180) and x265 runs
single-threaded, so every verdict is deterministic: the copies are caught by the rules that do not
depend on the frames drawn — identical decoded pictures (one frame, remux) and the coding structure
(CRF 18 vs 19 on this clip: one structure, size spread 0.029 against the hevc limit of 0.04; from
CRF 22 vs 23 up it is 0.041-0.08, outside, and a CRF + 1 copy there is paid: the pixel cross ratio
that caught it on some draws is off by default since it also merges honest answers on grainy content,
docs/scoring.md#duplicates-and-near-copies)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from validator_support import MinerCtx, MinerSpec, Subnet, Task, compression_caps, run_miners

from scoring.media.ffmpeg import run_ffmpeg
from services.compression.encoder import encode_args
from tests.media_factory import remux
from vidaio.protocol import CompressionTask, TaskError, TaskResult
from vidaio.validator.daemon import run_validator
from vidaio.validator.loop import RoundStats

pytestmark = [pytest.mark.slow, pytest.mark.integration]

BASE_CRF = 18


def _encode(src: Path, dst: Path, crf: int, preset: str, x265: str = "") -> Path:
    args = encode_args(src, dst, "hevc", crf, preset=preset, threads=1)
    i = args.index("-x265-params")
    args[i + 1] = "pools=1:frame-threads=1:log-level=error" + (f":{x265}" if x265 else "")  # deterministic
    run_ffmpeg(args, timeout_s=120)
    return dst


def operator_first():
    """The operator's encode, answered first; shared with the other hotkeys through the board."""

    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        assert isinstance(task, CompressionTask)
        src = await ctx.fetch_input(task)
        dst = await asyncio.to_thread(_encode, src, src.with_name("out.mp4"), BASE_CRF, "medium")
        result = await ctx.publish(dst, task)
        ctx.posted(task.round_id).set_result(src)  # the copies rebuild from the same input
        return result

    return work


def operator_copy(kind: str, delay_s: float):
    """A near-copy of the operator's encode, answered `delay_s` after it."""

    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        src = await asyncio.wait_for(asyncio.shield(ctx.posted(task.round_id)), 60)
        out = ctx.scratch / f"{kind}-{task.task_id}.mp4"
        if kind == "one_frame":  # the same encode with frame 3 re-encoded at another quantiser
            await asyncio.to_thread(_encode, src, out, BASE_CRF, "medium", "zones=3,3,q=40")
        elif kind == "remux":  # a metadata byte changed, the index moved to the end (no +faststart)
            base = await asyncio.to_thread(
                _encode, src, ctx.scratch / f"base-{task.task_id}.mp4", BASE_CRF, "medium"
            )
            await asyncio.to_thread(remux, base, out, extra=["-metadata", "title=another hotkey"])
        else:  # the same encode one CRF step higher: every frame a little smaller, the same decisions
            await asyncio.to_thread(_encode, src, out, BASE_CRF + 1, "medium")
        await asyncio.sleep(delay_s)
        return await ctx.publish(out, task)

    return work


def honest(crf: int, preset: str):
    async def work(ctx: MinerCtx, task: Task) -> TaskResult | TaskError:
        src = await ctx.fetch_input(task)
        dst = await asyncio.to_thread(_encode, src, src.with_name(f"honest-{preset}.mp4"), crf, preset)
        return await ctx.publish(dst, task)

    return work


SPECS = [
    MinerSpec("copy_one_frame", compression_caps(), operator_copy("one_frame", 0.0)),
    MinerSpec("first", compression_caps(), operator_first()),
    MinerSpec("copy_remux", compression_caps(), operator_copy("remux", 1.0)),
    MinerSpec("copy_crf_plus_1", compression_caps(), operator_copy("crf+1", 2.0)),
    MinerSpec("honest_ultrafast", compression_caps(), honest(20, "ultrafast")),
    MinerSpec("honest_slow", compression_caps(), honest(30, "slow")),
    MinerSpec("honest_fast", compression_caps(), honest(BASE_CRF, "fast")),
]


def _rows(db: Path) -> list[sqlite3.Row]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return con.execute("SELECT * FROM miner_round_history").fetchall()
    finally:
        con.close()


async def test_near_copies_are_one_claim_paid_to_the_first(tmp_path: Path, s3: Any, wallet_dir: Path) -> None:
    subnet = Subnet(tmp_path, s3, wallet_dir)
    subnet.register("claims_validator", validator=True)
    cfg = subnet.validator_config(
        "claims_validator", tmp_path / "validator.db", compression_deadline_s=60.0, compression_thresholds=[50.0],
        upscaling_group_size=8, compression_seconds=2.0, compression_size=[320, 180],
    )  # fmt: skip
    seen: list[RoundStats] = []
    async with run_miners(subnet, SPECS) as miners:
        rounds = await run_validator(cfg, on_round=seen.append)
    assert rounds == 1 and seen[0].status == "finished"
    names = {m.uid: n for n, m in miners.items()}
    rows = {names[r["uid"]]: r for r in _rows(subnet.root / "validator.db")}
    assert set(rows) == {s.name for s in SPECS}
    first = miners["first"].uid
    for name in ("first", "honest_ultrafast", "honest_slow", "honest_fast"):
        assert rows[name]["status"] == "ok" and rows[name]["s_f"] > 0, (name, rows[name]["reason"])
    for name in ("copy_one_frame", "copy_remux", "copy_crf_plus_1"):
        r = rows[name]
        assert r["status"] == "invalid" and r["s_f"] == 0.0, (name, r["status"], r["reason"])
        assert r["reason"].startswith("duplicate_submission") and f"uid {first}'s" in r["reason"], (
            name,
            r["reason"],
        )
    assert (
        "identical pictures" in rows["copy_one_frame"]["reason"]
        and "identical pictures" in rows["copy_remux"]["reason"]
    )
    assert "the same coding structure" in rows["copy_crf_plus_1"]["reason"], rows["copy_crf_plus_1"]["reason"]
