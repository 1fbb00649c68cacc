"""Signed request round trips on loopback: a real uvicorn miner process + the httpx validator client.

Measures, per run: sequential round trips (median / p90 latency, requests per second), concurrent
throughput (requests per second with `--concurrency` in flight), and the btauth signing cost of
`sign(wallet)` vs `sign(wallet.hotkey)` (the trap in docs/protocol.md#signing) as a baseline ratio. Reports the median
over `--runs` runs and writes `benchmarks/out/transport.json`.

    python -m benchmarks.bench_transport [--runs 3] [--requests 300] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out" / "transport.json"


# ------------------------------------------------------------------ server side (child process)
def _serve(chain_path: str, wallet_dir: str, port: int) -> None:
    from loguru import logger

    from vidaio.chain.config import WalletConfig
    from vidaio.chain.localnet import LocalnetChain
    from vidaio.chain.wallets import load_wallet
    from vidaio.protocol import Capabilities, CompressionTask, TaskError, TaskResult, UpscalingTask
    from vidaio.transport.config import ServerConfig
    from vidaio.transport.handler import CallerInfo
    from vidaio.transport.server import build_miner_app, serve_app

    logger.remove()

    class Echo:
        async def capabilities(self) -> Capabilities:
            return Capabilities(task_type="upscaling", upscaling_types=["SD2HD"])

        async def handle_upscaling(self, task: UpscalingTask, caller: CallerInfo) -> TaskResult | TaskError:
            return TaskResult(task_id=task.task_id, output_url="http://127.0.0.1:9/o.mp4", processing_time_s=0.0)

        async def handle_compression(self, task: CompressionTask, caller: CallerInfo) -> TaskResult | TaskError:
            return TaskError(task_id=task.task_id, error="not mined")

    hotkey = load_wallet(WalletConfig(name="miner", hotkey="hk", path=Path(wallet_dir))).hotkey.ss58_address
    chain = LocalnetChain(chain_path, hotkey=hotkey)
    cfg = ServerConfig(host="127.0.0.1", port=port, min_validator_stake=0, max_concurrency=64, max_queue=4096)
    app = build_miner_app(Echo(), hotkey_ss58=hotkey, chain=chain, cfg=cfg)
    asyncio.run(serve_app(app, "127.0.0.1", port))


# ------------------------------------------------------------------ client side
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sign_cost(wallet: Any, n_wallet: int, n_keypair: int) -> dict[str, float]:
    from bittensor import http_auth

    body = b'{"task_id":"x"}' * 20
    receiver = wallet.hotkey.ss58_address

    def per_call(signer: Any, n: int) -> float:
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            http_auth.sign(signer, method="POST", path="/tasks/upscaling", body=body, receiver_ss58=receiver)
            times.append(time.perf_counter() - t0)
        return statistics.median(times) * 1000

    wallet_ms = per_call(wallet, n_wallet)
    keypair_ms = per_call(wallet.hotkey, n_keypair)
    return {"sign_wallet_ms": wallet_ms, "sign_keypair_ms": keypair_ms, "sign_ratio": wallet_ms / keypair_ms}


async def _round_trips(keypair: Any, axon: str, miner: str, n_seq: int, n_conc: int, conc: int) -> dict[str, float]:
    from vidaio.protocol import UpscalingTask
    from vidaio.transport.client import MinerClient

    def task(i: int) -> UpscalingTask:
        return UpscalingTask(task_id=f"t{i}", round_id="bench", input_url="http://127.0.0.1:9/in.mp4",
                             task_type="SD2HD", scale=2, deadline_s=10)

    async with MinerClient(keypair, max_concurrency=conc) as client:
        for i in range(20):  # warm-up: connections, code paths
            res = await client.send_task(axon, miner, task(i), 10)
            if res.kind != "ok":
                raise RuntimeError(f"warm-up request failed: {res}")
        lat = []
        t0 = time.perf_counter()
        for i in range(n_seq):
            t1 = time.perf_counter()
            res = await client.send_task(axon, miner, task(1000 + i), 10)
            lat.append(time.perf_counter() - t1)
            if res.kind != "ok":
                raise RuntimeError(f"request failed: {res}")
        seq_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        results = await asyncio.gather(*(client.send_task(axon, miner, task(10_000 + i), 10) for i in range(n_conc)))
        conc_s = time.perf_counter() - t0
        failed = [r for r in results if r.kind != "ok"]
        if failed:
            raise RuntimeError(f"{len(failed)} concurrent requests failed, first: {failed[0]}")
    lat.sort()
    return {
        "seq_median_ms": statistics.median(lat) * 1000,
        "seq_p90_ms": lat[int(0.9 * (len(lat) - 1))] * 1000,
        "seq_rps": n_seq / seq_s,
        "conc_rps": n_conc / conc_s,
    }


def _wait_health(url: str, proc: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    import httpx

    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server process exited with {proc.returncode}")
        try:
            if httpx.get(url + "/health", timeout=1, trust_env=False).json().get("metagraph_loaded"):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("server did not become healthy")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--requests", type=int, default=300, help="sequential requests per run")
    ap.add_argument("--concurrent-requests", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--serve", nargs=3, metavar=("CHAIN", "WALLETS", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.serve:
        _serve(args.serve[0], args.serve[1], int(args.serve[2]))
        return

    with tempfile.TemporaryDirectory(prefix="bench-transport-") as tmp:
        os.environ["HOME"] = tmp  # bittensor writes under ~/.bittensor
        from vidaio.chain.localnet import LocalnetChain
        from vidaio.chain.wallets import create_wallet

        wallets = Path(tmp) / "wallets"
        miner, validator = create_wallet("miner", "hk", wallets), create_wallet("validator", "hk", wallets)
        chain_path = str(Path(tmp) / "chain.sqlite")
        chain = LocalnetChain(chain_path, hotkey=validator.hotkey.ss58_address)
        chain.register(validator.hotkey.ss58_address, stake=1000.0, validator_permit=True)
        chain.register(miner.hotkey.ss58_address)

        runs = []
        for run in range(args.runs):
            port = _free_port()
            proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.bench_transport", "--serve", chain_path, str(wallets), str(port)],
                env={**os.environ, "HOME": tmp},
            )
            try:
                _wait_health(f"http://127.0.0.1:{port}", proc)
                figures = asyncio.run(_round_trips(validator.hotkey, f"127.0.0.1:{port}", miner.hotkey.ss58_address,
                                                   args.requests, args.concurrent_requests, args.concurrency))
            finally:
                proc.terminate()
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            figures.update(_sign_cost(validator, n_wallet=30, n_keypair=2000))
            runs.append(figures)
            print(f"run {run + 1}: " + ", ".join(f"{k}={v:.3f}" for k, v in figures.items()), flush=True)

    summary = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    report = {
        "benchmark": "transport",
        "what": "btauth-signed POST /tasks/upscaling round trips on loopback; uvicorn miner in its own process",
        "params": {k: v for k, v in vars(args).items() if k not in ("serve", "out")},
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
        "median_of_runs": summary,
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
