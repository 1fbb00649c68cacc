"""Encoder options at equal VMAF (issue 20): which SVT-AV1 / x265 settings pay, per codec.

    python -m benchmarks.bench_encoder_options [--media ../shared/media] [--clips real-360p-a real-240p-a]

Each variant encodes the clip (10 s, the compression benchmark's x264 CRF 18 input) at a coarse CRF
grid; per-frame NEG VMAF is measured. Reported per variant: the size at equal all-frame VMAF (90 / 94,
log-size interpolated between grid points), the best paid figure per threshold over the grid (per-frame
VMAF and log size interpolated in CRF, `services.compression.objective.estimate_paid`), mean encode
seconds. Results are appended to `--jsonl` (re-runs only encode what is missing).
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.bench_compression import prepare_input
from scoring.config import ScoringConfig
from scoring.media.probe import probe
from scoring.metrics.vmaf import vmaf_full
from services.compression.encoder import encode
from services.compression.errors import Deadline
from services.compression.objective import estimate_paid
from services.compression.paid_search import Sample, predict
from services.compression.quality import harmonic_mean

OUT = Path("benchmarks/out")
# variant -> (preset, encoder params, keyframe interval)
VARIANTS: dict[str, dict[str, tuple[str, str, int | None]]] = {
    "av1": {"base": ("8", "", None), "tune0": ("8", "tune=0", None), "g999": ("8", "", 999),
            "fg8": ("8", "film-grain=8", None), "p6": ("6", "", None), "p6g": ("6", "", 999),
            "p7g": ("7", "", 999)},
    "hevc": {"medium": ("medium", "", None), "aq3": ("medium", "aq-mode=3", None),
             "psyoff": ("medium", "psy-rd=0:aq-mode=0", None)},
}  # fmt: skip
GRID = {"av1": [20, 27, 34, 41, 48], "hevc": [16, 21, 26, 31, 36]}


def measure(jsonl: Path, clips: list[Path], seconds: float, threads: int) -> list[dict]:
    done = [json.loads(line) for line in jsonl.read_text().splitlines()] if jsonl.exists() else []
    have = {(r["clip"], r["codec"], r["var"], r["crf"]) for r in done}
    for clip in clips:
        src = prepare_input(clip, OUT / "cache" / "inputs" / f"{clip.stem}-{seconds:g}s.mp4", seconds, 18)
        for codec, variants in VARIANTS.items():
            for var, (preset, params, gop) in variants.items():
                for crf in GRID[codec]:
                    if (clip.stem, codec, var, crf) in have:
                        continue
                    with tempfile.TemporaryDirectory(prefix="bench-opts-") as tmp:
                        out = Path(tmp) / "o.mp4"
                        enc_s = encode(src, out, codec, crf, preset=preset, threads=threads, deadline=Deadline(None),
                                       params=params, gop=gop)  # fmt: skip
                        r = vmaf_full(src, out, model="vmaf_v0.6.1neg", threads=threads)
                        rec = {"clip": clip.stem, "codec": codec, "var": var, "crf": crf, "size": out.stat().st_size,
                               "encode_s": enc_s, "per_frame": [r.per_frame[i] for i in sorted(r.per_frame)]}  # fmt: skip
                    with jsonl.open("a") as f:
                        f.write(json.dumps(rec) + "\n")
                    done.append(rec)
    return done


def analyse(recs: list[dict], inputs: dict[str, int], cfg: ScoringConfig) -> list[dict]:
    groups: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in recs:
        if r["clip"] in inputs and r["var"] in VARIANTS.get(r["codec"], {}):
            groups[(r["clip"], r["codec"], r["var"])].append(r)
    rows = []
    for (clip, codec, var), rs in sorted(groups.items()):
        samples = [Sample(r["crf"], tuple(r["per_frame"]), r["size"]) for r in rs]
        lo, hi = min(s.crf for s in samples), max(s.crf for s in samples)
        best = {}
        for thr in (85.0, 89.0, 93.0):
            b = 0.0
            for c in range(lo, hi + 1):
                pred = predict(samples, c, slope_prior=1.0, size_per_crf=0.06, max_step=0)
                if pred is None or pred[1] >= inputs[clip] or harmonic_mean(pred[0].tolist()) < thr:
                    continue
                b = max(b, estimate_paid(pred[0], pred[1], inputs[clip], thr, cfg, draws=1000, seed=3).paid)
            best[f"paid_{thr:g}"] = round(b, 4)
        curve = sorted((harmonic_mean(r["per_frame"]), r["size"]) for r in rs)

        def size_at(v: float, curve: list[tuple[float, int]] = curve) -> float | None:
            for (h1, s1), (h2, s2) in zip(curve, curve[1:], strict=False):
                if h1 <= v <= h2 and h2 > h1:
                    t = (v - h1) / (h2 - h1)
                    return math.exp((1 - t) * math.log(s1) + t * math.log(s2))
            return None

        rows.append({"clip": clip, "codec": codec, "variant": var, "n": len(rs), **best,
                     "size_at_90": size_at(90.0), "size_at_94": size_at(94.0),
                     "encode_s": round(float(np.mean([r["encode_s"] for r in rs])), 2)})  # fmt: skip
    return rows


def render(rows: list[dict]) -> list[str]:
    base = {(r["clip"], r["codec"]): r for r in rows if r["variant"] in ("base", "medium")}
    lines = ["| clip | codec | variant | size @ VMAF 90 vs default | size @ 94 vs default | best paid 85 / 89 / 93 "
             "| encode s (shared machine) |", "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        b = base.get((r["clip"], r["codec"]))

        def rel(key: str, r: dict = r, b: dict | None = b) -> str:
            return f"{r[key] / b[key]:.3f}" if b and r[key] and b[key] else "n/a"

        lines.append(f"| {r['clip']} | {r['codec']} | {r['variant']} | {rel('size_at_90')} | {rel('size_at_94')} | "
                     f"{r['paid_85']:.3f} / {r['paid_89']:.3f} / {r['paid_93']:.3f} | {r['encode_s']} |")  # fmt: skip
    return lines


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--media", type=Path, default=Path("../shared/media"))
    ap.add_argument("--clips", nargs="*", default=["real-360p-a", "real-240p-a"])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--jsonl", type=Path, default=OUT / "encoder_options.jsonl")
    ap.add_argument("--out", type=Path, default=OUT / "encoder_options.json")
    ap.add_argument("--markdown", type=Path, default=None)
    args = ap.parse_args(argv)
    clips = [args.media / f"{c}.mp4" for c in args.clips]
    recs = measure(args.jsonl, clips, args.seconds, args.threads)
    inputs = {c.stem: probe(OUT / "cache" / "inputs" / f"{c.stem}-{args.seconds:g}s.mp4").size_bytes for c in clips}
    rows = analyse(recs, inputs, ScoringConfig())
    args.out.write_text(json.dumps({"rows": rows}, indent=1))
    md = render(rows)
    if args.markdown is not None:
        args.markdown.write_text("\n".join(md) + "\n")
    print("\n".join(md))  # noqa: T201 - a benchmark's own report on stdout


if __name__ == "__main__":
    main()
