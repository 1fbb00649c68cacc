"""Upscaling benchmark: speed and full-reference quality of the ``lanczos`` and ``model`` engines.

    python -m benchmarks.bench_upscaling [--frames 12] [--clips real-360p-a ...] [--threads 1]

Quality: every clip of ``--media`` (first ``--frames`` frames, cropped to a multiple of 2*scale)
becomes a reference (x264 CRF 12, as the validator's synthesis makes them); the input is that
reference downscaled x2 and x4 with bicubic (the synthesis default) and x264 CRF 12. Each engine
upscales the input back and is compared with the reference: VMAF (vmaf_v0.6.1 through
``scoring.metrics.vmaf.vmaf_full``: harmonic mean and mean over all frames), PSNR and SSIM (ffmpeg,
timestamps normalised). PIE-APP, the metric that actually scores upscaling, is not measured: its real
weights are not available on this machine (random weights would give a constant).

Speed: frames/s of each engine's full ``upscale()`` (decode, infer, encode) at 960x540 -> 1920x1080
on this machine's CPU, on a few frames (``--speed-frames``), median of ``--speed-runs`` runs.

Writes ``benchmarks/out/upscaling.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.media import DEFAULT_MEDIA
from scoring.media.ffmpeg import run_ffmpeg
from scoring.media.probe import probe
from scoring.metrics.vmaf import vmaf_full
from services.upscaling import UpscaleSettings, build_engine
from services.upscaling.base import UpscalingEngine
from services.upscaling.model import ModelEngine, torch_threads
from services.upscaling.source import FrameBatches, inspect_input

console = Console(width=150)
OUT = Path("benchmarks/out")
X264 = ["-c:v", "libx264", "-crf", "12", "-preset", "medium", "-pix_fmt", "yuv420p", "-an"]


def _ffmpeg(args: list[str]) -> None:
    run_ffmpeg(["-loglevel", "error", *args], timeout_s=900)


def prepare(clip: Path, scale: int, frames: int, cache: Path) -> tuple[Path, Path]:
    """(reference, input) for one clip and scale, cached under ``cache``."""
    info = probe(clip, count_frames=False)
    w, h = info.width - info.width % (2 * scale), info.height - info.height % (2 * scale)
    ref = cache / f"{clip.stem}-f{frames}-x{scale}-ref.mp4"
    inp = cache / f"{clip.stem}-f{frames}-x{scale}-in.mp4"
    if not ref.exists():
        _ffmpeg(
            ["-i", str(clip), "-frames:v", str(frames), "-vf", f"crop={w}:{h}:0:0,setsar=1", *X264, str(ref)]
        )
    if not inp.exists():
        _ffmpeg(
            [
                "-i",
                str(ref),
                "-vf",
                f"scale={w // scale}:{h // scale}:flags=bicubic,setsar=1",
                *X264,
                str(inp),
            ]
        )
    return ref, inp


def psnr_ssim(reference: Path, distorted: Path) -> dict[str, float]:
    """ffmpeg psnr + ssim over all frames, both inputs with normalised timestamps."""
    graph = (
        "[0:v]setpts=N/FRAME_RATE/TB,split[d1][d2];[1:v]setpts=N/FRAME_RATE/TB,split[r1][r2];"
        "[d1][r1]psnr;[d2][r2]ssim"
    )
    proc = run_ffmpeg(
        ["-i", str(distorted), "-i", str(reference), "-lavfi", graph, "-f", "null", "-"], timeout_s=900
    )
    err = proc.stderr.decode("utf-8", "replace")
    psnr = re.search(r"PSNR y:([\d.inf]+) u:([\d.inf]+) v:([\d.inf]+) average:([\d.inf]+)", err)
    ssim = re.search(r"SSIM Y:([\d.]+) .*All:([\d.]+)", err)
    if not psnr or not ssim:
        raise RuntimeError(f"cannot parse psnr/ssim from ffmpeg output: {err[-400:]}")
    return {
        "psnr_y": float(psnr.group(1)),
        "psnr_avg": float(psnr.group(4)),
        "ssim_y": float(ssim.group(1)),
        "ssim_all": float(ssim.group(2)),
    }


def run_quality(
    engines: dict[str, UpscalingEngine], clips: list[Path], scales: list[int], frames: int
) -> list[dict]:
    rows: list[dict] = []
    cache = OUT / "cache" / "upscaling"
    cache.mkdir(parents=True, exist_ok=True)
    for clip in clips:
        for scale in scales:
            ref, inp = prepare(clip, scale, frames, cache)
            ri, ii = probe(ref), probe(inp)
            for name, eng in engines.items():
                with tempfile.TemporaryDirectory(prefix="bench-up-") as tmp:
                    out = Path(tmp) / "out.mp4"
                    started = time.monotonic()
                    res = eng.upscale(inp, out, scale=scale, target=(ri.width, ri.height))
                    secs = time.monotonic() - started
                    vm = vmaf_full(ref, out, model="vmaf_v0.6.1", threads=2)
                    row = {
                        "clip": clip.stem, "scale": scale, "engine": name,
                        "input": f"{ii.width}x{ii.height}", "output": f"{res.width}x{res.height}",
                        "frames": res.frames, "seconds": round(secs, 2), "fps": round(res.frames / secs, 3),
                        "size_ratio": round(res.size_bytes / ii.size_bytes, 2),
                        "vmaf_hm": round(vm.harmonic_mean, 3), "vmaf_mean": round(vm.mean, 3),
                        **{k: round(v, 4) for k, v in psnr_ssim(ref, out).items()},
                    }  # fmt: skip
                rows.append(row)
                console.log(
                    f"{clip.stem} x{scale} {name}: VMAF {row['vmaf_hm']:.2f} PSNR-Y {row['psnr_y']:.2f} "
                    f"SSIM-Y {row['ssim_y']:.4f} ({row['fps']:.2f} fps)"
                )
    return rows


def run_speed(engines: dict[str, UpscalingEngine], source: Path, frames: dict[str, int], runs: int) -> dict:
    """fps of each engine at 960x540 -> 1920x1080 (median of ``runs``)."""
    cache = OUT / "cache" / "upscaling"
    cache.mkdir(parents=True, exist_ok=True)
    result: dict[str, dict] = {}
    for name, eng in engines.items():
        n = frames.get(name, frames["default"])
        clip = cache / f"speed-540p-{n}.mp4"
        if not clip.exists():
            _ffmpeg(["-i", str(source), "-frames:v", str(n), "-vf", "scale=960:540:flags=bicubic,setsar=1", *X264,
                     str(clip)])  # fmt: skip
        times: list[float] = []
        for _ in range(runs):
            with tempfile.TemporaryDirectory(prefix="bench-up-speed-") as tmp:
                started = time.monotonic()
                eng.upscale(clip, Path(tmp) / "o.mp4", scale=2, target=(1920, 1080))
                times.append(time.monotonic() - started)
        med = statistics.median(times)
        core = statistics.median(engine_only_seconds(eng, clip) for _ in range(runs))
        result[name] = {"frames": n, "runs_s": [round(t, 2) for t in times], "median_s": round(med, 2),
                        "fps": round(n / med, 3), "s_per_frame": round(med / n, 3),
                        "engine_only_fps": round(n / core, 3)}  # fmt: skip
        console.log(
            f"speed {name}: {n / med:.3f} fps at 540p->1080p with the HEVC encode, {n / core:.3f} fps without "
            f"(median of {runs}: {med:.2f} s / {core:.2f} s for {n} frames)"
        )
    return result


def engine_only_seconds(eng: UpscalingEngine, clip: Path) -> float:
    """Decode + upscale without the encoder (its cost is the same for every engine)."""
    started = time.monotonic()
    if isinstance(eng, ModelEngine):
        src = inspect_input(clip)
        with torch_threads(eng.settings.threads), FrameBatches(clip, eng.settings.batch) as batches:
            for planes in batches:
                eng.process_batch(planes, 2, (1920, 1080), src.colour)
    else:
        _ffmpeg(["-i", str(clip), "-vf", "scale=1920:1080:flags=lanczos+accurate_rnd", "-f", "null", "-"])
    return time.monotonic() - started


def summarise(rows: list[dict]) -> dict:
    summary: dict[str, dict] = {}
    for key in sorted({(r["engine"], r["scale"]) for r in rows}):
        sel = [r for r in rows if (r["engine"], r["scale"]) == key]
        summary[f"{key[0]} x{key[1]}"] = {
            m: round(statistics.mean(r[m] for r in sel), 4)
            for m in ("vmaf_hm", "vmaf_mean", "psnr_y", "ssim_y", "fps", "size_ratio")
        } | {"clips": len(sel), "min_vmaf_hm": min(r["vmaf_hm"] for r in sel)}
    return summary


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--media", type=Path, default=DEFAULT_MEDIA, help="folder of real clips (default ../shared/media)")
    ap.add_argument("--clips", nargs="*", default=None, help="clip stems (default: every .mp4)")
    ap.add_argument("--scales", nargs="*", type=int, default=[2, 4])
    ap.add_argument("--frames", type=int, default=12, help="frames per quality clip")
    ap.add_argument("--engines", nargs="*", default=["lanczos", "model"])
    ap.add_argument(
        "--weights", type=Path, default=None, help="model weights (default: converted animevideov3)"
    )
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1, help="torch/encoder threads (1: see note in the JSON)")
    ap.add_argument(
        "--speed-source", default="real-720p-a", help="clip stem scaled to 960x540 for the speed runs"
    )
    ap.add_argument("--speed-frames", type=int, default=12, help="frames for the lanczos speed run")
    ap.add_argument(
        "--speed-frames-model", type=int, default=2, help="frames for the model speed run (CPU: slow)"
    )
    ap.add_argument("--speed-runs", type=int, default=3)
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--out", type=Path, default=OUT / "upscaling.json")
    ap.add_argument("--merge", action="store_true", help="keep the sections of --out this run does not redo")
    args = ap.parse_args(argv)

    engines: dict[str, UpscalingEngine] = {
        name: build_engine(
            UpscaleSettings(engine=name, weights_path=args.weights, device=args.device, threads=args.threads)
        )
        for name in args.engines
    }
    clips = sorted(p for p in args.media.glob("*.mp4") if args.clips is None or p.stem in args.clips)
    started = time.monotonic()
    report: dict = json.loads(args.out.read_text()) if args.out.exists() and args.merge else {}
    report |= {
        "machine": {
            "platform": platform.platform(), "cpu_count": os.cpu_count(),
            "load_avg_at_start": [round(x, 2) for x in os.getloadavg()], "threads": args.threads,
        },
        "note": "PIE-APP not measured (no real weights here); quality = VMAF vmaf_v0.6.1 + PSNR/SSIM vs the "
                "reference. --threads 1: on the shared 2-core box two OpenMP threads under load ran 5-20x slower.",
    }  # fmt: skip
    if not args.skip_speed:
        source = args.media / f"{args.speed_source}.mp4"
        frames = {"default": args.speed_frames, "model": args.speed_frames_model}
        report["speed_540p_to_1080p"] = run_speed(engines, source, frames, args.speed_runs)
        report["speed_load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    if not args.skip_quality:
        rows = run_quality(engines, clips, args.scales, args.frames)
        report["quality"] = rows
        report["summary"] = summarise(rows)
        report["quality_load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
        table = Table(title="upscaling quality vs reference (mean over clips)")
        for col in ("engine", "VMAF HM", "min VMAF", "PSNR-Y", "SSIM-Y", "fps", "size ratio"):
            table.add_column(col)
        for key, s in report["summary"].items():
            table.add_row(key, f"{s['vmaf_hm']:.2f}", f"{s['min_vmaf_hm']:.2f}", f"{s['psnr_y']:.2f}",
                          f"{s['ssim_y']:.4f}", f"{s['fps']:.2f}", f"{s['size_ratio']:.2f}")  # fmt: skip
        console.print(table)
    report["machine"]["load_avg_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["elapsed_s"] = round(time.monotonic() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    console.log(f"wrote {args.out} in {report['elapsed_s']} s")


if __name__ == "__main__":
    main()
