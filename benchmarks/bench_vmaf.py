"""VMAF benchmark: scoring one compression response with sampled VMAF (5 frames) vs full-clip VMAF.

    python -m benchmarks.bench_vmaf [--runs 5] [--source PATH] [--threshold 85]

The pair: a ~10 s 1080p reference (the `real-720p-a.mp4` footage upscaled with lanczos, x264 crf 16,
or a lavfi testsrc2 clip when the shared media is absent) and a compression miner's answer to it
(SVT-AV1 preset 12 crf 38, MP4). Both are cached in `benchmarks/out/cache/vmaf/`.

Per run, each mode scores the response the validator's way: output validation (probe, decode pass,
identity checks), VMAF with the NEG model, `compression_score`.
- sampled: `vmaf_frames` on 5 seeded frames (task id varies per run, so the frame positions do);
- full:    `vmaf_full` over every frame.
Reports the median of `--runs` for each, the ratio, and whether both reach the same verdict.
Writes `benchmarks/out/vmaf.json`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.media import DEFAULT_MEDIA
from scoring.compression import compression_rate, compression_score
from scoring.config import ScoringConfig
from scoring.media.ffmpeg import run_ffmpeg
from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from scoring.metrics.vmaf import VmafResult, sample_frame_indices, vmaf_frames, vmaf_full
from scoring.validation import expected_for_compression, validate_output

OUT = Path("benchmarks/out")
CACHE = OUT / "cache" / "vmaf"
DEFAULT_SOURCE = DEFAULT_MEDIA / "real-720p-a.mp4"
console = Console(width=140)


def prepare_pair(source: Path | None) -> tuple[Path, Path]:
    """Reference (1080p x264 crf 16) and distorted (SVT-AV1 p12 crf 38) as MP4, cached."""
    CACHE.mkdir(parents=True, exist_ok=True)
    ref, dist = CACHE / "ref1080.mp4", CACHE / "dist1080_av1.mp4"
    if not ref.exists():
        tmp = ref.with_suffix(".tmp.mp4")
        if source is not None and source.is_file():
            src = ["-i", str(source), "-t", "10", "-vf", "scale=1920:1080:flags=lanczos"]
        else:
            src = ["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=24:duration=10"]
        run_ffmpeg(
            ["-loglevel", "error", *src, "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "16",
             "-pix_fmt", "yuv420p", str(tmp)],
            timeout_s=1800,
        )  # fmt: skip
        tmp.rename(ref)
    if not dist.exists():
        tmp = dist.with_suffix(".tmp.mp4")
        os.environ.setdefault("SVT_LOG", "1")
        run_ffmpeg(
            ["-loglevel", "error", "-i", str(ref), "-c:v", "libsvtav1", "-preset", "12", "-crf", "38",
             "-pix_fmt", "yuv420p", str(tmp)],
            timeout_s=1800,
        )  # fmt: skip
        tmp.rename(dist)
    return ref, dist


def score_once(
    ref: Path,
    dist: Path,
    *,
    mode: str,
    task_id: str,
    threshold: float,
    scfg: ScoringConfig,
    mcfg: MetricsConfig,
) -> dict[str, Any]:
    """Validation + VMAF (sampled or full) + formula for one response; returns timings and the verdict."""
    t0 = time.perf_counter()
    ref_info = probe(ref)
    result = validate_output(dist, expected_for_compression(ref_info, "av1", mcfg), reference=ref_info)
    if not result.ok:
        raise SystemExit(f"benchmark pair does not validate: {result.messages}")
    t1 = time.perf_counter()
    model, threads = mcfg.vmaf_model_compression, mcfg.vmaf_threads
    vm: VmafResult
    if mode == "sampled":
        n = min(ref_info.frame_count, result.decoded_frames or ref_info.frame_count)
        idx = sample_frame_indices(n, scfg.vmaf_samples, secret="bench-secret", task_id=task_id)
        vm = vmaf_frames(ref, dist, idx, model=model, threads=threads, window=mcfg.vmaf_window)
    else:
        vm = vmaf_full(ref, dist, model=model, threads=threads)
    t2 = time.perf_counter()
    rate = compression_rate(dist.stat().st_size, ref.stat().st_size)
    b = compression_score(rate, vm.harmonic_mean, threshold, scfg)
    t3 = time.perf_counter()
    return {
        "mode": mode,
        "task_id": task_id,
        "indices": sorted(vm.per_frame) if mode == "sampled" else None,
        "vmaf_harmonic_mean": vm.harmonic_mean,
        "vmaf_passed": b.vmaf_passed,
        "s_f": b.s_f,
        "validate_s": t1 - t0,
        "vmaf_s": t2 - t1,
        "total_s": t3 - t0,
    }


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--threshold", type=float, default=85.0)
    args = ap.parse_args(argv)

    scfg, mcfg = ScoringConfig(), MetricsConfig()
    ref, dist = prepare_pair(args.source)
    info = probe(ref)
    runs: list[dict[str, Any]] = []
    for k in range(args.runs):
        order = ("sampled", "full") if k % 2 == 0 else ("full", "sampled")  # alternate: no order bias
        for mode in order:
            r = score_once(
                ref, dist, mode=mode, task_id=f"bench-{k}", threshold=args.threshold, scfg=scfg, mcfg=mcfg
            )
            runs.append(r)
            console.print(f"run {k} {mode:8s} total {r['total_s']:7.2f} s  vmaf {r['vmaf_s']:7.2f} s  "
                          f"VMAF {r['vmaf_harmonic_mean']:.2f}  S_f {r['s_f']:.4f}")  # fmt: skip

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in runs if r["mode"] == mode)

    full_verdicts = {(r["vmaf_passed"], r["s_f"] > 0) for r in runs if r["mode"] == "full"}
    sampled_verdicts = {(r["vmaf_passed"], r["s_f"] > 0) for r in runs if r["mode"] == "sampled"}
    summary = {
        "clip": {
            "reference": str(ref), "distorted": str(dist), "width": info.width, "height": info.height,
            "frames": info.frame_count, "fps": info.avg_fps, "duration_s": info.duration_s,
            "reference_bytes": ref.stat().st_size, "distorted_bytes": dist.stat().st_size,
        },
        "runs": args.runs,
        "threshold": args.threshold,
        "model": mcfg.vmaf_model_compression,
        "vmaf_threads": mcfg.vmaf_threads,
        "sampled_total_s_median": med("sampled", "total_s"),
        "full_total_s_median": med("full", "total_s"),
        "sampled_vmaf_s_median": med("sampled", "vmaf_s"),
        "full_vmaf_s_median": med("full", "vmaf_s"),
        "speedup_total": med("full", "total_s") / med("sampled", "total_s"),
        "speedup_vmaf": med("full", "vmaf_s") / med("sampled", "vmaf_s"),
        "same_verdict": full_verdicts == sampled_verdicts and len(full_verdicts) == 1,
        "full_vmaf": med("full", "vmaf_harmonic_mean"),
        "sampled_vmaf_range": [
            min(r["vmaf_harmonic_mean"] for r in runs if r["mode"] == "sampled"),
            max(r["vmaf_harmonic_mean"] for r in runs if r["mode"] == "sampled"),
        ],
        "load_average": list(os.getloadavg()),
        "cpu_count": os.cpu_count(),
        "machine": platform.platform(),
        "details": runs,
    }  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "vmaf.json").write_text(json.dumps(summary, indent=2))

    table = Table(title=f"Scoring one compression response ({info.width}x{info.height}, {info.frame_count} frames, "
                        f"median of {args.runs})")  # fmt: skip
    table.add_column("mode")
    table.add_column("total s", justify="right")
    table.add_column("VMAF s", justify="right")
    table.add_column("VMAF (harmonic mean)", justify="right")
    table.add_column("verdict", justify="right")
    for mode in ("sampled", "full"):
        vm = [r["vmaf_harmonic_mean"] for r in runs if r["mode"] == mode]
        verdict = ", ".join(
            sorted(
                {"pass" if p else "fail" for p, _ in (full_verdicts if mode == "full" else sampled_verdicts)}
            )
        )
        table.add_row(mode, f"{med(mode, 'total_s'):.2f}", f"{med(mode, 'vmaf_s'):.2f}",
                      f"{min(vm):.2f}–{max(vm):.2f}", verdict)  # fmt: skip
    console.print(table)
    console.print(f"speed-up: total x{summary['speedup_total']:.1f}, VMAF step x{summary['speedup_vmaf']:.1f}; "
                  f"same verdict: {summary['same_verdict']}; load average {summary['load_average'][0]:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
