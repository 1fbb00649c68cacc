"""VMAF benchmark: scoring one 1080p compression answer the validator's way vs full-clip VMAF (issue 19).

    python -m benchmarks.bench_vmaf [--runs 5] [--source PATH] [--threshold 85] [--no-exploits] [--vmaf-threads N]

The pair: a ~10 s 1080p reference (the `real-720p-a.mp4` footage upscaled with lanczos, x264 crf 16,
or a lavfi testsrc2 clip when the shared media is absent) and a compression miner's answer to it
(SVT-AV1 preset 12 crf 38, MP4). Both are cached in `benchmarks/out/cache/vmaf/`.

Modes, per run (task id varies per run, so the sampled frame positions do):
- scoring: `scoring.evaluate.evaluate_compression`, the whole scoring of one answer (MP4 header,
  probe, ONE decode of the answer, one partial decode of the reference, ONE libvmaf run on the
  5 sampled windows, colour check, formula);
- scoring_warm: the same, for the next answer to the same task (the reference's frames are kept
  by the worker: the same task id draws the same frames);
- scoring_prepared: the same, for an answer to a task whose reference frames the validator
  prepared at task creation (`scoring.answer_check.prepare_reference`; the worker's in-memory
  copy is dropped first, so the frames are read from `<reference>.frames/`);
- prepare: the one-off, per-task cost of that preparation (decode the reference to the task's last
  sampled frame, write its frames); paid once per clip, before any answer arrives, for all the
  clip's tasks together (not counted in scoring_prepared: reported separately, and with it);
- legacy:  the pre-issue-19 path: `validate_output` (full decode) then `vmaf_frames` (ffmpeg decodes
  both clips again up to the last sampled frame);
- full:    `validate_output` then `vmaf_full` over every frame (the baseline).
Exploits (issue 19): the box-surgery files of `tests/mp4_surgery.py` built from the same reference
(edit-list re-map and floods, renamed ftyp, pixel-format switch, rotation, extra stream), each
scored with `evaluate_compression`; the worst median time is compared with the honest answer's.
Reports medians of `--runs`, the ratios, and whether the modes reach the same verdict.
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
from scoring.answer_check import _REFERENCES, prepare_reference
from scoring.budget import cpu_seconds
from scoring.compression import compression_rate, compression_score
from scoring.config import ScoringConfig
from scoring.evaluate import answer_budget, evaluate_compression
from scoring.media.ffmpeg import run_ffmpeg
from scoring.media.prepared import remove_frames
from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from scoring.metrics.vmaf import VmafResult, sample_frame_indices, vmaf_frames, vmaf_full
from scoring.validation import expected_for_compression, validate_output

OUT = Path("benchmarks/out")
CACHE = OUT / "cache" / "vmaf"
DEFAULT_SOURCE = DEFAULT_MEDIA / "real-720p-a.mp4"
MODES = ("scoring", "scoring_warm", "scoring_prepared", "legacy", "full")
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
    """One answer scored in `mode`; returns timings (wall and CPU) and the verdict."""
    cpu0 = cpu_seconds()
    out = _score_once(ref, dist, mode=mode, task_id=task_id, threshold=threshold, scfg=scfg, mcfg=mcfg)
    out["cpu_s"] = cpu_seconds() - cpu0  # this process's threads + its ffmpeg children: load-independent work
    return out


def _score_once(
    ref: Path,
    dist: Path,
    *,
    mode: str,
    task_id: str,
    threshold: float,
    scfg: ScoringConfig,
    mcfg: MetricsConfig,
) -> dict[str, Any]:
    if mode == "prepare":
        t0 = time.perf_counter()
        done = prepare_reference(
            probe(ref), [task_id], secret="bench-secret", vmaf_samples=scfg.vmaf_samples, pieapp_frames=0,
            cfg=mcfg, max_bytes=1 << 30,
        )  # fmt: skip
        return {
            "mode": mode,
            "task_id": task_id,
            "total_s": time.perf_counter() - t0,
            "bytes": done.bytes if done else 0,
        }
    if mode.startswith("scoring"):
        t0 = time.perf_counter()
        v = evaluate_compression(
            ref, dist, vmaf_threshold=threshold, codec="av1", task_id=task_id, secret="bench-secret",
            scoring_cfg=scfg, metrics_cfg=mcfg,
        )  # fmt: skip
        total = time.perf_counter() - t0
        if not v.ok:
            console.print(f"[red]answer not scored ok: {v.messages}[/red]")
        return {
            "mode": mode, "task_id": task_id, "indices": v.vmaf_indices, "vmaf_harmonic_mean": v.vmaf,
            "vmaf_passed": v.vmaf_passed, "s_f": v.score, "validate_s": v.timings.get("validate_s", 0.0),
            "vmaf_s": v.timings.get("vmaf_s", 0.0), "total_s": total,
        }  # fmt: skip
    t0 = time.perf_counter()
    ref_info = probe(ref)
    result = validate_output(dist, expected_for_compression(ref_info, "av1", mcfg), reference=ref_info)
    if not result.ok:
        raise SystemExit(f"benchmark pair does not validate: {result.messages}")
    t1 = time.perf_counter()
    model, threads = mcfg.vmaf_model_compression, mcfg.vmaf_threads
    vm: VmafResult
    if mode == "legacy":
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
        "indices": sorted(vm.per_frame) if mode == "legacy" else None,
        "vmaf_harmonic_mean": vm.harmonic_mean,
        "vmaf_passed": b.vmaf_passed,
        "s_f": b.s_f,
        "validate_s": t1 - t0,
        "vmaf_s": t2 - t1,
        "total_s": t3 - t0,
    }


def exploit_times(ref: Path, runs: int, threshold: float, scfg: ScoringConfig, mcfg: MetricsConfig) -> dict:
    """Median scoring time and verdict of each issue-19 exploit file built from `ref`."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.mp4_surgery import exploit_files

    info = probe(ref)
    folder = CACHE / "exploits"
    marker = folder / "done"
    files = {
        name: (folder / f, reason)
        for name, f, reason in [
            ("edit_list_remap", "remap.mp4", "edit_list"), ("edit_list_flood_small", "flood-small.mp4", "edit_list"),
            ("edit_list_flood_large", "flood-large.mp4", "edit_list"), ("renamed_ftyp", "noftyp.mp4", "wrong_container"),
            ("pix_fmt_switch", "pixswitch.mp4", "wrong_pix_fmt"), ("rotated", "rotated.mp4", "display_matrix"),
            ("extra_stream", "audio.mp4", "extra_stream"),
        ]
    }  # fmt: skip
    if not marker.exists():
        console.print("building the exploit files (once; x265 at 1080p)...")
        fps = round(info.avg_fps)
        files = exploit_files(ref, folder, size=(info.width, info.height), fps=fps, frames=info.frame_count)
        marker.touch()
    out: dict[str, Any] = {}
    for name, (path, reason) in files.items():
        times, cpus, reasons = [], [], []
        for k in range(runs):
            t0, c0 = time.perf_counter(), cpu_seconds()
            v = evaluate_compression(
                ref, path, vmaf_threshold=threshold, codec="hevc", task_id=f"x-{k}", secret="bench-secret",
                scoring_cfg=scfg, metrics_cfg=mcfg,
            )  # fmt: skip
            times.append(time.perf_counter() - t0)
            cpus.append(cpu_seconds() - c0)
            reasons = v.reasons
        out[name] = {
            "median_s": statistics.median(times), "cpu_s_median": statistics.median(cpus), "reasons": reasons, "expected_reason": reason,
            "refused_as_expected": reason in reasons, "bytes": path.stat().st_size,
        }  # fmt: skip
        console.print(f"exploit {name:22s} {out[name]['median_s']:6.2f} s  cpu {out[name]['cpu_s_median']:6.2f} s  "
                      f"{','.join(reasons)}")  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    ap.add_argument("--threshold", type=float, default=85.0)
    ap.add_argument("--no-exploits", action="store_true", help="skip the exploit-file timings")
    ap.add_argument(
        "--vmaf-threads", type=int, default=None, help="libvmaf n_threads, every mode (default: config)"
    )
    args = ap.parse_args(argv)

    scfg = ScoringConfig()
    mcfg = MetricsConfig() if args.vmaf_threads is None else MetricsConfig(vmaf_threads=args.vmaf_threads)
    ref, dist = prepare_pair(args.source)
    info = probe(ref)
    runs: list[dict[str, Any]] = []
    prepares: list[dict[str, Any]] = []
    for k in range(args.runs):
        # alternate: no order bias; scoring_warm = the next answer to the same task (reference frames cached);
        # scoring_prepared = an answer to a task prepared at creation (its own task id: frames not in memory)
        order = MODES if k % 2 == 0 else MODES[::-1]
        for mode in order:
            tid = f"bench-{k}" if mode != "scoring_prepared" else f"bench-{k}-prepared"
            remove_frames(ref)
            _REFERENCES.clear()
            if mode == "scoring_prepared":
                prepares.append(score_once(ref, dist, mode="prepare", task_id=tid, threshold=args.threshold,
                                           scfg=scfg, mcfg=mcfg))  # fmt: skip
                _REFERENCES.clear()
            elif mode == "scoring_warm":  # the first answer to this task fills the worker's cache (not timed)
                _score_once(
                    ref, dist, mode="scoring", task_id=tid, threshold=args.threshold, scfg=scfg, mcfg=mcfg
                )
            r = score_once(ref, dist, mode=mode, task_id=tid, threshold=args.threshold, scfg=scfg, mcfg=mcfg)
            remove_frames(ref)
            runs.append(r)
            console.print(f"run {k} {mode:8s} total {r['total_s']:7.2f} s  cpu {r['cpu_s']:7.2f} s  vmaf {r['vmaf_s']:7.2f} s  "
                          f"VMAF {r['vmaf_harmonic_mean']:.2f}  S_f {r['s_f']:.4f}")  # fmt: skip

    def med(mode: str, key: str) -> float:
        return statistics.median(
            r[key] for r in (prepares if mode == "prepare" else runs) if r["mode"] == mode
        )

    def verdicts(mode: str) -> set[tuple[bool, bool]]:
        return {(r["vmaf_passed"], r["s_f"] > 0) for r in runs if r["mode"] == mode}

    def vm_range(mode: str) -> list[float]:
        vals = [r["vmaf_harmonic_mean"] for r in runs if r["mode"] == mode]
        return [min(vals), max(vals)]

    exploits = {} if args.no_exploits else exploit_times(ref, args.runs, args.threshold, scfg, mcfg)
    worst = max(exploits.items(), key=lambda kv: kv[1]["median_s"]) if exploits else None
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
        "answer_budget_s": answer_budget(info, mcfg).limit_s,
        **{f"{m}_total_s_median": med(m, "total_s") for m in MODES},
        **{f"{m}_vmaf_s_median": med(m, "vmaf_s") for m in MODES},
        "speedup_total": med("full", "total_s") / med("scoring", "total_s"),
        "speedup_total_warm": med("full", "total_s") / med("scoring_warm", "total_s"),
        "speedup_total_legacy": med("full", "total_s") / med("legacy", "total_s"),
        "speedup_total_prepared": med("full", "total_s") / med("scoring_prepared", "total_s"),
        "prepare_total_s_median": med("prepare", "total_s"),
        "prepare_cpu_s_median": med("prepare", "cpu_s"),
        "prepare_bytes": prepares[0]["bytes"],
        **{f"{m}_cpu_s_median": med(m, "cpu_s") for m in MODES},
        "speedup_cpu": med("full", "cpu_s") / med("scoring", "cpu_s"),
        "speedup_cpu_warm": med("full", "cpu_s") / med("scoring_warm", "cpu_s"),
        "speedup_cpu_legacy": med("full", "cpu_s") / med("legacy", "cpu_s"),
        "speedup_cpu_prepared": med("full", "cpu_s") / med("scoring_prepared", "cpu_s"),
        # one answer paying its task's whole preparation (a clip answered by one miner): the worst case
        "speedup_cpu_prepared_incl_prepare": med("full", "cpu_s") / (med("scoring_prepared", "cpu_s") + med("prepare", "cpu_s")),
        "same_verdict": len({frozenset(verdicts(m)) for m in MODES}) == 1 and len(verdicts("full")) == 1,
        "full_vmaf": med("full", "vmaf_harmonic_mean"),
        "scoring_vmaf_range": vm_range("scoring"),
        "legacy_vmaf_range": vm_range("legacy"),
        "exploits": exploits,
        "exploit_worst": None if worst is None else worst[0],
        "exploit_worst_ratio_to_honest": None if worst is None else worst[1]["median_s"] / med("scoring", "total_s"),
        "exploit_worst_cpu_ratio_to_honest": None
        if worst is None
        else max(x["cpu_s_median"] for x in exploits.values()) / med("scoring", "cpu_s"),
        "exploits_all_refused": all(x["refused_as_expected"] for x in exploits.values()),
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
    table.add_column("CPU s", justify="right")
    table.add_column("VMAF s", justify="right")
    table.add_column("VMAF (harmonic mean)", justify="right")
    table.add_column("verdict", justify="right")
    for mode in MODES:
        lo, hi = vm_range(mode)
        verdict = ", ".join(sorted({"pass" if p else "fail" for p, _ in verdicts(mode)}))
        table.add_row(mode, f"{med(mode, 'total_s'):.2f}", f"{med(mode, 'cpu_s'):.2f}", f"{med(mode, 'vmaf_s'):.2f}",
                      f"{lo:.2f}–{hi:.2f}", verdict)  # fmt: skip
    table.add_row("prepare (once per task)", f"{med('prepare', 'total_s'):.2f}", f"{med('prepare', 'cpu_s'):.2f}", "",
                  f"{summary['prepare_bytes'] >> 20} MB", "")  # fmt: skip
    console.print(table)
    console.print(f"CPU speed-up vs full-clip VMAF: scoring x{summary['speedup_cpu']:.1f}, next answer "
                  f"x{summary['speedup_cpu_warm']:.1f}, prepared task x{summary['speedup_cpu_prepared']:.1f} (with its "
                  f"one-off preparation x{summary['speedup_cpu_prepared_incl_prepare']:.1f}), legacy "
                  f"x{summary['speedup_cpu_legacy']:.1f}")  # fmt: skip
    console.print(f"wall speed-up vs full-clip VMAF: scoring x{summary['speedup_total']:.1f}, next answer to the "
                  f"same task x{summary['speedup_total_warm']:.1f}, prepared task x{summary['speedup_total_prepared']:.1f} (legacy "
                  f"x{summary['speedup_total_legacy']:.1f}); same verdict: {summary['same_verdict']}; "
                  f"load average {summary['load_average'][0]:.1f}")  # fmt: skip
    if worst is not None:
        console.print(f"worst exploit: {worst[0]} {worst[1]['median_s']:.2f} s = "
                      f"x{summary['exploit_worst_ratio_to_honest']:.2f} the honest answer (CPU: worst "
                      f"x{summary['exploit_worst_cpu_ratio_to_honest']:.2f}); all refused as expected: "
                      f"{summary['exploits_all_refused']}")  # fmt: skip


if __name__ == "__main__":
    main()
