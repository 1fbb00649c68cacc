"""Compression benchmark: the target-VMAF search vs a lazy fixed CRF vs an exhaustive-CRF oracle.

    python -m benchmarks.bench_compression [--codecs av1 hevc] [--clips real-240p-a ...]

For every clip of `--media` (trimmed to `--seconds`, re-encoded as a high-quality x264 input the
way a validator would hand it out), every codec and every threshold (85/89/93):
- search: `SearchingEngine` with the default settings (real run, wall-clock seconds);
- fixed:  `FixedCrfEngine`'s CRF for the tier (the lazy miner);
- oracle: every CRF at step `--oracle-step` on the full clip, refined to step 1 next to each
  threshold's crossing, keeping the passing CRF with the best S_f (it knows the full clip).
Each output is scored the validator's way: S_f from `scoring.compression.compression_score` on the
harmonic mean over all frames (NEG model), plus the expectation over simulated 5-random-frame
draws (E[S_f], P(fail)) and the steady-state multiplier of §6.5. `--margins` re-runs the search
logic on the cached encodes for other safety margins (tuning). Encodes and VMAF results are cached
in `--cache`, so re-runs only pay for what changed. Writes `benchmarks/out/compression.json`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from benchmarks.media import DEFAULT_MEDIA
from scoring.compression import compression_score
from scoring.config import ScoringConfig
from scoring.media.ffmpeg import run_ffmpeg
from scoring.media.probe import probe
from scoring.metrics.vmaf import vmaf_full
from services.compression import CompressionFailed, CompressionSettings, SearchingEngine
from services.compression.encoder import encode
from services.compression.errors import Deadline
from services.compression.policy import best_scoring_crf, crf_for_size
from services.compression.quality import conservative_vmaf, harmonic_mean, sampled_harmonic_means
from services.compression.search import Probe, search_crf

console = Console(width=150)
OUT = Path("benchmarks/out")
DRAWS = 2000


def prepare_input(src: Path, dst: Path, seconds: float, crf: int) -> Path:
    """First `seconds` of `src`, no audio, as x264 CRF `crf` preset medium (cached)."""
    if not dst.exists():
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_suffix(".tmp.mp4")
        run_ffmpeg(
            ["-loglevel", "error", "-i", str(src), "-t", f"{seconds}", "-map", "0:v:0", "-an",
             "-c:v", "libx264", "-crf", str(crf), "-preset", "medium", "-pix_fmt", "yuv420p", str(tmp)],
            timeout_s=900,
        )  # fmt: skip
        tmp.rename(dst)
    return dst


class EncodeCache:
    """(clip, codec, preset, crf) -> size, per-frame NEG VMAF, seconds. One JSON file per entry."""

    def __init__(self, root: Path, settings: CompressionSettings) -> None:
        self.root = root
        self.settings = settings
        root.mkdir(parents=True, exist_ok=True)

    def get(self, src: Path, codec: str, crf: int) -> dict:
        preset = self.settings.preset(codec)
        path = self.root / f"{src.stem}-{codec}-p{preset}-crf{crf}.json"
        if path.exists():
            return json.loads(path.read_text())
        with tempfile.TemporaryDirectory(prefix="bench-comp-") as tmp:
            out = Path(tmp) / "out.mp4"
            enc_s = encode(src, out, codec, crf, preset=preset, threads=self.settings.threads, deadline=Deadline(None))
            r = vmaf_full(src, out, model=self.settings.vmaf_model, threads=self.settings.threads)
            rec = {
                "crf": crf, "size": out.stat().st_size, "encode_s": enc_s, "vmaf_s": r.elapsed_s,
                "per_frame": [r.per_frame[i] for i in sorted(r.per_frame)],
            }  # fmt: skip
        path.write_text(json.dumps(rec))
        return rec


def evaluate(per_frame: list[float], size: int, input_size: int, thr: float, cfg: ScoringConfig) -> dict:
    """Validator-side view of one output: S_f on the all-frame HM, and over simulated 5-frame draws."""
    c = size / input_size
    hm = harmonic_mean(per_frame)
    s_hm = compression_score(c, min(hm, 100.0), thr, cfg).s_f
    h5 = sampled_harmonic_means(per_frame, n_sampled=5, draws=DRAWS, seed=7)
    s5 = [compression_score(c, min(float(h), 100.0), thr, cfg).s_f for h in h5]
    n = len(s5)
    p_bonus = sum(s > cfg.compression_bonus_threshold for s in s5) / n
    p_pen_f = sum(s < cfg.compression_penalty_f_threshold for s in s5) / n
    p_pen_v = float((h5 < thr + cfg.vmaf_safety_margin).mean())
    mult = (1 + cfg.max_bonus * p_bonus) * (1 - cfg.max_penalty_f * p_pen_f) * (1 - cfg.max_penalty_vmaf * p_pen_v)
    return {
        "C": round(c, 4), "vmaf_hm": round(hm, 3), "s_f": round(s_hm, 4),
        "exp_s_f": round(sum(s5) / n, 4), "p_fail": round(float((h5 < thr).mean()), 4),
        "p_vmaf_penalty": round(p_pen_v, 4), "steady_adjusted": round(sum(s5) / n * mult, 4),
    }  # fmt: skip


def oracle_sweep(cache: EncodeCache, src: Path, codec: str, thresholds: list[float], step: int) -> list[dict]:
    """CRFs at `step` from the first passing the top threshold up to the first failing the lowest."""
    lo, hi = cache.settings.crf_range(codec)
    top, bottom = max(thresholds), min(thresholds)
    crf = cache.settings.tier_crf(codec, top)
    recs = {crf: cache.get(src, codec, crf)}
    while harmonic_mean(recs[crf]["per_frame"]) < top and crf - step >= lo:
        crf -= step
        recs[crf] = cache.get(src, codec, crf)
    crf = max(recs)
    while harmonic_mean(recs[crf]["per_frame"]) >= bottom - 0.5 and crf + step <= hi:
        crf += step
        recs[crf] = cache.get(src, codec, crf)
    for thr in thresholds:  # refine to step 1 next to the crossing
        passing = [c for c in recs if harmonic_mean(recs[c]["per_frame"]) >= thr]
        if passing and max(passing) + 1 <= hi and max(passing) + 1 not in recs:
            recs[max(passing) + 1] = cache.get(src, codec, max(passing) + 1)
    return [recs[c] for c in sorted(recs)]


def oracle_pick(recs: list[dict], input_size: int, thr: float, cfg: ScoringConfig) -> dict | None:
    best = None
    for r in recs:
        hm = harmonic_mean(r["per_frame"])
        if hm < thr or r["size"] >= input_size:
            continue
        s = compression_score(r["size"] / input_size, min(hm, 100.0), thr, cfg).s_f
        if best is None or s > best[0]:
            best = (s, r)
    return None if best is None else best[1]


def parse_variant(spec: str) -> dict:
    """"hm:1.5" = all-frame HM + 1.5; "q0.05:0.5" = 5 % quantile of the 5-frame HM + 0.5;
    a third field "top" = always the highest passing CRF (no S_f preference)."""
    stat, margin, *rest = spec.split(":")
    q = None if stat == "hm" else float(stat.removeprefix("q"))
    return {"risk_quantile": q, "safety_margin": float(margin), "prefer_score": "top" not in rest}


def simulate_search(
    cache: EncodeCache, src: Path, codec: str, thr: float, settings: CompressionSettings, input_size: int
) -> dict | None:
    """The engine's whole-clip search replayed on cached encodes (to tune the reading and margin).

    Same search, start, probe budget, S_f preference and step-up when the pick is not smaller
    than the input. None = the engine would report failure.
    """
    lo, hi = settings.crf_range(codec)

    def reading(r: dict) -> float:
        return conservative_vmaf(r["per_frame"], n_sampled=settings.validator_frames, quantile=settings.risk_quantile)

    def measure(crf: int) -> tuple[float, int]:
        r = cache.get(src, codec, crf)
        return reading(r), r["size"]

    res = search_crf(
        measure, target=thr + settings.safety_margin, lo=lo, hi=hi, start=settings.tier_crf(codec, thr),
        max_probes=settings.max_probes, slope_prior=settings.slope_prior.get(codec, 1.0),
    )  # fmt: skip
    crf = res.best.crf if res.best is not None else lo
    if res.best is not None and settings.prefer_score:
        passing = [(p.crf, p.size_bytes, harmonic_mean(cache.get(src, codec, p.crf)["per_frame"]))
                   for p in res.probes if p.vmaf >= res.target and p.crf <= crf]  # fmt: skip
        crf = best_scoring_crf(passing, input_size=input_size, threshold=thr, cfg=ScoringConfig())
    rec = cache.get(src, codec, crf)
    steps = 0
    seen = list(res.probes)
    while rec["size"] >= input_size:  # the engine's step-up: the CRF the size curve predicts
        steps += 1
        if steps > 2 or crf >= hi:
            return None
        crf = min(crf_for_size(seen, crf, rec["size"], 0.97 * input_size), hi)
        rec = cache.get(src, codec, crf)
        seen.append(Probe(crf, reading(rec), rec["size"]))
        if harmonic_mean(rec["per_frame"]) < thr:
            return None
    return rec | {"probes": len(res.probes) + steps}


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--media", type=Path, default=DEFAULT_MEDIA, help="folder of real clips (default ../shared/media)")
    ap.add_argument("--clips", nargs="*", default=None, help="clip stems (default: every .mp4)")
    ap.add_argument("--codecs", nargs="*", default=["av1", "hevc"])
    ap.add_argument("--thresholds", nargs="*", type=float, default=[85.0, 89.0, 93.0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--input-crf", type=int, default=18)
    ap.add_argument("--oracle-step", type=int, default=2)
    ap.add_argument("--preset", action="append", default=[], help="codec=preset override, e.g. hevc=fast")
    ap.add_argument("--variants", nargs="*", default=[],
                    help="readings+margins to replay on the cache: hm:1.5 (all-frame HM), q0.05:0.5 (quantile)")
    ap.add_argument("--no-engine", action="store_true", help="skip the real engine runs (replay only)")
    ap.add_argument("--cache", type=Path, default=OUT / "cache" / "compression")
    ap.add_argument("--out", type=Path, default=OUT / "compression.json")
    ap.add_argument("--append", action="store_true",
                    help="merge into --out: other tasks and figures not re-measured now are kept")
    args = ap.parse_args(argv)

    presets = dict(CompressionSettings().presets)
    presets.update(dict(p.split("=", 1) for p in args.preset))
    settings = CompressionSettings(presets=presets)
    cfg = ScoringConfig()
    cache = EncodeCache(args.cache, settings)
    clips = sorted(p for p in args.media.glob("*.mp4") if args.clips is None or p.stem in args.clips)
    rows: list[dict] = []
    sources: dict[str, tuple[Path, int]] = {}
    for clip in clips:
        src = prepare_input(clip, args.cache.parent / "inputs" / f"{clip.stem}-{args.seconds:g}s.mp4", args.seconds,
                            args.input_crf)  # fmt: skip
        info = probe(src)
        sources[clip.stem] = (src, info.size_bytes)
        for codec in args.codecs:
            t0 = time.monotonic()
            sweep = oracle_sweep(cache, src, codec, args.thresholds, args.oracle_step)
            console.log(f"{clip.stem} {codec}: oracle sweep {len(sweep)} CRFs in {time.monotonic() - t0:.0f} s")
            for thr in args.thresholds:
                row: dict = {"clip": clip.stem, "codec": codec, "threshold": thr, "input_size": info.size_bytes,
                             "resolution": f"{info.width}x{info.height}", "frames": info.frame_count}  # fmt: skip
                fixed_crf = settings.tier_crf(codec, thr)
                fr = cache.get(src, codec, fixed_crf)
                row["fixed"] = failed() if fr["size"] >= info.size_bytes else {
                    "crf": fixed_crf, "seconds": round(fr["encode_s"], 2)
                } | evaluate(fr["per_frame"], fr["size"], info.size_bytes, thr, cfg)
                orc = oracle_pick(sweep, info.size_bytes, thr, cfg)
                row["oracle"] = failed() if orc is None else {"crf": orc["crf"]} | evaluate(
                    orc["per_frame"], orc["size"], info.size_bytes, thr, cfg
                )
                if not args.no_engine:
                    row["search"] = run_engine(settings, src, codec, thr, info.size_bytes, cfg)
                for spec in args.variants:
                    variant = settings.model_copy(update=parse_variant(spec))
                    sim = simulate_search(cache, src, codec, thr, variant, info.size_bytes)
                    row[f"replay_{spec}"] = failed() if sim is None else {
                        "crf": sim["crf"], "probes": sim["probes"]
                    } | evaluate(sim["per_frame"], sim["size"], info.size_bytes, thr, cfg)
                rows.append(row)
                console.log(_row_line(row))
    add_tuned_fixed(rows, sources, cache, cfg)
    if args.append and args.out.exists():  # merge per task: new figures win, older ones are kept
        merged = {(r["clip"], r["codec"], r["threshold"]): r for r in json.loads(args.out.read_text())["rows"]}
        for r in rows:
            key = (r["clip"], r["codec"], r["threshold"])
            merged[key] = merged.get(key, {}) | r
        rows = list(merged.values())
    summary = summarise(rows)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"settings": settings.model_dump(mode="json"), "input_crf": args.input_crf,
                                    "seconds": args.seconds, "oracle_step": args.oracle_step,
                                    "summary": summary, "rows": rows}, indent=1))  # fmt: skip
    show(summary)
    console.print(f"wrote {args.out}")


def add_tuned_fixed(rows: list[dict], sources: dict[str, tuple[Path, int]], cache: EncodeCache,
                    cfg: ScoringConfig) -> None:  # fmt: skip
    """The strongest lazy miner: per codec and tier the one CRF with the best mean E[S_f] over these very
    clips (chosen in hindsight among CRFs already encoded for every clip). Added as row["fixed_tuned"]."""
    for codec in sorted({r["codec"] for r in rows}):
        stems = sorted({r["clip"] for r in rows if r["codec"] == codec})
        per_clip = {
            stem: {
                int(p.stem.rsplit("crf", 1)[1])
                for p in cache.root.glob(f"{sources[stem][0].stem}-{codec}-p{cache.settings.preset(codec)}-crf*.json")
            }
            for stem in stems
        }
        common = sorted(set.intersection(*per_clip.values())) if per_clip else []
        for thr in sorted({r["threshold"] for r in rows if r["codec"] == codec}):
            sel = [r for r in rows if r["codec"] == codec and r["threshold"] == thr]
            best: tuple[float, int, dict] | None = None
            for crf in common:
                evals = {}
                for r in sel:
                    src, size = sources[r["clip"]]
                    rec = cache.get(src, codec, crf)
                    evals[r["clip"]] = failed() if rec["size"] >= size else {"crf": crf} | evaluate(
                        rec["per_frame"], rec["size"], size, thr, cfg
                    )
                mean_e = statistics.fmean(e["exp_s_f"] for e in evals.values())
                if best is None or mean_e > best[0]:
                    best = (mean_e, crf, evals)
            if best is not None:
                for r in sel:
                    r["fixed_tuned"] = best[2][r["clip"]]


def run_engine(settings: CompressionSettings, src: Path, codec: str, thr: float, input_size: int,
               cfg: ScoringConfig) -> dict:  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-comp-") as tmp:
        out = Path(tmp) / "out.mp4"
        t = time.monotonic()
        try:
            o = SearchingEngine(settings).compress(src, out, codec=codec, vmaf_threshold=thr)
        except CompressionFailed as exc:
            console.log(f"search failed: {exc}")
            return failed() | {"seconds": round(time.monotonic() - t, 2), "error": str(exc)}
        seconds = time.monotonic() - t
        r = vmaf_full(src, out, model=settings.vmaf_model, threads=settings.threads)
        per_frame = [r.per_frame[i] for i in sorted(r.per_frame)]
    return {"crf": o.crf, "probes": len(o.probes), "seconds": round(seconds, 2), "fell_back": o.fell_back} | evaluate(
        per_frame, o.size_bytes, input_size, thr, cfg
    )


def failed() -> dict:
    """A task answered with an error: scores 0 (counted as a failure, not as below-threshold VMAF)."""
    return {"crf": None, "C": 1.0, "vmaf_hm": None, "s_f": 0.0, "exp_s_f": 0.0, "p_fail": 1.0,
            "p_vmaf_penalty": 1.0, "steady_adjusted": 0.0, "failed": True}  # fmt: skip


def _row_line(row: dict) -> str:
    parts = [f"{row['clip']} {row['codec']} {row['threshold']:g}"]
    for k in ("fixed", "search", "oracle"):
        v = row.get(k)
        if v and v.get("failed"):
            parts.append(f"{k}: failed")
        elif v:
            parts.append(f"{k}: CRF {v['crf']} VMAF {v['vmaf_hm']:.2f} C {v['C']:.3f} S_f {v['s_f']:.3f}")
    return " | ".join(parts)


def summarise(rows: list[dict]) -> dict:
    """Mean figures per strategy (all rows, and per codec)."""
    keys = sorted({k for r in rows for k in r if k in ("fixed", "fixed_tuned", "search", "oracle") or k.startswith("replay_")})
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
                "mean_s_f": round(statistics.fmean(v["s_f"] for v in vals), 4),
                "mean_exp_s_f": round(statistics.fmean(v["exp_s_f"] for v in vals), 4),
                "mean_steady_adjusted": round(statistics.fmean(v["steady_adjusted"] for v in vals), 4),
                "below_threshold": sum(v["vmaf_hm"] is not None and v["vmaf_hm"] < r["threshold"] for v, r in pairs),
                "failed": sum(bool(v.get("failed")) for v in vals),
                "mean_p_fail": round(statistics.fmean(v["p_fail"] for v in vals), 4),
                "mean_C": round(statistics.fmean(v["C"] for v in vals), 4),
                "mean_seconds": round(statistics.fmean(v.get("seconds", 0.0) for v in vals), 2),
                "mean_probes": round(statistics.fmean(v.get("probes", 0) or 0 for v in vals), 2),
            }
    return out


def show(summary: dict) -> None:
    for codec, per in summary.items():
        t = Table(title=f"compression benchmark — {codec}")
        for col in ("strategy", "n", "mean S_f", "E[S_f] 5-frame", "steady adj.", "below thr", "failed", "mean C",
                    "s/task"):
            t.add_column(col)
        for k, v in per.items():
            t.add_row(k, str(v["n"]), f"{v['mean_s_f']:.4f}", f"{v['mean_exp_s_f']:.4f}",
                      f"{v['mean_steady_adjusted']:.4f}", str(v["below_threshold"]), str(v["failed"]),
                      f"{v['mean_C']:.3f}",
                      f"{v['mean_seconds']:.1f}")  # fmt: skip
        console.print(t)


if __name__ == "__main__":
    main()
