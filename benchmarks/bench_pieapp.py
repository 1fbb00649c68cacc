"""PIE-APP benchmark: seconds and peak RSS per frame pair with different patch chunk sizes.

    python -m benchmarks.bench_pieapp [--size 1080p] [--chunks 64 256] [--runs 3] [--one-batch]
                                      [--backend pyiqa] [--device cpu]

The pair is one frame of ffmpeg's `testsrc2` at the chosen size and the same frame blurred and
noised (`gblur=sigma=2,noise=alls=20`). Weights are random-initialised (saved once to
`benchmarks/out/cache/pieapp/`): time and memory do not depend on the weight values.

Each chunk size runs in a fresh worker process, so its peak RSS is its own:
- `peak_rss_mb`: the worker's ru_maxrss (python + torch + the library + 273 MB of weights + scoring);
- `median_s` wall-clock and `median_cpu_s` process CPU time (all threads) of the scoring call;
- `scoring_growth_mb`: VmHWM during the scoring call minus VmRSS just before it (Linux clear_refs),
  i.e. the memory the patches and activations cost on top of the loaded model.
`--one-batch` adds one run with every patch in a single batch (what pyiqa does; ~80 s and ~11 GB
for 1080p on 2 CPU threads). Writes `benchmarks/out/pieapp.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from scoring.media.ffmpeg import run_ffmpeg

OUT = Path("benchmarks/out")
CACHE = OUT / "cache" / "pieapp"
SIZES = {"256p": (256, 256), "540p": (960, 540), "1080p": (1920, 1080), "2160p": (3840, 2160)}
ONE_BATCH = 10**9
console = Console(width=140)


def lavfi_frame(width: int, height: int, path: Path, extra: str = "") -> Path:
    """One RGB24 frame of testsrc2 (+ filters) as a raw .rgb file, cached."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        run_ffmpeg(
            ["-loglevel", "error", "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate=1:duration=1{extra}",
             "-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", str(tmp)],
            timeout_s=120,
        )  # fmt: skip
        tmp.rename(path)
    return path


def load_frame(path: Path, width: int, height: int) -> np.ndarray:
    return np.fromfile(path, dtype=np.uint8).reshape(height, width, 3)


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (Linux >= 4.0)
        return True
    except OSError:
        return False


def worker(args: argparse.Namespace) -> dict[str, Any]:
    """One chunk size in this process: load the backend, score the pair `runs` times."""
    import torch

    from scoring.metrics.pieapp import PieAppMetric
    from scoring.metrics.pieapp_backends import build_backend, patch_grid

    width, height = SIZES[args.size]
    ref = load_frame(Path(args.ref), width, height)
    dist = load_frame(Path(args.dist), width, height)
    t0 = time.perf_counter()
    backend = build_backend(
        args.backend, weights_path=Path(args.weights), chunk_size=args.chunk, device=args.device
    )
    metric = PieAppMetric(backend)
    load_s = time.perf_counter() - t0
    seconds: list[float] = []
    cpu_seconds: list[float] = []
    growth: list[float] = []
    value = float("nan")
    for _ in range(args.runs):
        before = _status_mb("VmRSS")
        exact = _reset_peak()
        t, c = time.perf_counter(), time.process_time()
        value = metric.score_pair(ref, dist)
        if backend.device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds.append(time.perf_counter() - t)
        cpu_seconds.append(time.process_time() - c)
        if exact:
            growth.append(_status_mb("VmHWM") - before)
    rows, cols = patch_grid(height, width)
    return {
        "chunk": None if args.chunk >= ONE_BATCH else args.chunk,
        "patches": rows * cols,
        "runs": args.runs,
        "seconds": seconds,
        "median_s": statistics.median(seconds),
        "cpu_seconds": cpu_seconds,
        "median_cpu_s": statistics.median(cpu_seconds),
        "load_s": load_s,
        "scoring_growth_mb": max(growth) if growth else None,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "value": value,
        "torch_threads": torch.get_num_threads(),
        "device": backend.device,
    }


def run_worker(args: argparse.Namespace, chunk: int, runs: int, ref: Path, dist: Path, weights: Path) -> dict:
    cmd = [
        sys.executable, "-m", "benchmarks.bench_pieapp", "--worker", "--size", args.size, "--chunk", str(chunk),
        "--runs", str(runs), "--backend", args.backend, "--device", args.device,
        "--ref", str(ref), "--dist", str(dist), "--weights", str(weights),
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"worker chunk={chunk} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", choices=sorted(SIZES), default="1080p")
    p.add_argument("--chunks", type=int, nargs="+", default=[64, 256])
    p.add_argument("--runs", type=int, default=3, help="scoring runs per chunk size (median reported)")
    p.add_argument("--one-batch", action="store_true", help="also run once with all patches in one batch")
    p.add_argument("--backend", choices=["pyiqa", "piq"], default="pyiqa")
    p.add_argument("--device", default="cpu")
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--out", type=Path, default=OUT / "pieapp.json")
    # worker mode (internal)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--chunk", type=int, default=256, help=argparse.SUPPRESS)
    p.add_argument("--ref", help=argparse.SUPPRESS)
    p.add_argument("--dist", help=argparse.SUPPRESS)
    p.add_argument("--weights", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        print(json.dumps(worker(args)))
        return

    from scoring.metrics.pieapp import save_random_weights

    width, height = SIZES[args.size]
    ref = lavfi_frame(width, height, CACHE / f"ref_{args.size}.rgb")
    dist = lavfi_frame(width, height, CACHE / f"dist_{args.size}.rgb", ",gblur=sigma=2,noise=alls=20:allf=t")
    weights = CACHE / f"random_{args.backend}.pth"
    if not weights.exists():
        save_random_weights(weights, backend=args.backend, seed=0)

    results = []
    plan = [(c, args.runs) for c in args.chunks] + ([(ONE_BATCH, 1)] if args.one_batch else [])
    for chunk, runs in plan:
        label = "one batch" if chunk >= ONE_BATCH else str(chunk)
        console.print(f"[dim]{args.size} chunk {label}: {runs} run(s)...[/dim]")
        results.append(run_worker(args, chunk, runs, ref, dist, weights))

    table = Table(
        title=f"PIE-APP ({args.backend}, {args.device}) per {width}x{height} frame pair, random weights"
    )
    cols = ("chunk", "patches", "runs", "median s", "runs s", "CPU s", "scoring +MB", "peak RSS MB", "value")
    for col in cols:
        table.add_column(col, justify="right")
    for r in results:
        table.add_row(
            "one batch" if r["chunk"] is None else str(r["chunk"]), str(r["patches"]), str(r["runs"]),
            f"{r['median_s']:.1f}", " ".join(f"{s:.1f}" for s in r["seconds"]),
            f"{r['median_cpu_s']:.1f}" if "median_cpu_s" in r else "-",
            "-" if r["scoring_growth_mb"] is None else f"{r['scoring_growth_mb']:.0f}",
            f"{r['peak_rss_mb']:.0f}", f"{r['value']:.6f}",
        )  # fmt: skip
    console.print(table)

    report = {
        "benchmark": "pieapp",
        "size": args.size,
        "width": width,
        "height": height,
        "backend": args.backend,
        "device": args.device,
        "weights": "random-initialised (timing/memory do not depend on values)",
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "load_avg_at_end": os.getloadavg(),
        },
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
