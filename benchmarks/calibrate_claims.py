"""Calibrate the one-claim-per-solution rule (`scoring.claims.same_solution`) on the shared clips.

    python -m benchmarks.calibrate_claims [--media ../shared/media] [--seconds 2] [--draws 10] [--clips GLOB]
                                          [--synthetic N [--size 320x180]]

`--synthetic N` adds N clips of the validator's synthetic source (seeds 0..N-1, the demo's and the
tests' content: fractals, cellular automata, gradients, seeded grain) rendered at `--size`.

For every clip (trimmed to `--seconds`), honest answers of the miner engine's encoders: av1
(SVT-AV1), hevc (x265) and h264 (x264) over a CRF grid, at the engine's preset and a slower and a
faster one; copies of one answer (hevc CRF 22): a remux (title metadata, index moved to the end) and
a transcode of the answer itself; and attempts to slip a CRF + 1 copy past the coding-structure
rule (another keyint, another B-frame count, no scenecut). Each answer gets `claim_print` (with its
coding structure) on `--draws` independent 5-frame draws; every pair answering the same task (same
clip, same codec) is classified:

- honest (another preset, or CRFs >= 3 apart): must never be merged;
- the same encoder and preset one or two CRF steps apart: one step is the documented collision (it
  *is* the CRF + 1 copy), two steps must stay apart (by size);
- copy (an answer and its remux or transcode) and slip (the CRF + 1 variants): should be merged.

Prints, per class, the closest pair (cross ratio, size ratio) and how many pairs the configured rule
merges (on any draw / on every draw); per codec and class, the size-pattern spread of pairs with one
coding structure within the size ratio (the structure rule's separation); and every pair on the
wrong side. Writes `benchmarks/out/calibrate_claims.json`. Reuses `benchmarks/out/cache/chroma/`
encodes when present.
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.calibrate_chroma import ffmpeg_to
from scoring.claims import ClaimPrint, claim_print, cross_ratio, same_solution, size_pattern
from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from scoring.metrics.vmaf import sample_frame_indices
from services.compression.encoder import encode_args
from services.synthesis.sources import SyntheticSource
from services.synthesis.spec import ClipSpec

OUT = Path("benchmarks/out")
CACHE = OUT / "cache" / "chroma"
DEFAULT_MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
# (codec, crf, preset): the engine's presets plus a slower and a faster one, CRFs across the range
HONEST = [
    *[("av1", c, "8") for c in (20, 30, 31, 35, 40, 41, 45)],
    *[("av1", c, p) for c in (30, 40) for p in ("4", "12")],
    *[("hevc", c, "medium") for c in (18, 22, 23, 25, 28, 29, 32)],
    *[("hevc", c, p) for c in (22, 28) for p in ("slow", "ultrafast")],
    *[("h264", c, "medium") for c in (18, 20, 23, 24, 26, 30)],
    *[("h264", c, p) for c in (23, 26) for p in ("slow", "veryfast")],
]
# attempts to slip a CRF + 1 copy of hevc CRF 22 medium past the structure rule: name -> x265 params
SLIPS = {"keyint 30": "keyint=30", "bframes 3": "bframes=3", "no scenecut": "scenecut=0"}


def _encode(src: Path, out: Path, codec: str, crf: int, preset: str, params: str = "") -> Path:
    if not out.exists():
        ffmpeg_to(*encode_args(src, out, codec, crf, preset=preset, threads=2, params=params)[:-3], str(out))
    return out


def answers(ref: Path, work: Path) -> dict[str, tuple[str, Path]]:
    """name -> (codec, path)"""
    got = {}
    for codec, crf, preset in HONEST:
        got[f"{codec} crf{crf} p{preset}"] = (
            codec,
            _encode(ref, work / f"{codec}-{crf}-{preset}.mp4", codec, crf, preset),
        )
    base = work / "hevc-22-medium.mp4"
    remux = work / "copy-remux.mp4"
    if not remux.exists():
        ffmpeg_to("-i", str(base), "-c", "copy", "-metadata", "title=mine", str(remux))
    got["copy remux of hevc crf22 p medium"] = ("hevc", remux)
    recode = work / "copy-reencode-crf23.mp4"
    if not recode.exists():
        ffmpeg_to(*encode_args(base, recode, "hevc", 23, preset="medium", threads=2)[:-3], str(recode))
    got["copy transcode (crf23) of hevc crf22 p medium"] = ("hevc", recode)
    for name, params in SLIPS.items():
        path = _encode(ref, work / f"slip-{params.replace('=', '')}.mp4", "hevc", 23, "medium", params)
        got[f"slip crf23 {name} of hevc crf22 p medium"] = ("hevc", path)
    return got


def _limit(cfg: MetricsConfig, codec: str) -> float:
    limits = cfg.claim_max_cross_ratio
    return limits.get(codec, min(limits.values(), default=0.0))


def kind(a: str, b: str) -> str:
    base = "hevc crf22 pmedium"
    if a.startswith("slip") or b.startswith("slip"):
        other = b if a.startswith("slip") else a
        return "slip" if other == base else "slip vs another answer"
    if a.startswith("copy") and b.startswith("copy"):
        return "copy"
    if a.startswith("copy") or b.startswith("copy"):
        other = b if a.startswith("copy") else a
        return "copy" if other == base else "copy vs another answer"
    ca, crfa, pa = a.split()
    cb, crfb, pb = b.split()
    if ca == cb and pa == pb and abs(int(crfa[3:]) - int(crfb[3:])) <= 2:
        return f"same engine+preset, CRF {abs(int(crfa[3:]) - int(crfb[3:]))} apart"
    return "honest"


def _spread_table(con: Console, pairs: list[dict[str, Any]], max_size_ratio: float) -> None:
    """Per codec and class: the size-pattern spread among pairs of one coding structure within the size ratio
    (honest: the lowest must stay above the limit; CRF 1 apart and copies: the highest must stay under it)."""
    t = Table(
        title=f"coding structure: size spread of pairs with identical structure and size ratio <= {max_size_ratio}"
    )
    for col in ("codec", "class", "pairs", "same structure", "of those within size", "spread min", "spread max",
                "closest pair"):  # fmt: skip
        t.add_column(col)
    for codec in sorted({p["codec"] for p in pairs}):
        for k in sorted({p["kind"] for p in pairs if p["codec"] == codec}):
            ps = [p for p in pairs if p["codec"] == codec and p["kind"] == k]
            same = [p for p in ps if p["same_structure"]]
            near = [p for p in same if p["size_ratio"] <= max_size_ratio]
            lo = min(near, key=lambda p: p["size_spread"], default=None)
            hi = max(near, key=lambda p: p["size_spread"], default=None)
            t.add_row(codec, k, str(len(ps)), str(len(same)), str(len(near)),
                      f"{lo['size_spread']:.4f}" if lo else "-", f"{hi['size_spread']:.4f}" if hi else "-",
                      f"{lo['clip']}: {lo['a']} / {lo['b']} x{lo['size_ratio']:.2f}" if lo else "")  # fmt: skip
    con.print(t)


def _clips(args: argparse.Namespace) -> list[tuple[Path, Path]]:
    """(clip, work dir) for the shared clips matching `--clips` and the `--synthetic` ones (rendered into
    their work dir as ref.mp4; the clip path then names the seed and does not exist)."""
    got = []
    for clip in sorted(args.media.glob(f"{args.clips}.mp4")) if args.clips else []:
        work = CACHE / f"{clip.stem}-{args.seconds:g}s"
        work.mkdir(parents=True, exist_ok=True)
        got.append((clip, work))
    w, h = (int(v) for v in args.size.split("x"))
    for seed in range(args.synthetic):
        work = CACHE / f"synthetic{seed}-{args.size}-{args.seconds:g}s"
        work.mkdir(parents=True, exist_ok=True)
        ref = work / "ref.mp4"
        if not ref.exists():
            spec = ClipSpec(width=w, height=h, fps=30, seconds=args.seconds, seed=seed)
            SyntheticSource(text=False).produce(spec, ref)
        got.append((work / f"synthetic{seed}", work))
    return got


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=DEFAULT_MEDIA)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--draws", type=int, default=10)
    ap.add_argument("--clips", default="*", help="only the clips whose name matches this glob")
    ap.add_argument("--synthetic", type=int, default=0, help="also N synthetic-source clips (seeds 0..N-1)")
    ap.add_argument("--size", default="320x180", help="size of the synthetic clips, WxH")
    args = ap.parse_args()
    cfg = MetricsConfig()
    con = Console()
    t0 = time.monotonic()
    pairs: list[dict[str, Any]] = []
    for clip, work in _clips(args):
        ref = work / "ref.mp4"
        if not ref.exists() and clip.exists():
            ffmpeg_to("-i", str(clip), "-t", f"{args.seconds}", "-map", "0:v:0", "-c", "copy", str(ref))
        info = probe(ref)
        got = answers(ref, work)
        n = info.frame_count
        prints: dict[str, list[ClaimPrint]] = {}
        for name, (_codec, path) in got.items():
            prints[name] = [
                claim_print(
                    ref,
                    path,
                    sample_frame_indices(n, 5, secret="cal", task_id=f"{clip.stem}-{k}", salt="claim"),
                    seed=f"{clip.stem}-{k}",
                    crop=cfg.claim_crop,
                    max_packets=n + 8,
                )  # fmt: skip
                for k in range(args.draws)
            ]
        con.log(f"{clip.stem}: {len(got)} answers fingerprinted")
        for a, b in itertools.combinations(got, 2):
            if got[a][0] != got[b][0]:
                continue  # another codec is another task
            codec = got[a][0]
            verdicts = [
                same_solution(pa, pb, max_cross_ratio=_limit(cfg, codec), max_size_ratio=cfg.claim_max_size_ratio,
                              max_size_pattern=cfg.claim_max_size_pattern.get(codec, 0.0))
                for pa, pb in zip(prints[a], prints[b], strict=True)
            ]  # fmt: skip
            ca, cb = prints[a][0].coding, prints[b][0].coding
            spread = size_pattern(ca, cb) if ca is not None and cb is not None else None
            ratios = [cross_ratio(pa, pb) for pa, pb in zip(prints[a], prints[b], strict=True)]
            sa, sb = prints[a][0].size_bytes, prints[b][0].size_bytes
            pairs.append({
                "clip": clip.stem, "a": a, "b": b, "kind": kind(a, b),
                "cross_min": min(ratios), "cross_max": max(ratios),
                "size_ratio": max(sa, sb) / max(1, min(sa, sb)), "codec": codec,
                "same_structure": spread is not None, "size_spread": spread,
                "merged_any": any(v is not None for v in verdicts),
                "merged_all": all(v is not None for v in verdicts),
                "why": next((v for v in verdicts if v), None),
            })  # fmt: skip
    t = Table(title=f"pairs answering the same task (cross ratio <= {cfg.claim_max_cross_ratio}, size ratio <= "
                    f"{cfg.claim_max_size_ratio}, size spread <= {cfg.claim_max_size_pattern})")  # fmt: skip
    for col in (
        "class",
        "pairs",
        "merged (any draw)",
        "merged (every draw)",
        "lowest cross ratio (its size ratio)",
    ):
        t.add_column(col)
    classes = ("honest", "same engine+preset, CRF 2 apart", "same engine+preset, CRF 1 apart", "copy vs another answer",
               "copy", "slip vs another answer", "slip")  # fmt: skip
    for k in classes:
        ps = [p for p in pairs if p["kind"] == k]
        if not ps:
            continue
        close = min(ps, key=lambda p: p["cross_min"])
        t.add_row(k, str(len(ps)), str(sum(p["merged_any"] for p in ps)), str(sum(p["merged_all"] for p in ps)),
                  f"{close['cross_min']:.3f} ({close['size_ratio']:.2f}) {close['clip']}: {close['a']} / {close['b']}")  # fmt: skip
    con.print(t)
    _spread_table(con, pairs, cfg.claim_max_size_ratio)
    for p in pairs:
        bad = p["kind"] in ("honest", "copy vs another answer", "slip vs another answer") and p["merged_any"]
        if bad or (p["kind"] in ("copy", "same engine+preset, CRF 1 apart", "slip") and not p["merged_all"]):
            con.print(f"  {p['kind']}: {p['clip']}: {p['a']} / {p['b']}: cross {p['cross_min']:.3f}-{p['cross_max']:.3f} "
                      f"size x{p['size_ratio']:.2f} spread {p['size_spread']} merged_any={p['merged_any']} "
                      f"merged_all={p['merged_all']}")  # fmt: skip
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "calibrate_claims.json").write_text(
        json.dumps({"elapsed_s": time.monotonic() - t0, "pairs": pairs}, indent=1)
    )


if __name__ == "__main__":
    main()
