"""Rendering of the compression benchmark's results: per-strategy summary, console table, REPORT.md section.

Split from `benchmarks.bench_compression` (which measures); `benchmarks.run_all` renders the report with it.
"""

from __future__ import annotations

import statistics

from rich.console import Console
from rich.table import Table

console = Console(width=160)
STRATEGIES = ("paid", "best_paid", "search", "oracle", "fixed", "fixed_tuned")


def failed() -> dict:
    """A task answered with an error: scores 0 (counted as a failure, not as below-threshold VMAF)."""
    return {"crf": None, "C": 1.0, "vmaf_hm": None, "s_f": 0.0, "exp_s_f": 0.0, "p_fail": 1.0,
            "p_vmaf_penalty": 1.0, "p_bonus": 0.0, "multiplier": 0.0, "paid": 0.0, "failed": True}  # fmt: skip


def row_line(row: dict) -> str:
    parts = [f"{row['clip']} {row['codec']} {row['threshold']:g}"]
    for k in ("paid", "best_paid", "search", "fixed"):
        v = row.get(k)
        if v and v.get("failed"):
            parts.append(f"{k}: failed")
        elif v:
            parts.append(f"{k}: CRF {v['crf']} VMAF {v['vmaf_hm']:.2f} C {v['C']:.3f} S_f {v['s_f']:.3f} "
                         f"paid {v['paid']:.3f}")  # fmt: skip
    return " | ".join(parts)


def summarise(rows: list[dict]) -> dict:
    """Mean figures per strategy (all rows, and per codec)."""
    keys = [k for k in STRATEGIES if any(k in r for r in rows)]
    out: dict = {}
    for codec in sorted({r["codec"] for r in rows}) + ["all"]:
        sel = [r for r in rows if codec == "all" or r["codec"] == codec]
        out[codec] = {}
        for k in keys:
            pairs = [(r[k], r) for r in sel if r.get(k)]
            vals = [v for v, _ in pairs]
            if not vals:
                continue
            out[codec][k] = {
                "n": len(vals),
                "mean_paid": round(statistics.fmean(v["paid"] for v in vals), 4),
                "mean_s_f": round(statistics.fmean(v["s_f"] for v in vals), 4),
                "mean_exp_s_f": round(statistics.fmean(v["exp_s_f"] for v in vals), 4),
                "below_threshold": sum(v["vmaf_hm"] is not None and v["vmaf_hm"] < r["threshold"] for v, r in pairs),
                "failed": sum(bool(v.get("failed")) for v in vals),
                "mean_p_fail": round(statistics.fmean(v["p_fail"] for v in vals), 4),
                "mean_p_vmaf_penalty": round(statistics.fmean(v["p_vmaf_penalty"] for v in vals), 4),
                "mean_C": round(statistics.fmean(v["C"] for v in vals), 4),
                "mean_seconds": round(statistics.fmean(v.get("seconds", 0.0) or 0.0 for v in vals), 2),
                "mean_probes": round(statistics.fmean(v.get("probes", 0) or 0 for v in vals), 2),
            }
    return out


LABELS = {
    "paid": "engine (objective = paid)",
    "best_paid": "best single CRF per task for the paid figure (hindsight)",
    "search": "previous search (objective = single round)",
    "oracle": "best single CRF per task for S_f (hindsight)",
    "fixed": "fixed CRF per tier (lazy miner)",
    "fixed_tuned": "best fixed table over these clips (hindsight)",
}


def show(summary: dict) -> None:
    for codec, per in summary.items():
        t = Table(title=f"compression benchmark — {codec}")
        for col in ("strategy", "n", "paid figure", "mean S_f", "E[S_f] 5-frame", "P(VMAF pen.)", "misses",
                    "failures", "mean C", "probes", "s/task"):
            t.add_column(col)
        for k, v in per.items():
            t.add_row(k, str(v["n"]), f"{v['mean_paid']:.4f}", f"{v['mean_s_f']:.4f}", f"{v['mean_exp_s_f']:.4f}",
                      f"{v['mean_p_vmaf_penalty']:.2f}", str(v["below_threshold"]), str(v["failed"]),
                      f"{v['mean_C']:.3f}", f"{v['mean_probes']:.1f}", f"{v['mean_seconds']:.1f}")  # fmt: skip
        console.print(t)


def render_markdown(d: dict) -> list[str]:
    """The REPORT.md section: per codec, the paid figure first, then the single-round figures."""
    s = d.get("settings", {})
    how = ("`SearchingEngine` end to end, wall clock" if d.get("real_engine") else
           "the engine's own decision code on cached encodes; s/task = encode + VMAF seconds of the probes it made "
           "+ its planning time")  # fmt: skip
    lines = [
        f"What a miner is paid (E[S_f] over simulated 5-frame validator draws x the steady-state history multiplier of docs/scoring.md) "
        f"per strategy; means over clip x threshold tasks ({d.get('seconds'):g} s clips; clip/codec pairs measured: "
        f"{', '.join(d.get('tasks', d.get('clips', [])))}{'' if d.get('complete', True) else ' — PARTIAL run'}). "
        f"Engine: {how}. Best single CRF for the paid figure: per task in hindsight among every CRF measured "
        f"(sweep at step {d.get('oracle_step')}, step 1 around each threshold and threshold + 5 crossing and within "
        f"{d.get('refine', 2)} of the pick, plus the engine's probes). "
        f"Misses = all-frame VMAF below the threshold; failures = no answer (scores 0). "
        f"Encoders: presets {s.get('presets')}, params {s.get('encoder_params')}, keyframe interval {s.get('gop')}.",
        "",
    ]
    for codec, per in d.get("summary", {}).items():
        rows = [[LABELS.get(k, k), v.get("n"), f"**{v['mean_paid']:.3f}**" if k == "paid" else f"{v['mean_paid']:.3f}",
                 f"{v['mean_s_f']:.3f}", f"{v['mean_exp_s_f']:.3f}", f"{v['mean_p_vmaf_penalty']:.2f}",
                 v.get("below_threshold"), v.get("failed"), f"{v['mean_C']:.3f}",
                 f"{v['mean_probes']:.1f}" if k in ("paid", "search") else "",
                 f"{v['mean_seconds']:.1f}" if k in ("paid", "search") else ""]
                for k, v in per.items()]  # fmt: skip
        header = ["strategy", "n", "paid figure", "mean S_f", "E[S_f] 5 frames", "P(VMAF penalty)", "misses",
                  "failures", "mean C", "probes", "s/task"]  # fmt: skip
        lines += [f"**{codec}**", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows] + [""]
    return lines
