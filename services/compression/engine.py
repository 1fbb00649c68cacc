"""Miner compression engines: the objective-driven CRF search (`SearchingEngine`) and the factory.

The lazy baseline lives in `fixed.py`; the shared outcome/protocol/temp-dir helpers in `common.py`.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Literal

from scoring.config import ScoringConfig
from scoring.media.probe import ProbeInfo

from .common import CompressionEngine, CompressionOutcome, Progress, TaskScope, check_task, publish
from .encoder import encode
from .errors import CompressionFailed
from .fixed import FixedCrfEngine
from .paid_plan import paid_plan
from .paid_search import Sample
from .policy import best_scoring_crf, crf_for_size, fallback_crf
from .probing import ClipMeasurer, Measured, VmafMeter, cut_reference, plan_samples
from .search import Probe, SearchResult, _slope, search_crf
from .settings import CompressionSettings

__all__ = ["CompressionEngine", "CompressionOutcome", "FixedCrfEngine", "SearchingEngine", "build_compression_engine"]


def _slope_of(probes: list[Probe], default: float) -> float:
    return _slope(sorted(probes), default)


def measurer_probes(measurer: ClipMeasurer) -> list[Probe]:
    return [Probe(m.crf, m.vmaf, m.size_bytes) for m in measurer.results.values()]


class SearchingEngine:
    """Highest CRF whose VMAF (validator's model, read conservatively) stays >= threshold + margin."""

    name = "search"

    def __init__(self, settings: CompressionSettings | None = None, scoring: ScoringConfig | None = None) -> None:
        self.settings = settings or CompressionSettings()
        self.scoring = scoring or ScoringConfig()

    def compress(
        self,
        input_path: Path,
        output_path: Path,
        *,
        codec: str,
        vmaf_threshold: float,
        deadline: float | None = None,
        progress: Progress | None = None,
    ) -> CompressionOutcome:
        input_path, output_path = Path(input_path), Path(output_path)
        info = check_task(input_path, codec, vmaf_threshold)
        task = TaskScope(self.settings, deadline, progress)
        try:
            return self._run(task, input_path, output_path, info, codec, vmaf_threshold)
        finally:
            task.close()

    # -- steps ---------------------------------------------------------------------------
    def _run(
        self, task: TaskScope, src: Path, dst: Path, info: ProbeInfo, codec: str, thr: float
    ) -> CompressionOutcome:
        s = self.settings
        lo, hi = s.crf_range(codec)
        target = thr + s.safety_margin
        slope_prior = s.slope_prior.get(codec, 1.0)
        ranges = plan_samples(
            info.frame_count, info.avg_fps,
            n_samples=s.n_samples, sample_seconds=s.sample_seconds, full_clip_fraction=s.full_clip_fraction,
        )  # fmt: skip
        if ranges is None:
            reference, scale = src, 1.0
            task.say(f"probing the whole clip ({info.frame_count} frames)")
        else:
            reference = task.dir / "samples_ref.mkv"
            sample_frames = sum(b - a + 1 for a, b in ranges)
            task.say(f"cutting {len(ranges)} probe samples ({sample_frames} of {info.frame_count} frames)")
            cut_reference(src, ranges, reference, deadline=task.deadline)
            scale = info.frame_count / sample_frames
        measurer = ClipMeasurer(
            reference, task.dir, codec, s, task.deadline, keep_files=ranges is None, size_scale=scale
        )

        def should_continue() -> bool:
            cost = measurer.last_cost()
            final_cost = 0.0 if ranges is None else cost * scale
            return not measurer.results or task.deadline.allows(1.2 * cost + final_cost + 1.0)

        if s.objective == "paid":
            crf, probes, fell_back, slope = self._search_paid(task, measurer, codec, thr, info, ranges is None)
            return self._answer(task, src, dst, info, codec, crf, measurer, thr, slope, probes, fell_back)
        task.say(f"searching {codec} CRF {lo}..{hi} for VMAF >= {target:.2f} (threshold {thr:g})")
        result = search_crf(
            measurer, target=target, lo=lo, hi=hi, start=s.tier_crf(codec, thr),
            max_probes=s.max_probes, slope_prior=slope_prior, should_continue=should_continue,
        )  # fmt: skip
        slope = result.slope(slope_prior)
        task.say(
            f"search stopped ({result.stop_reason}) after {len(result.probes)} probes: "
            + ", ".join(f"CRF {p.crf}={p.vmaf:.2f}" for p in result.probes)
        )
        fell_back = False
        if result.best is not None:
            crf = result.best.crf
            if s.prefer_score:
                passing = [
                    (m.crf, m.size_bytes, m.harmonic_mean)
                    for m in measurer.results.values()
                    if m.vmaf >= target and m.crf <= crf
                ]
                crf = best_scoring_crf(passing, input_size=info.size_bytes, threshold=thr, cfg=self.scoring)
        elif result.stop_reason == "never_passes":
            at_lo = measurer.results[lo]
            if ranges is None and at_lo.harmonic_mean < thr:
                raise CompressionFailed(
                    f"VMAF {thr:g} is out of reach for {codec}: even CRF {lo} gives {at_lo.harmonic_mean:.2f}"
                )
            crf = lo
        else:
            crf = fallback_crf(result, conservative=s.conservative_crf.get(codec, lo), lo=lo, slope=slope)
            fell_back = True
            task.say(f"no passing probe before {result.stop_reason}: falling back to CRF {crf}")

        return self._answer(task, src, dst, info, codec, crf, measurer, thr, slope, result.probes, fell_back)

    def _answer(
        self, task: TaskScope, src: Path, dst: Path, info: ProbeInfo, codec: str, crf: int, measurer: ClipMeasurer,
        thr: float, slope: float, probes: list[Probe], fell_back: bool,
    ) -> CompressionOutcome:  # fmt: skip
        lo, hi = self.settings.crf_range(codec)
        final = self._final(task, src, info, codec, crf, measurer, thr, slope, lo, hi)
        publish(final.path, dst)  # type: ignore[arg-type]
        verified = final.vmaf is not None
        return CompressionOutcome(
            engine=self.name, codec=codec, crf=final.crf, vmaf=final.vmaf, vmaf_harmonic_mean=final.hm,
            size_bytes=final.size, input_size_bytes=info.size_bytes, probes=probes,
            seconds=task.elapsed(), fell_back=fell_back or final.stepped, verified=verified,
        )  # fmt: skip

    def _search_paid(
        self, task: TaskScope, measurer: ClipMeasurer, codec: str, thr: float, info: ProbeInfo, whole_clip: bool
    ) -> tuple[int, list[Probe], bool, float]:
        """Objective search (what the miner is paid); returns (CRF, probes, fell back, VMAF slope)."""
        s = self.settings
        lo, hi = s.crf_range(codec)
        plan = paid_plan(s, self.scoring, codec, thr, info.size_bytes)
        task.say(
            f"searching {codec} CRF {lo}..{hi} for the best paid figure (threshold {thr:g}, "
            f"VMAF-penalty line {thr + self.scoring.vmaf_safety_margin:g}) from CRF {plan.start}"
        )

        measured_at = [time.monotonic()]

        def measure(crf: int) -> Sample:
            task.say(f"probe {len(measurer.results) + 1}/{plan.max_probes}: {codec} CRF {crf}")
            m = measurer.measure(crf)
            measured_at[0] = time.monotonic()
            return Sample(crf, m.per_frame, m.size_bytes)

        def should_continue() -> bool:
            # the budget adapts to this clip and machine: the costliest probe so far (encode + VMAF),
            # the planner's own last step, and (sampled probing) the final full-clip encode must fit
            cost = measurer.last_cost()
            planning = time.monotonic() - measured_at[0]
            final_cost = 0.0 if whole_clip else cost * measurer.size_scale
            return task.deadline.allows(1.2 * cost + planning + final_cost + 1.0)

        result = plan.run(measure, should_continue)
        probes = measurer_probes(measurer)
        order = [Probe(x.crf, measurer.results[x.crf].vmaf, x.size_bytes) for x in result.samples]
        slope = _slope_of(order, s.slope_prior.get(codec, 1.0))
        task.say(
            f"paid search stopped ({result.stop_reason}) after {len(order)} probes: "
            + ", ".join(f"CRF {c}={v:.3f}" for c, v in result.values.items())
        )
        if result.best is not None:
            return result.best.crf, order, False, slope
        low = min(probes, key=lambda p: p.crf)
        if result.stop_reason == "never_feasible" and low.crf <= lo:
            if whole_clip and measurer.results[lo].harmonic_mean < thr:
                raise CompressionFailed(
                    f"VMAF {thr:g} is out of reach for {codec}: even CRF {lo} gives "
                    f"{measurer.results[lo].harmonic_mean:.2f}"
                )
            return lo, order, False, slope
        fake = SearchResult(target=thr + s.safety_margin, best=None, lowest_failing=low, probes=order,
                            stop_reason=result.stop_reason)  # fmt: skip
        crf = fallback_crf(fake, conservative=s.conservative_crf.get(codec, lo), lo=lo, slope=slope)
        task.say(f"no feasible probe before {result.stop_reason}: falling back to CRF {crf}")
        return crf, order, True, slope

    def _final(
        self,
        task: TaskScope,
        src: Path,
        info: ProbeInfo,
        codec: str,
        crf: int,
        measurer: ClipMeasurer,
        thr: float,
        slope: float,
        lo: int,
        hi: int,
    ) -> _Final:
        """Encode (or reuse) and verify at `crf`; one step down if it misses; a step up if too big."""
        s = self.settings
        need = thr + min(s.verify_margin, s.safety_margin)
        cand = self._make(task, src, codec, crf, measurer, info)
        # the reading the search's constraint used: paid = all-frame mean (draw risk is in the
        # objective), single_round = the conservative quantile reading
        reading = cand.hm if s.objective == "paid" else cand.vmaf
        if reading is not None and reading < need and crf > lo:
            step = max(1, math.ceil((need - reading) / slope))
            retry_crf = max(lo, crf - step)
            task.say(f"final CRF {crf} misses ({reading:.2f} < {need:.2f}): re-encoding at CRF {retry_crf}")
            retry = self._make(task, src, codec, retry_crf, measurer, info)
            retry.stepped = True
            cand.discard()
            cand = retry
        if cand.hm is not None and cand.hm < thr:
            raise CompressionFailed(
                f"final {codec} file at CRF {cand.crf} scores VMAF {cand.hm:.2f} < threshold {thr:g}"
            )
        tries = 0
        while cand.size >= info.size_bytes:
            # no lower CRF can help: go up to the CRF the probes' size curve predicts, and accept it
            # if it still passes the threshold on every frame (the validator's strictest reading)
            tries += 1
            if tries > 2 or cand.crf >= hi:
                raise CompressionFailed(
                    f"{codec} output at CRF {cand.crf} ({cand.size} B) is not smaller than the input "
                    f"({info.size_bytes} B) at VMAF >= {thr:g}"
                )
            up = min(crf_for_size(measurer_probes(measurer), cand.crf, cand.size, 0.97 * info.size_bytes), hi)
            task.say(f"output ({cand.size} B) not smaller than the input ({info.size_bytes} B): trying CRF {up}")
            bigger = cand
            cand = self._make(task, src, codec, up, measurer, info)
            cand.stepped = True
            bigger.discard()
            if cand.hm is not None and cand.hm < thr:
                raise CompressionFailed(
                    f"cannot make the {codec} output smaller than the input at VMAF >= {thr:g} "
                    f"(CRF {up}: {cand.size} B, VMAF {cand.hm:.2f})"
                )
        return cand

    def _make(
        self, task: TaskScope, src: Path, codec: str, crf: int, measurer: ClipMeasurer, info: ProbeInfo
    ) -> _Final:
        """A final candidate at `crf`: the whole-clip probe if there is one, else encode (+ verify)."""
        s = self.settings
        probed: Measured | None = measurer.results.get(crf) if measurer.keep_files else None
        if probed is not None and probed.path is not None and probed.path.is_file():
            return _Final(crf, probed.path, probed.size_bytes, probed.vmaf, probed.harmonic_mean)
        out = task.dir / f"final_crf{crf}.mp4"
        task.say(f"final encode at {codec} CRF {crf}")
        enc_s = encode(
            src, out, codec, crf, preset=s.preset(codec), threads=s.threads, deadline=task.deadline,
            **s.encoder_options(codec),
        )
        size = out.stat().st_size
        vmaf = hm = None
        # the full-clip VMAF costs about what the probes' VMAF cost relative to their encodes
        ratio = max((m.vmaf_s / max(m.encode_s, 1e-3) for m in measurer.results.values()), default=1.0)
        if s.verify and task.deadline.allows(enc_s * ratio * 1.2 + 0.5):
            task.say(f"verifying CRF {crf} on all {info.frame_count} frames")
            vmaf, hm, _, _ = VmafMeter(s, task.deadline).score(src, out)
        elif s.verify:
            task.say("no time left to verify the final file: answering unverified")
        return _Final(crf, out, size, vmaf, hm)


class _Final:
    """A candidate output file with its (optional) verification."""

    def __init__(self, crf: int, path: Path, size: int, vmaf: float | None, hm: float | None) -> None:
        self.crf, self.path, self.size, self.vmaf, self.hm = crf, path, size, vmaf, hm
        self.stepped = False

    def discard(self) -> None:
        """Delete the file now (a large clip's candidates add up); the temp dir goes at the end anyway."""
        self.path.unlink(missing_ok=True)


def build_compression_engine(
    name: Literal["search", "fixed"] | str,
    settings: CompressionSettings | None = None,
    scoring: ScoringConfig | None = None,
) -> CompressionEngine:
    """The engine a miner runs: "search" (target-VMAF search) or "fixed" (lazy, one CRF per tier).

    `scoring` (the §6.3 weights) only tunes which passing CRF the search prefers.
    """
    settings = settings or CompressionSettings()
    if name == "search":
        return SearchingEngine(settings, scoring)
    if name == "fixed":
        return FixedCrfEngine(settings)
    raise ValueError(f"unknown compression engine {name!r} (known: search, fixed)")
