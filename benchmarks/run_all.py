"""Run every `benchmarks/bench_*.py` in a quick mode and write `benchmarks/REPORT.md`.

    python -m benchmarks.run_all [--only vmaf transport] [--skip upscaling] [--full] [--reuse]
    make bench

Each benchmark runs as its own process (`python -m benchmarks.bench_<name> <quick args>`), one after
the other (they all want both cores), with a timeout; a failing or missing one is reported, not fatal.
Quick mode (`QUICK_ARGS`) keeps the whole run to roughly half an hour on a 2-core CPU machine; `--full`
runs the benchmarks' own defaults. Results go to `benchmarks/out/run_all/<name>.json` (so the quick run
never overwrites a full run's `benchmarks/out/<name>.json`), logs beside them, and what each run did in
`summary.json` there: `--only NAME` re-runs one benchmark and the report still shows the others' last
results. `--reuse` rebuilds the report from those files without running anything. A benchmark that needs real footage
(`--media`, default `../shared/media` next to the repo) gets small synthetic clips when the footage is absent; the report says which.

Every figure in the report is what the benchmark itself reports: medians over its runs
(`--runs`/`--rounds`/`--speed-runs`), or means over its clips where it says so, and a ratio against
the baseline where the benchmark has one (full-clip VMAF, the lazy fixed-CRF miner, lanczos,
`sign(wallet)`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from benchmarks.media import DEFAULT_MEDIA, shown

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT / "benchmarks"
OUT = BENCH_DIR / "out" / "run_all"
REPORT = BENCH_DIR / "REPORT.md"
MEDIA = DEFAULT_MEDIA
console = Console(stderr=True)

QUICK_ARGS: dict[str, list[str]] = {
    "vmaf": ["--runs", "3"],
    "pieapp": ["--size", "540p", "--chunks", "64", "256", "--runs", "3"],
    "compression": ["--clips", "{clip}", "{clip_b}", "--codecs", "hevc", "av1", "--thresholds", "85", "89", "93", "--seconds", "3",
                    "--oracle-step", "4", "--media", "{media}", "--cache", "{out}/cache/compression"],  # full: 10 s, all clips
    "upscaling": ["--clips", "{clip}", "--scales", "2", "--frames", "8", "--speed-source", "{speed_clip}",
                  "--speed-frames", "12", "--speed-frames-model", "1", "--speed-runs", "3", "--media", "{media}"],
    "transport": ["--runs", "3", "--requests", "150", "--concurrent-requests", "200"],
    "validator": ["--miners", "8", "32", "--rounds", "2"],
}  # fmt: skip
MEDIA_CLIPS = {"clip": "real-240p-a", "clip_b": "real-360p-a", "speed_clip": "real-720p-a"}


@dataclass
class BenchRun:
    name: str
    command: list[str]
    status: str  # ok | failed | timeout | reused | missing
    wall_s: float = 0.0
    json_path: str | None = None
    log_path: str | None = None
    detail: str = ""


def discover() -> list[str]:
    return sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))


def machine_info() -> dict[str, Any]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem_kb = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return {
        "cpu_model": cpu, "cores": os.cpu_count(), "ram_gib": round(mem_kb / 1024**2, 1),
        "platform": platform.platform(), "python": platform.python_version(),
        "gpu": shutil.which("nvidia-smi") is not None, "commit": commit.stdout.strip() or "?",
    }  # fmt: skip


def media_for_quick(media: Path) -> dict[str, str]:
    """The footage the quick runs use: the shared clips, else small synthetic ones made here once."""
    if all((media / f"{stem}.mp4").is_file() for stem in MEDIA_CLIPS.values()):
        return {"media": shown(media), **MEDIA_CLIPS}
    from scoring.media.ffmpeg import run_ffmpeg

    synth = OUT / "media"
    synth.mkdir(parents=True, exist_ok=True)
    for stem, size in (("synthetic-240p", "320x240"), ("synthetic-720p", "1280x720")):
        path = synth / f"{stem}.mp4"
        if not path.exists():
            run_ffmpeg(["-loglevel", "error", "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration=6",
                        "-c:v", "libx264", "-crf", "14", "-pix_fmt", "yuv420p", str(path)])  # fmt: skip
    return {
        "media": shown(synth),
        "clip": "synthetic-240p",
        "clip_b": "synthetic-240p",
        "speed_clip": "synthetic-720p",
    }


def supports_out(module: str) -> bool:
    proc = subprocess.run(
        [sys.executable, "-m", module, "--help"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    return "--out" in proc.stdout


def run_bench(name: str, args: list[str], timeout_s: float) -> BenchRun:
    """Run one benchmark; its JSON lands in OUT/<name>.json (moved there when it cannot be told where)."""
    module = f"benchmarks.bench_{name}"
    target, log = OUT / f"{name}.json", OUT / f"{name}.log"
    default = BENCH_DIR / "out" / f"{name}.json"
    has_out = supports_out(module)
    cmd = [sys.executable, "-m", module, *args, *(["--out", str(target)] if has_out else [])]
    backup = default.with_suffix(".json.run_all-backup")
    if not has_out and default.exists():
        shutil.copy2(default, backup)  # the benchmark writes its default file: keep the previous one
    target.unlink(missing_ok=True)
    started = time.monotonic()
    console.log(f"[bold]{name}[/]: {' '.join(cmd[1:])}")
    status, detail = "ok", ""
    try:
        with open(log, "w") as fh:
            proc = subprocess.run(cmd, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout_s,
                                  env={**os.environ, "PYTHONUNBUFFERED": "1"})  # fmt: skip
        if proc.returncode != 0:
            status, detail = "failed", f"exit {proc.returncode}: {_tail(log)}"
    except subprocess.TimeoutExpired:
        status, detail = "timeout", f"no result within {timeout_s:g} s"
    wall = time.monotonic() - started
    if not has_out and default.exists() and default.stat().st_mtime >= time.time() - wall - 1:
        shutil.move(default, target)
    if backup.exists():
        shutil.move(backup, default)
    if status == "ok" and not target.exists():
        status, detail = "failed", "finished without writing its JSON"
    console.log(f"{name}: {status} in {wall:.0f} s {detail[:200]}")
    return BenchRun(
        name, cmd[1:], status, round(wall, 1), str(target) if target.exists() else None, str(log), detail
    )


def _tail(log: Path, n: int = 3) -> str:
    lines = [ln.strip() for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
    return " | ".join(lines[-n:])[-400:]


# ---------------------------------------------------------------------------------------- rendering


def _f(value: Any, digits: int = 2) -> str:
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, int | float):
        return f"{value:,.{digits}f}" if isinstance(value, float) else f"{value:,}"
    return str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(_f(c) if not isinstance(c, str) else c for c in row) + " |" for row in rows]
    return out + [""]


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "-"


def render_vmaf(d: dict) -> list[str]:
    clip = d.get("clip", {})
    lines = [f"Scoring one compression answer ({clip.get('width')}x{clip.get('height')}, {clip.get('frames')} frames, "
             f"{d.get('model')}), median of {d.get('runs')} runs each. Baseline: full-clip VMAF.", ""]  # fmt: skip
    rows = [
        ["sampled (5 frames, triplets)", d.get("sampled_total_s_median"), d.get("sampled_vmaf_s_median"), "1.00x"],
        ["full clip (baseline)", d.get("full_total_s_median"), d.get("full_vmaf_s_median"),
         _ratio(d.get("full_total_s_median"), d.get("sampled_total_s_median"))],
    ]  # fmt: skip
    lines += _table(["mode", "total s", "VMAF s", "full / sampled"], rows)
    rng = d.get("sampled_vmaf_range") or [None, None]
    lines.append(f"Full-clip VMAF {_f(d.get('full_vmaf'))}; sampled draws {_f(rng[0])}..{_f(rng[1])}; "
                 f"same verdict: {d.get('same_verdict')}.")  # fmt: skip
    return lines + [""]


def render_pieapp(d: dict) -> list[str]:
    res = d.get("results", [])
    lines = [f"One {d.get('width')}x{d.get('height')} frame pair, {d.get('backend')} on {d.get('device')}, "
             f"random weights (time/memory do not depend on them); median of each chunk size's runs.", ""]  # fmt: skip
    base = next((r for r in res if r.get("chunk", 0) >= 10**8), None) or (res[-1] if res else None)
    rows = [[("all patches" if r.get("chunk", 0) >= 10**8 else r.get("chunk")), r.get("patches"), r.get("runs"),
             r.get("median_s"), r.get("median_cpu_s"), r.get("peak_rss_mb"), r.get("scoring_growth_mb"),
             _ratio(r.get("scoring_growth_mb"), base.get("scoring_growth_mb") if base else None)] for r in res]  # fmt: skip
    return lines + _table(["chunk", "patches", "runs", "wall s", "CPU s", "peak RSS MB", "scoring +MB",
                           "memory vs largest chunk"], rows)  # fmt: skip


def render_compression(d: dict) -> list[str]:
    from benchmarks.compression_report import render_markdown  # one renderer for the bench and this report

    return render_markdown(d)


def render_upscaling(d: dict) -> list[str]:
    speed = d.get("speed_540p_to_1080p", {})
    base = speed.get("lanczos", {}).get("s_per_frame")
    rows = [[k, v.get("frames"), v.get("median_s"), v.get("s_per_frame"), v.get("fps"), v.get("engine_only_fps"),
             _ratio(v.get("s_per_frame"), base)] for k, v in speed.items()]  # fmt: skip
    lines = [
        "Speed, 960x540 -> 1920x1080 with the HEVC encode (median of the speed runs); baseline lanczos.",
        "",
    ]
    lines += _table(
        ["engine", "frames", "median s", "s/frame", "fps", "engine-only fps", "s/frame vs lanczos"], rows
    )
    summ = d.get("summary", {})
    qrows = [[k, v.get("clips"), v.get("vmaf_hm"), v.get("min_vmaf_hm"), v.get("psnr_y"), v.get("ssim_y"),
              _ratio(v.get("vmaf_hm"), summ.get(f"lanczos {k.split()[-1]}", {}).get("vmaf_hm"))] for k, v in summ.items()]  # fmt: skip
    lines += ["Quality vs the reference (VMAF vmaf_v0.6.1 harmonic mean, PSNR/SSIM of Y), mean over clips. "
              "PIE-APP is not measured (no real weights on this machine).", ""]  # fmt: skip
    return lines + _table(
        ["engine", "clips", "VMAF", "min VMAF", "PSNR-Y", "SSIM-Y", "VMAF vs lanczos"], qrows
    )


def render_transport(d: dict) -> list[str]:
    m = d.get("median_of_runs", {})
    p = d.get("params", {})
    rows = [
        ["sequential round trip, median ms", m.get("seq_median_ms")], ["sequential round trip, p90 ms", m.get("seq_p90_ms")],
        ["sequential requests/s", m.get("seq_rps")], [f"concurrent requests/s ({p.get('concurrency')} in flight)", m.get("conc_rps")],
        ["sign(wallet) ms (baseline)", m.get("sign_wallet_ms")], ["sign(wallet.hotkey) ms", m.get("sign_keypair_ms")],
        ["sign(wallet) / sign(hotkey)", f"{m.get('sign_ratio', 0):.0f}x"],
    ]  # fmt: skip
    return [f"Signed POST /tasks/upscaling on loopback, uvicorn miner in its own process; median of {p.get('runs')} runs.",
            ""] + _table(["figure", "value"], rows)  # fmt: skip


def render_validator(d: dict) -> list[str]:
    rows = []
    for s in d.get("scenarios", []):
        ms = s.get("task_ms_mean", {})
        rows.append([s.get("miners"), s.get("round_wall_s"), s.get("last_answer_s"), ms.get("download_s"),
                     ms.get("validate_s"), ms.get("metrics_s"), ms.get("db_s"), s.get("peak_rss_validator_mb"),
                     s.get("peak_rss_worker_mb"), "yes" if s.get("all_scored") else f"no: {s.get('failures')}"])  # fmt: skip
    p = d.get("params", {})
    return [f"One compression round with N simulated miners (median of {p.get('rounds')} rounds after a warm-up, "
            f"{p.get('workers')} scoring processes, {p.get('size')} clips of {p.get('seconds')} s).", ""] + _table(
        ["miners", "round s", "last answer s", "download ms/task", "validate ms/task", "metrics ms/task",
         "db ms/task", "validator RSS MB", "worker RSS MB", "all scored"], rows)  # fmt: skip


def render_generic(d: dict) -> list[str]:
    rows = [[k, v] for k, v in d.items() if isinstance(v, int | float | str | bool) and len(str(v)) < 80]
    return ["(no dedicated summary for this benchmark: its top-level figures)", ""] + _table(
        ["key", "value"], rows
    )


RENDERERS: dict[str, Callable[[dict], list[str]]] = {
    "vmaf": render_vmaf, "pieapp": render_pieapp, "compression": render_compression,
    "upscaling": render_upscaling, "transport": render_transport, "validator": render_validator,
}  # fmt: skip


def _previous_runs() -> dict[str, BenchRun]:
    """The runs recorded by the last invocation whose JSON is still there."""
    path = OUT / "summary.json"
    if not path.exists():
        return {}
    try:
        runs = [BenchRun(**r) for r in json.loads(path.read_text()).get("runs", [])]
    except (ValueError, TypeError):
        return {}
    return {r.name: r for r in runs if r.json_path and Path(r.json_path).exists()}


def render_report(machine: dict, runs: list[BenchRun], media: dict[str, str], mode: str, load: dict) -> str:
    lines = [
        "# Benchmark report", "",
        f"Generated by `python -m benchmarks.run_all` ({mode} mode) on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"commit `{machine['commit']}`.", "",
        "## Machine", "",
        f"- CPU: {machine['cpu_model']}, {machine['cores']} cores; RAM {machine['ram_gib']} GiB; "
        f"GPU: {'yes' if machine['gpu'] else 'none'}",
        f"- {machine['platform']}, Python {machine['python']}",
        f"- Load average (1/5/15 min) at start {load['start']}, at end {load['end']}: the machine is shared, so "
        "absolute seconds are pessimistic; ratios within one benchmark are the figures to compare.",
        f"- Footage: `{media.get('media')}` (clips {media.get('clip')}, {media.get('clip_b')}, {media.get('speed_clip')})", "",
        "## Runs", "",
    ]  # fmt: skip
    lines += _table(["benchmark", "status", "wall s", "command"],
                    [[r.name, r.status, r.wall_s, f"`{' '.join(r.command).replace(str(ROOT) + '/', '')}`"] for r in runs])  # fmt: skip
    for r in runs:
        lines += [f"## {r.name}", ""]
        if r.json_path is None:
            lines += [f"No result: {r.status}. {r.detail}".strip(), ""]
            continue
        data = json.loads(Path(r.json_path).read_text())
        try:
            lines += RENDERERS.get(r.name, render_generic)(data)
        except Exception as exc:  # a benchmark changed its JSON: still show something
            lines += [f"(summary failed: {type(exc).__name__}: {exc})", ""] + render_generic(data)
        if r.status not in ("ok", "reused"):
            lines += [f"Status: {r.status}. {r.detail}", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", nargs="*", default=None, help="benchmark names (default: all found)")
    ap.add_argument("--skip", nargs="*", default=[], help="benchmark names to leave out")
    ap.add_argument("--full", action="store_true", help="the benchmarks' own defaults instead of quick mode")
    ap.add_argument(
        "--reuse", action="store_true", help="no runs: rebuild the report from benchmarks/out/run_all"
    )
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark")
    ap.add_argument("--media", type=Path, default=MEDIA)
    ap.add_argument("--report", type=Path, default=REPORT)
    args = ap.parse_args(argv)
    names = [n for n in (args.only or discover()) if n not in args.skip]
    OUT.mkdir(parents=True, exist_ok=True)
    previous = _previous_runs()
    machine = machine_info()
    media = (
        media_for_quick(args.media)
        if not args.full
        else {"media": shown(args.media), "clip": "all", "speed_clip": "default"}
    )
    load_start = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    runs: list[BenchRun] = []
    for name in names:
        if not (BENCH_DIR / f"bench_{name}.py").is_file():
            runs.append(BenchRun(name, [], "missing", detail=f"benchmarks/bench_{name}.py does not exist"))
            continue
        quick = [a.format(out=OUT, **media) for a in QUICK_ARGS.get(name, [])]
        cmd_args = [] if args.full else quick
        if args.reuse:
            path = OUT / f"{name}.json"
            prev = previous.get(name)
            if prev is not None and prev.json_path:
                runs.append(prev)
            else:
                runs.append(BenchRun(name, ["-m", f"benchmarks.bench_{name}", *cmd_args], "reused" if path.exists()
                                     else "missing", json_path=str(path) if path.exists() else None))  # fmt: skip
            continue
        runs.append(run_bench(name, cmd_args, args.timeout))
    ran = {r.name for r in runs}
    runs += [r for name, r in previous.items() if name not in ran and name not in args.skip and r.json_path]
    runs.sort(key=lambda r: r.name)
    load = {"start": load_start, "end": ", ".join(f"{x:.1f}" for x in os.getloadavg())}
    (OUT / "summary.json").write_text(json.dumps({"machine": machine, "load": load, "media": media,
                                                  "runs": [asdict(r) for r in runs]}, indent=2))  # fmt: skip
    args.report.write_text(render_report(machine, runs, media, "full" if args.full else "quick", load))
    console.log(f"wrote {args.report}")
    return 0 if all(r.status in ("ok", "reused") for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
