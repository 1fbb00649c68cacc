"""Calibrate the colour check (`scoring.chroma`) on honest encodes and on the two starvation attacks.

    python -m benchmarks.calibrate_chroma [--media ../shared/media] [--seconds 2] [--draws 40]

For every clip in the media folder (trimmed to `--seconds`, stream copy) it encodes the honest
answers the miner engine can produce: av1 (SVT-AV1), hevc (x265) and h264 at the engine's presets,
over a CRF grid spanning `CompressionSettings.crf_ranges`, plus av1/hevc at a slow and a fast
preset; and the honest upscaling answers (x2 lanczos and bicubic of the clip's half-size
version). Then the attacks of issue 19 at the same CRFs: x265 `cbqpoffs=12:crqpoffs=12`, x264
`chroma-qp-offset=12` and chroma blur + saturation x0.66 (`boxblur` on chroma, `hue=s=0.66`), and
chroma blur alone (`gblur` on the U and V planes, sigma 1, 2 and 4, before an honest encode).

`--synthesis-seeds N` adds the validator's own synthetic clips (`services/synthesis`), which real
tasks contain when no clip library is configured.

Every answer is also checked for signalled chroma QP starvation (`scoring.media.bitstream`: the
sample description's and the in-band PPS, as validation does): `qp_problem` in the rows.
With `--score`, every attack that passes and the honest encode of the same codec/CRF/preset are
scored with the real scoring path (`scoring.evaluate.evaluate_compression`, VMAF threshold 70,
colour checks off): `sf_gain` = what the attack earns over the honest encode.

Each answer gets VMAF-NEG on 5 seeded frames (the validator's draw) and the colour statistics
over `--draws` independent 5-frame draws (salt "chroma", like the validator): the worst draw
(highest luma gap, lowest saturation ratio, lowest chroma PSNR) is what the thresholds must
clear. Prints the table, the honest minimum margins to the configured thresholds, and every
attack's values; writes `benchmarks/out/calibrate_chroma.json`.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import statistics
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from scoring.chroma import chroma_failure, chroma_stats, detail_loss_db, frame_planes
from scoring.header_checks import CONFIG_CODECS
from scoring.media.bitstream import config_problem
from scoring.media.ffmpeg import run_ffmpeg
from scoring.media.frames import iter_frames
from scoring.media.mp4box import read_mp4_header
from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from scoring.metrics.vmaf import sample_frame_indices, vmaf_frames
from services.compression.encoder import encode_args
from services.compression.settings import CompressionSettings

OUT = Path("benchmarks/out")
CACHE = OUT / "cache" / "chroma"
DEFAULT_MEDIA = Path(__file__).resolve().parents[1].parent / "shared" / "media"
CRFS = {
    "av1": [10, 20, 30, 35, 40, 45, 50, 55, 63],
    "hevc": [10, 18, 22, 25, 28, 32, 36, 42, 51],
    "h264": [10, 18, 20, 23, 26, 30, 36, 42, 51],
}
EXTRA_PRESETS = {"av1": ["4", "12"], "hevc": ["slow", "ultrafast"]}
EXTRA_CRFS = {"av1": [30, 40], "hevc": [22, 28]}
ATTACK_CRFS = [18, 22, 25, 28, 32]
BLUR_CRFS = {"hevc": [22, 28], "h264": [23], "av1": [35]}
SYNTHETIC = ("testsrc2", "mandelbrot", "smptehdbars")
BLUR_SAT = "boxblur=luma_radius=0:luma_power=0:chroma_radius=2:chroma_power=1,hue=s=0.66"
CHROMA_BLUR = {f"gblur{s}": f"gblur=sigma={s}:planes=6" for s in (1, 2, 4)}  # U and V planes only


@dataclass
class Sums:
    """Per-frame squared errors and deviations, so thousands of draws cost nothing."""

    se: np.ndarray  # frames x 3 (Y, U, V)
    ref_dev: np.ndarray
    dist_dev: np.ndarray
    detail: (
        np.ndarray
    )  # frames x 4 (ref luma, ref chroma mean of U and V, same for dist) high-frequency energy
    n_luma: int
    n_chroma: int


def _planes(path: Path) -> Iterator[tuple[np.ndarray, ...]]:
    with closing(iter_frames(path)) as frames:
        for frame in frames:
            yield frame_planes(frame)


def _sums(ref: Path, dist: Path) -> tuple[Sums, list[tuple[np.ndarray, ...]], list[tuple[np.ndarray, ...]]]:
    se, rd, dd, det = [], [], [], []
    keep_r: list[tuple[np.ndarray, ...]] = []
    keep_d: list[tuple[np.ndarray, ...]] = []
    n_luma = n_chroma = 0
    for i, (r, d) in enumerate(zip(_planes(ref), _planes(dist), strict=False)):
        rf = [p.astype(np.float64) for p in r]
        df = [p.astype(np.float64) for p in d]
        se.append([float(np.sum((a - b) ** 2)) for a, b in zip(rf, df, strict=True)])
        rd.append(float(np.sum((rf[1] - 128) ** 2) + np.sum((rf[2] - 128) ** 2)))
        dd.append(float(np.sum((df[1] - 128) ** 2) + np.sum((df[2] - 128) ** 2)))
        n_luma, n_chroma = r[0].size, r[1].size
        det.append(
            [
                _detail(r[0]),
                (_detail(r[1]) + _detail(r[2])) / 2,
                _detail(d[0]),
                (_detail(d[1]) + _detail(d[2])) / 2,
            ]
        )
        if i < 5:
            keep_r.append(r)
            keep_d.append(d)
    return Sums(np.array(se), np.array(rd), np.array(dd), np.array(det), n_luma, n_chroma), keep_r, keep_d


def _detail(p: np.ndarray) -> float:
    q = p.astype(np.float64)
    return float(np.sum(np.diff(q, axis=0) ** 2) + np.sum(np.diff(q, axis=1) ** 2)) / p.size


def _psnr(mse: float) -> float:
    return 100.0 if mse <= 1e-12 else 10 * math.log10(255**2 / mse)


def _pooled(s: Sums, idx: list[int]) -> dict[str, float]:
    se = s.se[idx].sum(axis=0)
    k = len(idx)
    py, pu, pv = (
        _psnr(se[0] / (k * s.n_luma)),
        _psnr(se[1] / (k * s.n_chroma)),
        _psnr(se[2] / (k * s.n_chroma)),
    )
    ref_dev = s.ref_dev[idx].sum()
    det = s.detail[idx].sum(axis=0)
    sat = math.sqrt(s.dist_dev[idx].sum() / ref_dev) if ref_dev > 0 else 1.0
    return {
        "psnr_y": py,
        "psnr_c": min(pu, pv),
        "gap": py - min(pu, pv),
        "sat": sat,
        "ref_rms": math.sqrt(ref_dev / (2 * k * s.n_chroma)),
        "detail_db": 10 * math.log10(max(det[1], 1e-3) / max(det[0], 1e-3)),
        "loss": detail_loss_db(float(det[0]), float(det[1]), float(det[2]), float(det[3]), k),
    }


def measure(ref: Path, dist: Path, draws: int, cfg: MetricsConfig, tag: str) -> dict[str, Any]:
    s, keep_r, keep_d = _sums(ref, dist)
    n = len(s.se)
    # the pooled arithmetic above is scoring.chroma's: cross-check it on the first frames
    check = chroma_stats(keep_r, keep_d)
    mine = _pooled(s, list(range(len(keep_r))))
    assert abs(check.luma_gap - mine["gap"]) < 1e-6 and abs(check.saturation_ratio - mine["sat"]) < 1e-9  # type: ignore[operator]
    assert abs(check.detail_ratio_db - mine["detail_db"]) < 1e-6  # type: ignore[operator]
    assert (check.detail_loss_db is None) == (mine["loss"] is None)
    assert check.detail_loss_db is None or abs(check.detail_loss_db - mine["loss"]) < 1e-6
    pooled = [
        _pooled(s, sample_frame_indices(n, 5, secret="calibration", task_id=f"{tag}-{k}", salt="chroma"))
        for k in range(draws)
    ]
    vidx = sample_frame_indices(n, 5, secret="calibration", task_id=tag, salt="vmaf")
    vm = vmaf_frames(ref, dist, vidx, model="vmaf_v0.6.1neg", threads=2, window=cfg.vmaf_window)
    return {
        "frames": n,
        "vmaf_neg": vm.harmonic_mean,
        "bytes": dist.stat().st_size,
        "gap_max": max(p["gap"] for p in pooled),
        "loss_max": max((p["loss"] for p in pooled if p["loss"] is not None), default=None),
        "loss_min": min((p["loss"] for p in pooled if p["loss"] is not None), default=None),
        "gap_median": statistics.median(p["gap"] for p in pooled),
        "gap_min": min(p["gap"] for p in pooled),
        "sat_min": min(p["sat"] for p in pooled),
        "sat_max": max(p["sat"] for p in pooled),
        "psnr_c_max": max(p["psnr_c"] for p in pooled),
        "psnr_c_min": min(p["psnr_c"] for p in pooled),
        "psnr_y_median": statistics.median(p["psnr_y"] for p in pooled),
        "ref_rms_min": min(p["ref_rms"] for p in pooled),
        "draws": [
            (
                round(p["gap"], 4),
                round(p["detail_db"], 4),
                round(p["sat"], 4),
                round(p["psnr_c"], 3),
                None if p["loss"] is None else round(p["loss"], 4),
            )
            for p in pooled
        ],
    }


def qp_problem(path: Path) -> str | None:
    """The chroma-QP rule as validation applies it: sample description PPS, then in-band PPS."""
    header = read_mp4_header(path)
    track = header.video_tracks[0] if header is not None and header.video_tracks else None
    codec = CONFIG_CODECS.get(track.config_box) if track is not None else None
    why = config_problem(codec, track.config) if track is not None and codec is not None else None
    return why or probe(path).chroma_qp_problem or None


def score_sf(ref: Path, dist: Path, codec: str) -> float:
    """S_f with the real scoring path, colour checks off (what the answer earns if not refused)."""
    from scoring.config import ScoringConfig
    from scoring.evaluate import evaluate_compression

    cfg = MetricsConfig(vmaf_threads=2)
    off = cfg.model_copy(
        update={k: 0.0 for k in type(cfg).model_fields if k.startswith(("chroma_min_", "chroma_max_"))}
    )
    v = evaluate_compression(
        ref, dist, vmaf_threshold=70.0, codec=codec, task_id=f"cal-{dist.stem}", secret="calibration",
        scoring_cfg=ScoringConfig(), metrics_cfg=off,
    )  # fmt: skip
    return float(v.score)


def _honest_twin(work: Path, name: str, settings: CompressionSettings) -> tuple[str, Path]:
    codec, crf = name.split()[0], int(name.split()[1][3:])
    return codec, work / f"{codec}-{crf}-{settings.preset(codec)}.mp4"


def ffmpeg_to(*args: str) -> None:
    """Run ffmpeg writing to a temporary name; the last argument (the output) appears only when complete."""
    out = Path(args[-1])
    tmp = out.with_name(f".part-{out.name}")
    try:
        run_ffmpeg(["-loglevel", "error", *args[:-1], "-f", "mp4", str(tmp)], timeout_s=900)
        tmp.rename(out)
    finally:
        tmp.unlink(missing_ok=True)


def _encode(src: Path, out: Path, codec: str, crf: int, preset: str, extra: list[str] | None = None) -> Path:
    if not out.exists():
        args = encode_args(src, out, codec, crf, preset=preset, threads=2)
        args = args[:-3] + [str(out)]  # drop "-f mp4 <out>": _ffmpeg adds its own
        if extra:
            i = args.index("-vf") if "-vf" in extra else None
            if i is not None:  # replace the encoder's own filter chain
                args[i + 1] = extra[extra.index("-vf") + 1] + ",setsar=1"
            elif extra[0] == "-x264-params":
                args[-1:-1] = extra
            else:
                j = args.index("-x265-params")
                args[j + 1] = args[j + 1] + ":" + extra[1]
        ffmpeg_to(*args)
    return out


def answers(clip: Path, work: Path, settings: CompressionSettings) -> Iterator[tuple[str, str, Path, Path]]:
    """(kind, name, reference, answer) for one trimmed clip."""
    ref = clip
    for codec, crfs in CRFS.items():
        for crf in crfs:
            preset = settings.preset(codec)
            yield (
                "honest",
                f"{codec} crf{crf} p{preset}",
                ref,
                _encode(ref, work / f"{codec}-{crf}-{preset}.mp4", codec, crf, preset),
            )
    for codec, presets in EXTRA_PRESETS.items():
        for preset in presets:
            for crf in EXTRA_CRFS[codec]:
                yield (
                    "honest",
                    f"{codec} crf{crf} p{preset}",
                    ref,
                    _encode(ref, work / f"{codec}-{crf}-{preset}.mp4", codec, crf, preset),
                )
    info = probe(ref)
    half = work / "half.mp4"
    if not half.exists():
        ffmpeg_to("-i", str(ref), "-vf", f"scale={info.width // 4 * 2}:{info.height // 4 * 2}:flags=area",
                "-c:v", "libx264", "-crf", "16", "-pix_fmt", "yuv420p", str(half))  # fmt: skip
    for flt in ("lanczos", "bicubic"):
        up = work / f"up-{flt}.mp4"
        if not up.exists():
            ffmpeg_to("-i", str(half), "-vf", f"scale={info.width}:{info.height}:flags={flt},setsar=1",
                    "-c:v", "libx265", "-crf", "18", "-x265-params", "log-level=error", "-pix_fmt", "yuv420p",
                    "-tag:v", "hvc1", str(up))  # fmt: skip
        yield "honest", f"upscale x2 {flt}", ref, up
    for crf in ATTACK_CRFS:
        yield (
            "attack",
            f"hevc crf{crf} cbqpoffs=12",
            ref,
            _encode(
                ref,
                work / f"atk-cbq-{crf}.mp4",
                "hevc",
                crf,
                "medium",
                ["-x265-params", "cbqpoffs=12:crqpoffs=12"],
            ),
        )
        yield (
            "attack",
            f"hevc crf{crf} blur+sat0.66",
            ref,
            _encode(ref, work / f"atk-blur-{crf}.mp4", "hevc", crf, "medium", ["-vf", BLUR_SAT]),
        )
        yield (
            "attack",
            f"h264 crf{crf} chroma-qp-offset=12",
            ref,
            _encode(
                ref,
                work / f"atk-cqp-{crf}.mp4",
                "h264",
                crf,
                "medium",
                ["-x264-params", "chroma-qp-offset=12"],
            ),
        )
    for codec, crfs in BLUR_CRFS.items():
        for crf in crfs:
            preset = settings.preset(codec)
            for name, flt in CHROMA_BLUR.items():
                yield (
                    "attack",
                    f"{codec} crf{crf} {name}",
                    ref,
                    _encode(
                        ref, work / f"atk-{name}-{codec}-{crf}-{preset}.mp4", codec, crf, preset, ["-vf", flt]
                    ),
                )


def _synthetic(pattern: str) -> Path:
    """A generated 320x180 clip (the tests' kind of content: testsrc2 has far more colour detail than footage)."""
    out = CACHE / f"synthetic-{pattern}.mp4"
    if not out.exists():
        ffmpeg_to("-f", "lavfi", "-i", f"{pattern}=size=320x180:rate=24", "-frames:v", "96", "-c:v", "libx264",
                "-crf", "12", "-pix_fmt", "yuv420p", str(out))  # fmt: skip
    return out


def _validator_clip(seed: int, seconds: float) -> Path:
    """A clip of the validator's own synthetic generator (what real tasks contain when no library is set):
    honest SVT-AV1 encodes of some seeds reach an 11 dB luma gap (the reason for the 14 dB backstop)."""
    from services.synthesis.sources import SyntheticSource
    from services.synthesis.spec import ClipSpec

    out = CACHE / f"validator-synth-{seed}.mp4"
    if not out.exists():
        SyntheticSource().produce(ClipSpec(320, 180, 24, max(seconds, 1.0), seed), out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--media", type=Path, default=DEFAULT_MEDIA, help="folder of real clips (*.mp4)")
    ap.add_argument("--seconds", type=float, default=2.0, help="each clip is trimmed to this length")
    ap.add_argument("--draws", type=int, default=40, help="5-frame draws per answer (worst one counts)")
    ap.add_argument(
        "--clips", default="*", help="only the clips whose name matches this glob (real and synthetic)"
    )
    ap.add_argument(
        "--out", type=Path, default=OUT / "calibrate_chroma.json", help="rows are added to this file"
    )
    ap.add_argument("--synthesis-seeds", type=int, default=0,
                    help="also the validator's own synthetic clips (services/synthesis, 320x180), seeds 0..N-1")  # fmt: skip
    ap.add_argument("--score", action="store_true", help="S_f gain of every attack not refused (slower)")
    args = ap.parse_args()
    cfg = MetricsConfig()
    settings = CompressionSettings()
    CACHE.mkdir(parents=True, exist_ok=True)
    clips = sorted(args.media.glob("*.mp4")) + [CACHE / f"synthetic-{p}.mp4" for p in SYNTHETIC]
    clips = [c for c in clips if fnmatch.fnmatch(c.stem, args.clips)]
    clips = [_synthetic(c.stem.split("-", 1)[1]) if c.stem.startswith("synthetic-") else c for c in clips]
    seeds = [k for k in range(args.synthesis_seeds) if fnmatch.fnmatch(f"validator-synth-{k}", args.clips)]
    clips += [_validator_clip(seed, args.seconds) for seed in seeds]
    rows: list[dict[str, Any]] = json.loads(args.out.read_text())["rows"] if args.out.exists() else []
    rows = [r for r in rows if r["draws"] and len(r["draws"][0]) == 5]  # older rows lack the detail loss
    done = {(r["clip"], r["answer"], r.get("seconds")) for r in rows}
    con = Console()
    t0 = time.monotonic()
    for clip in clips:
        work = CACHE / f"{clip.stem}-{args.seconds:g}s"
        work.mkdir(parents=True, exist_ok=True)
        ref = work / "ref.mp4"
        if not ref.exists():
            ffmpeg_to("-i", str(clip), "-t", f"{args.seconds}", "-map", "0:v:0", "-c", "copy", str(ref))
        for kind, name, r, d in answers(ref, work, settings):
            if (clip.stem, name, args.seconds) in done:
                continue
            m = measure(r, d, args.draws, cfg, f"{clip.stem}/{name}")
            m["qp_problem"] = qp_problem(d)
            why = m["qp_problem"] or chroma_failure_worst(m, cfg, attacker_best=kind == "attack")
            if args.score and kind == "attack" and not why:  # what the attack earns over the honest encode
                codec, twin = _honest_twin(work, name, settings)
                if not twin.exists():
                    _encode(r, twin, codec, int(name.split()[1][3:]), settings.preset(codec))
                m["sf_gain"] = score_sf(r, d, codec) - score_sf(r, twin, codec)
            rows.append(
                {
                    "clip": clip.stem,
                    "seconds": args.seconds,
                    "kind": kind,
                    "answer": name,
                    **m,
                    "refused": why,
                }
            )
            _save(args.out, args, rows, t0)
            con.log(f"{clip.stem:20s} {kind:6s} {name:28s} vmaf {m['vmaf_neg']:6.2f} gap {m['gap_max']:5.2f} "
                    f"sat {m['sat_min']:.3f} psnr_c {m['psnr_c_min']:5.2f} {'REFUSED ' + why if why else ''}")  # fmt: skip
    for r in rows:  # re-apply the configured rule to rows measured earlier
        r["refused"] = r.get("qp_problem") or chroma_failure_worst(
            r, cfg, attacker_best=r["kind"] == "attack"
        )
    report(rows, cfg, con)
    _save(args.out, args, rows, t0)


def _save(out: Path, args: argparse.Namespace, rows: list[dict[str, Any]], t0: float) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    data = {"draws": args.draws, "elapsed_s": time.monotonic() - t0, "rows": rows}
    tmp = out.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1))
    tmp.replace(out)


def _draw_why(d: tuple[float, ...], m: dict[str, Any], cfg: MetricsConfig,
              slope: float | None = None, offset: float | None = None) -> str | None:  # fmt: skip
    from scoring.chroma import ChromaStats

    gap, detail, sat, psnr_c, loss = d
    stats = ChromaStats(sat, psnr_c, psnr_c, m["ref_rms_min"], 5, psnr_c + gap, detail, loss)
    return chroma_failure(
        stats,
        min_saturation_ratio=cfg.chroma_min_saturation_ratio,
        min_psnr_db=cfg.chroma_min_psnr_db,
        min_reference_rms=cfg.chroma_min_reference_rms,
        max_luma_gap_db=cfg.chroma_max_luma_gap_db if offset is None else offset,
        detail_slope=cfg.chroma_gap_detail_slope if slope is None else slope,
        max_detail_loss_db=cfg.chroma_max_detail_loss_db,
        detail_loss_gap_slope=cfg.chroma_detail_loss_gap_slope,
    )


def chroma_failure_worst(m: dict[str, Any], cfg: MetricsConfig, *, attacker_best: bool) -> str | None:
    """The configured rule over the answer's draws: an honest answer counts as refused when any draw
    refuses it (a false refusal), an attack only when every draw does (it cannot be lucky)."""
    whys = [_draw_why(d, m, cfg) for d in m["draws"]]
    if attacker_best:
        return None if any(w is None for w in whys) else whys[0]
    return next((w for w in whys if w), None)


def report(rows: list[dict[str, Any]], cfg: MetricsConfig, con: Console) -> None:
    honest = [r for r in rows if r["kind"] == "honest"]
    attacks = [r for r in rows if r["kind"] == "attack"]
    t = Table(title="honest answers: worst draw over all clips, by codec")
    for col in ("answers", "gap max", "sat min", "chroma PSNR min", "refused"):
        t.add_column(col)
    groups: dict[str, list[dict[str, Any]]] = {}
    for r in honest:
        groups.setdefault(r["answer"].split(" crf")[0].split(" x2")[0], []).append(r)
    for g, rs in sorted(groups.items()):
        t.add_row(f"{g} ({len(rs)})", f"{max(r['gap_max'] for r in rs):.2f}", f"{min(r['sat_min'] for r in rs):.3f}",
                  f"{min(r['psnr_c_min'] for r in rs):.2f}", str(sum(1 for r in rs if r["refused"])))  # fmt: skip
    con.print(t)
    con.print(
        f"honest: {len(honest)} answers, {sum(1 for r in honest if r['refused'])} refused; "
        f"luma-gap margin {cfg.chroma_max_luma_gap_db - max(r['gap_max'] for r in honest):.2f} dB "
        f"(worst {max(r['gap_max'] for r in honest):.2f} vs limit {cfg.chroma_max_luma_gap_db:g}), "
        f"saturation margin {min(r['sat_min'] for r in honest) - cfg.chroma_min_saturation_ratio:.3f} "
        f"(worst {min(r['sat_min'] for r in honest):.3f} vs floor {cfg.chroma_min_saturation_ratio:g})"
    )
    losses = [r["loss_max"] for r in honest if r.get("loss_max") is not None]
    if losses:
        con.print(
            f"honest chroma detail loss: worst draw {max(losses):.2f} dB vs limit {cfg.chroma_max_detail_loss_db:g} "
            f"(margin {cfg.chroma_max_detail_loss_db - max(losses):.2f}); {len(losses)} answers judged"
        )
    ta = Table(title="attacks (median draw gap / worst-case sat)")
    for col in ("clip", "attack", "vmaf", "bytes vs honest", "gap min", "sat max", "refused (every draw)"):
        ta.add_column(col)
    by_key = {(r["clip"], r["answer"]): r for r in honest}
    for r in attacks:
        crf = r["answer"].split()[1]
        h = by_key.get((r["clip"], f"hevc {crf} pmedium"))
        rel = f"{r['bytes'] / h['bytes'] - 1:+.1%}" if h else "-"
        ta.add_row(r["clip"], r["answer"], f"{r['vmaf_neg']:.2f}", rel, f"{r['gap_min']:.2f}",
                   f"{r['sat_max']:.3f}", "yes" if r["refused"] else "NO")  # fmt: skip
    con.print(ta)
    con.print(f"attacks: {len(attacks)} answers, {sum(1 for r in attacks if r['refused'])} refused")
    tk = Table(
        title="attacks by kind: refused (chroma_qp_offset / colour check), S_f gain of those not refused"
    )
    for col in (
        "attack",
        "refused",
        "by qp rule",
        "detail loss min",
        "gain median (not refused)",
        "gain max (not refused)",
    ):
        tk.add_column(col)
    kinds: dict[str, list[dict[str, Any]]] = {}
    for r in attacks:
        kinds.setdefault(f"{r['answer'].split()[0]} {' '.join(r['answer'].split()[2:])}", []).append(r)
    for k, rs in sorted(kinds.items()):
        gains = [r["sf_gain"] for r in rs if not r["refused"] and "sf_gain" in r]
        lo = [r["loss_min"] for r in rs if r.get("loss_min") is not None]
        tk.add_row(k, f"{sum(1 for r in rs if r['refused'])}/{len(rs)}", str(sum(1 for r in rs if r.get("qp_problem"))),
                   f"{min(lo):.2f}" if lo else "-",
                   f"{statistics.median(gains):+.3f}" if gains else "-", f"{max(gains):+.3f}" if gains else "-")  # fmt: skip
    con.print(tk)
    # the detail slope: honest worst residual vs attack best residual (gap - slope * detail_db)
    tg = Table(title="luma gap minus slope x colour detail (dB): honest worst draw vs attacks' best draw")
    for col in ("slope", "honest max", "cbqpoffs min", "blur+sat min", "separation"):
        tg.add_column(col)
    for slope in (0.0, 0.2, 0.3, 0.35, 0.4, 0.45, 0.5):

        def resid(rs: list[dict[str, Any]], best: bool, sl: float = slope) -> float:
            vals = [g - sl * dd for r in rs for (g, dd, _s, _p, _l) in r["draws"]] if not best else [
                min(g - sl * dd for (g, dd, _s, _p, _l) in r["draws"]) for r in rs]  # fmt: skip
            return max(vals) if not best else min(vals)

        h = resid(honest, False)
        cb = resid([r for r in attacks if "cbq" in r["answer"] and r["vmaf_neg"] >= 50], True)
        bl = resid([r for r in attacks if "blur+sat" in r["answer"] and r["vmaf_neg"] >= 50], True)
        tg.add_row(f"{slope:g}", f"{h:.2f}", f"{cb:.2f}", f"{bl:.2f}", f"{min(cb, bl) - h:.2f}")
    con.print(tg)


if __name__ == "__main__":
    main()
