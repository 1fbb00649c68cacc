"""Validator round cost with 8, 32 and 128 simulated miners, and where the time goes.

Each miner count runs in a fresh process (so peak memory is per scenario): a local S3 (moto child
process), a localnet chain file, N cheap in-process miners (real signed uvicorn apps) that answer a
precomputed valid HEVC output of the round's clip (each miner's file has distinct bytes, so no
duplicate detection short-cuts the work), and the real round: `RoundRunner` with the capabilities
cache, upload + presign of the input, signed dispatch, safe fetch, validation, sampled VMAF in the
process scoring pool, and `record_result` into SQLite. Compression only (no PIE-APP: on a CPU-only
machine it would dominate everything; see benchmarks/bench_pieapp.py).

Reported per miner count (median over `--rounds` rounds, after one warm-up round): round wall time,
the moments the last answer arrived and the last result was recorded, summed per-task seconds of
dispatch (miner answer latency), download, validation, metrics and DB writes, and peak RSS of the
validator process (which also hosts the miners) and of the scoring workers.

    python -m benchmarks.bench_validator [--miners 8 32 128] [--rounds 2] [--workers 2]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out" / "validator.json"


def _vm(pid: int | str, key: str) -> int:
    """VmRSS / VmHWM of a process in kB (0 if gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def _reset_peak() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux >= 4.0)
    except OSError:
        pass


class FixedClips:
    """Stands in for the TaskFactory: every round gets a copy of one prepared compression clip."""

    def __init__(self, master: Any, root: Path) -> None:
        self.master = master
        self.root = root
        self.n = 0

    async def aget(self, recipe: Any, *, timeout: float = 60.0) -> Any:
        self.n += 1
        d = self.root / f"clip-{self.n}"
        d.mkdir(parents=True)
        ref = d / "reference.mp4"
        shutil.copyfile(self.master.reference, ref)
        return replace(self.master, reference=ref, directory=d)


def _outputs(reference: Path, n: int, out_dir: Path) -> list[Path]:
    """n valid HEVC outputs with distinct bytes: 4 encodes, each remuxed with a per-miner tag."""
    from scoring.media.ffmpeg import run_ffmpeg

    encodes = []
    for crf in (12, 14, 16, 18):  # high quality: every output passes VMAF 85 and scores > 0
        p = out_dir / f"enc{crf}.mp4"
        run_ffmpeg(["-loglevel", "error", "-i", str(reference), "-c:v", "libx265", "-preset", "ultrafast",
                    "-x265-params", "log-level=error", "-crf", str(crf), "-pix_fmt", "yuv420p", str(p)])  # fmt: skip
        encodes.append(p)
    outs = []
    for i in range(n):
        p = out_dir / f"miner{i}.mp4"
        run_ffmpeg(["-loglevel", "error", "-i", str(encodes[i % 4]), "-c", "copy",
                    "-metadata", f"comment=miner-{i}", str(p)])  # fmt: skip
        outs.append(p)
    return outs


async def _scenario(n: int, rounds: int, workers: int, size: tuple[int, int], seconds: float) -> dict[str, Any]:
    from bittensor.wallet import Keypair
    from loguru import logger

    from scoring.config import ScoringConfig
    from scoring.metrics.config import MetricsConfig
    from services.synthesis import PrepareSettings, SyntheticSource, prepare_compression
    from vidaio.chain.localnet import LocalnetChain
    from vidaio.db.config import DbConfig
    from vidaio.db.repository import Repository
    from vidaio.fetch import FetchConfig
    from vidaio.protocol import Capabilities, CompressionTask, TaskError, TaskResult, UpscalingTask
    from vidaio.storage.local import local_s3
    from vidaio.storage.s3 import S3Store
    from vidaio.transport.client import MinerClient
    from vidaio.transport.config import ServerConfig
    from vidaio.transport.handler import CallerInfo
    from vidaio.transport.runner import running_app
    from vidaio.transport.server import build_miner_app
    from vidaio.validator.config import ValidatorSettings
    from vidaio.validator.judge import Judge
    from vidaio.validator.loop import RoundRunner
    from vidaio.validator.pool import ScorePool, _warm
    from vidaio.validator.roster import CapabilityCache
    from vidaio.validator.tasks import TaskBuilder

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    root = Path(tempfile.mkdtemp(prefix="bench-validator-"))
    try:
        master = prepare_compression(
            SyntheticSource(text=False), size=size, seconds=seconds, fps=24, seed=11, work_dir=root / "master",
            settings=PrepareSettings(preset="ultrafast"),
        )  # fmt: skip
        (root / "outputs").mkdir()
        outputs = _outputs(master.reference, n, root / "outputs")
        caps = Capabilities(task_type="compression", codecs=["hevc"], max_content_length=10)
        validator = Keypair.create_from_uri("//bench-validator")
        chain_path = root / "chain.sqlite"
        chain = LocalnetChain(chain_path, hotkey=validator.ss58_address, block_time_s=1.0)
        chain.register(validator.ss58_address, stake=10_000.0, validator_permit=True)
        with local_s3(buckets=["bench-inputs", "bench-outputs"], mode="process") as s3:
            miner_store = S3Store(s3.storage_config("bench-outputs"))
            in_store = S3Store(s3.storage_config("bench-inputs"))

            class Cheap:
                def __init__(self, url: str) -> None:
                    self.url = url

                async def capabilities(self) -> Capabilities:
                    return caps

                async def handle_compression(self, task: CompressionTask, caller: CallerInfo) -> TaskResult | TaskError:
                    return TaskResult(task_id=task.task_id, output_url=self.url, processing_time_s=0.0)

                async def handle_upscaling(self, task: UpscalingTask, caller: CallerInfo) -> TaskResult | TaskError:
                    return TaskError(task_id=task.task_id, error="not mined")

            server_cfg = ServerConfig(host="127.0.0.1", port=0, min_validator_stake=0, metagraph_refresh_s=1.0)
            from contextlib import AsyncExitStack

            async with AsyncExitStack() as stack:
                for i, out in enumerate(outputs):
                    hk = Keypair.create_from_uri(f"//bench-miner-{i}").ss58_address
                    key = f"{hk}/bench/out.mp4"
                    await miner_store.upload(out, key)
                    url = (await miner_store.presign_get(key, 7200)).url
                    mchain = LocalnetChain(chain_path, hotkey=hk)
                    mchain.register(hk)
                    app = build_miner_app(Cheap(url), hotkey_ss58=hk, chain=mchain, cfg=server_cfg)
                    srv = await stack.enter_async_context(running_app(app, "127.0.0.1", 0))
                    mchain.serve_sync(hk, "127.0.0.1", srv.port)
                await asyncio.sleep(1.5)  # let every miner load the metagraph (admission)
                settings = ValidatorSettings(
                    profile="tiny", upscaling_types=[], compression_codecs=["hevc"], compression_thresholds=[85.0],
                    compression_seconds=seconds, compression_size=size, score_workers=workers,
                    work_dir=root / "work", compression_deadline_s=120,
                )  # fmt: skip
                scoring = ScoringConfig()
                repo = Repository.open(DbConfig(path=root / "validator.db"), scoring)
                pool = ScorePool("bench-secret", scoring, MetricsConfig(vmaf_threads=1), workers=workers,
                                 log_level="WARNING").start()
                await asyncio.gather(*(asyncio.wrap_future(pool._exec().submit(_warm)) for _ in range(workers)))
                client = MinerClient(validator, max_concurrency=256, max_connections=256)
                builder = TaskBuilder(FixedClips(master, root / "clips"), in_store, hotkey=validator.ss58_address,  # type: ignore[arg-type]
                                      fps=24, presign_ttl_s=3600, timeout_s=60)  # fmt: skip
                judge = Judge(pool=pool, fetch_cfg=FetchConfig(allow_hosts=["127.0.0.1"]), metrics=MetricsConfig(),
                              work_dir=root / "work", upscaling_vmaf_threshold=50.0)  # fmt: skip
                runner = RoundRunner(settings=settings, repo=repo, client=client,
                                     caps=CapabilityCache(client, ttl_s=3600), builder=builder, judge=judge,
                                     secret="bench-secret", own_hotkey=validator.ss58_address)  # fmt: skip
                results = []
                for r in range(rounds + 1):  # round 0 warms up (capabilities, connections, caches)
                    snapshot = chain.snapshot()
                    _reset_peak()
                    stats = await runner.run_round(snapshot, chain.block() + r)
                    worker_pids = list((getattr(pool._executor, "_processes", None) or {}).keys())
                    failures = _failures(root / "validator.db", stats.round_id)
                    row = {
                        "wall_s": stats.wall_s,
                        "recorded": stats.recorded,
                        "ok": stats.statuses.get("ok", 0),
                        "scored": sum(1 for x in stats.scores["compression"] if x > 0),
                        "marks": stats.marks,
                        "task_seconds": stats.timings,
                        "peak_rss_validator_mb": _vm("self", "VmHWM") / 1024,
                        "peak_rss_workers_mb": [_vm(p, "VmHWM") / 1024 for p in worker_pids],
                        "failures": failures,
                    }
                    if r > 0:
                        results.append(row)
                    print(f"[{n} miners] round {r}{' (warm-up)' if r == 0 else ''}: {stats.summary()}", file=sys.stderr)
                    for reason in sorted(set(failures))[:5]:
                        print(f"    not ok: {reason}", file=sys.stderr)
                await client.close()
                runner.close()
                pool.close()
                repo.close()
            miner_store.close()
            in_store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return _summarise(n, results)


def _failures(db: Path, round_id: str) -> list[str]:
    """`status: reason` of every result of the round that is not ok (should be none)."""
    import sqlite3

    con = sqlite3.connect(db)
    try:
        rows = con.execute(
            "SELECT status, reason FROM miner_round_history WHERE round_id = ? AND status != 'ok'", (round_id,)
        ).fetchall()
    finally:
        con.close()
    return [f"{s}: {r}" for s, r in rows]


def _summarise(n: int, rows: list[dict[str, Any]]) -> dict[str, Any]:
    med = statistics.median
    keys = list(rows[0]["task_seconds"])
    return {
        "miners": n,
        "rounds": len(rows),
        "all_ok": all(r["ok"] == n for r in rows),
        "all_scored": all(r["scored"] == n for r in rows),
        "round_wall_s": med(r["wall_s"] for r in rows),
        "round_wall_s_runs": [round(r["wall_s"], 3) for r in rows],
        "last_answer_s": med(r["marks"].get("last_answer_s", 0.0) for r in rows),
        "last_record_s": med(r["marks"].get("last_record_s", 0.0) for r in rows),
        "task_seconds_sum": {k: med(r["task_seconds"][k] for r in rows) for k in keys},
        "task_ms_mean": {k: 1000 * med(r["task_seconds"][k] for r in rows) / n for k in keys if k != "prepare_s"},
        "peak_rss_validator_mb": max(r["peak_rss_validator_mb"] for r in rows),
        "failures": [f for r in rows for f in r["failures"]],
        "peak_rss_worker_mb": max((max(r["peak_rss_workers_mb"] or [0]) for r in rows), default=0),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--miners", type=int, nargs="+", default=[8, 32, 128])
    ap.add_argument("--rounds", type=int, default=2, help="measured rounds per miner count (after a warm-up)")
    ap.add_argument("--workers", type=int, default=2, help="scoring workers (processes)")
    ap.add_argument("--size", default="320x180", help="clip size WxH")
    ap.add_argument("--seconds", type=float, default=1.0, help="clip length")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--scenario", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    w, h = (int(x) for x in args.size.lower().split("x"))
    if args.scenario is not None:
        res = asyncio.run(_scenario(args.scenario, args.rounds, args.workers, (w, h), args.seconds))
        print(json.dumps(res))
        return
    started = time.time()
    scenarios = []
    for n in args.miners:
        cmd = [sys.executable, "-m", "benchmarks.bench_validator", "--scenario", str(n), "--rounds", str(args.rounds),
               "--workers", str(args.workers), "--size", args.size, "--seconds", str(args.seconds)]  # fmt: skip
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[1])
        if proc.returncode != 0:
            raise SystemExit(f"scenario with {n} miners failed (exit {proc.returncode})")
        scenarios.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(scenarios[-1], indent=2))
    report = {
        "benchmark": "validator round",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg_1m": os.getloadavg()[0]},
        "params": {k: v for k, v in vars(args).items() if k not in ("out", "scenario")},
        "elapsed_s": round(time.time() - started, 1),
        "scenarios": scenarios,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
