"""Validation orchestration: check one answer and decode it (and its reference) exactly once (issue 19).

`check_answer` runs output validation (`scoring.validation`) with a frame plan: the seeded frame
numbers every metric will need (the VMAF windows, the colour check's frames, PIE-APP's frames) are
drawn as soon as the probe knows the clip length, kept by validation's one decode pass of the
answer, and decoded from the reference in one partial pass that stops at the last of them. The
metric step (`scoring.answer_metrics`) then works on those frames only: nothing is decoded twice.

Frame numbers are drawn over n = min(reference frames, answer frames) exactly as before (salts
"vmaf", "chroma", "pieapp"); when the answer's decoded count turns out to differ from its packet
count (n changes, so would the draw) the answer is decoded a second time with the corrected plan,
so verdicts never depend on the shortcut. The reference's frames are kept for the next answer to
the same task (`_ReferenceCache`), and come from the task's prepared frames when the validator
decoded them at task creation (`prepare_reference`, `scoring.media.prepared`): each task id draws
its own frames, all known before any answer arrives, so a round decodes each reference once, and
off the answers' clock.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path

from scoring.budget import Budget
from scoring.integrity import colour_enabled
from scoring.media.decode import DecodeResult, SampledFrames, decode_pass
from scoring.media.frames import DecodeError
from scoring.media.prepared import PreparedFrames, frame_bytes, load_frames, prepare_frames
from scoring.media.probe import ProbeError, ProbeInfo, probe
from scoring.metrics.config import MetricsConfig
from scoring.metrics.vmaf import sample_frame_indices, window_frames
from scoring.validation import (
    DECODER_DELAY_PACKETS,
    ExpectedOutput,
    FramePlan,
    ValidationResult,
    validate_output,
)
from scoring.verdicts import BadReferenceError


@dataclass(frozen=True)
class Draw:
    """The seeded frame numbers of one answer's metrics over `n_frames` frames."""

    n_frames: int
    vmaf: list[int]
    windows: list[int]
    chroma: list[int]
    pieapp: list[int]

    def plan(self, rgb_colorspace: int | None) -> FramePlan:
        return FramePlan(
            frozenset(self.windows) | frozenset(self.chroma), frozenset(self.pieapp), rgb_colorspace
        )


def draw(
    n_frames: int, *, secret: str, task_id: str, vmaf_samples: int, pieapp_frames: int, cfg: MetricsConfig
) -> Draw:
    def pick(n: int, salt: str) -> list[int]:
        return sample_frame_indices(n_frames, n, secret=secret, task_id=task_id, salt=salt) if n > 0 else []

    vmaf = pick(vmaf_samples, "vmaf")
    chroma_on = colour_enabled(cfg)  # any colour rule on: its frames are kept by the decode pass
    return Draw(
        n_frames,
        vmaf,
        window_frames(vmaf, n_frames, cfg.vmaf_window),
        pick(vmaf_samples, "chroma") if chroma_on else [],
        pick(pieapp_frames, "pieapp"),
    )


@dataclass
class CheckedAnswer:
    """A validated answer with the frames its metrics need (`ok` False: `validation` says why)."""

    validation: ValidationResult
    reference_path: Path
    answer_path: Path
    draw: Draw | None = None
    reference: SampledFrames | None = None
    answer: SampledFrames | None = None

    @property
    def ok(self) -> bool:
        return self.validation.ok


_PROBED: dict[tuple[str, int, int], ProbeInfo] = {}
_PROBED_KEPT = 8
_PROBED_LOCK = threading.Lock()


def probe_reference(path: str | Path, what: str) -> ProbeInfo:
    """The validator's own clip, probed once per worker and file (every answer to a task probes it;
    keyed by the file's identity, so a changed file is probed again)."""
    try:
        st = os.stat(path)
        key = (os.path.realpath(path), st.st_mtime_ns, st.st_size)
        with _PROBED_LOCK:
            known = _PROBED.get(key)
        if known is not None:
            return known
        info = probe(path)
    except (ProbeError, OSError) as exc:
        raise BadReferenceError(f"{what} cannot be used: {exc}") from exc
    with _PROBED_LOCK:
        while len(_PROBED) >= _PROBED_KEPT:
            _PROBED.pop(next(iter(_PROBED)))
        _PROBED[key] = info
    return info


def _decoded(result: DecodeResult, what: str, wanted: Collection[int]) -> SampledFrames:
    missing = set(wanted) - set(result.sampled.yuv)
    if result.error or missing:
        why = result.error or f"frames {sorted(missing)[:5]} are past its {result.frames} frames"
        raise DecodeError(f"{what}: {why}")
    return result.sampled


class _ReferenceCache:
    """The last reference's decoded frames: every answer to a task draws the same frames (same seed,
    same clip length), so a round decodes its reference once, not once per answer. One entry per
    worker process (at most ~250 MB for 4K), keyed by the file's identity and the frames asked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._frames: SampledFrames | None = None

    def get(self, path: str, plan: FramePlan, budget: Budget) -> SampledFrames:
        st = os.stat(path)
        key = (os.path.realpath(path), st.st_mtime_ns, st.st_size, plan.yuv, plan.rgb)
        with self._lock:
            if key == self._key and self._frames is not None:
                return self._frames
        frames = load_frames(path, plan.yuv, plan.rgb)
        if frames is None:  # not prepared, or not these frames (an answer with fewer frames draws others)
            got = decode_pass(path, keep_yuv=plan.yuv, keep_rgb=plan.rgb, stop_when_kept=True, budget=budget)
            frames = _decoded(got, "reference", plan.yuv)
        with self._lock:
            self._key, self._frames = key, frames
        return frames

    def clear(self) -> None:
        with self._lock:
            self._key, self._frames = None, None


_REFERENCES = _ReferenceCache()


def reference_plan(
    reference: ProbeInfo,
    task_id: str,
    *,
    secret: str,
    vmaf_samples: int,
    pieapp_frames: int,
    cfg: MetricsConfig,
) -> FramePlan:
    """The reference frames an honest answer to `task_id` will need (its frame count is the reference's)."""
    d = draw(
        max(1, reference.frame_count), secret=secret, task_id=task_id, vmaf_samples=vmaf_samples,
        pieapp_frames=pieapp_frames, cfg=cfg,
    )  # fmt: skip
    return d.plan(None)


def prepare_reference(
    reference: ProbeInfo,
    task_ids: Iterable[str],
    *,
    secret: str,
    vmaf_samples: int,
    pieapp_frames: int,
    cfg: MetricsConfig,
    max_bytes: int,
) -> PreparedFrames | None:
    """Decode, once, the reference frames of every task in `task_ids` (the tasks on one clip) and write
    them next to the reference for every scoring worker; tasks are added in order while the frames
    fit in `max_bytes` (later ones decode the reference themselves). None when nothing fits."""
    yb, rb = frame_bytes(reference.width, reference.height)
    yuv: set[int] = set()
    rgb: set[int] = set()
    for tid in task_ids:
        p = reference_plan(
            reference, tid, secret=secret, vmaf_samples=vmaf_samples, pieapp_frames=pieapp_frames, cfg=cfg
        )
        y2, r2 = yuv | p.yuv, rgb | p.rgb
        if len(y2) * yb + len(r2) * rb > max_bytes:
            break
        yuv, rgb = y2, r2
    if not yuv and not rgb:
        return None
    return prepare_frames(reference.path, yuv, rgb)


def check_answer(
    distorted: Path,
    expected: ExpectedOutput,
    *,
    reference: ProbeInfo,
    secret: str,
    task_id: str,
    vmaf_samples: int,
    pieapp_frames: int,
    cfg: MetricsConfig,
    budget: Budget,
    seen_sha256: Collection[str] = (),
    url: str | None = None,
    seen_urls: Collection[str] = (),
) -> CheckedAnswer:
    """Validate `distorted` and decode what the metrics need from it and from the reference, once each.

    Raises `BudgetExceeded` past the answer's budget and `DecodeError` when the reference (the
    caller's own file) cannot give the frames."""
    ref_cs = reference.colorspace if reference.colorspace != 2 else None

    def pick(n: int) -> Draw:
        return draw(
            n, secret=secret, task_id=task_id, vmaf_samples=vmaf_samples, pieapp_frames=pieapp_frames, cfg=cfg
        )

    planned: dict[str, Draw] = {}

    def plan(info: ProbeInfo) -> FramePlan:
        planned["draw"] = pick(max(1, min(reference.frame_count, info.frame_count)))
        return planned["draw"].plan(ref_cs)

    result = validate_output(
        distorted,
        expected,
        reference=reference,
        seen_sha256=seen_sha256,
        url=url,
        seen_urls=seen_urls,
        plan=plan,
        budget=budget,
    )
    if not result.ok:
        return CheckedAnswer(result, Path(reference.path), distorted)
    n_frames = min(reference.frame_count, result.decoded_frames or reference.frame_count)
    d = planned.get("draw")
    answer = result.sampled
    if d is None or d.n_frames != n_frames or answer is None:  # the packet count was not the frame count
        d = pick(n_frames)
        p = d.plan(ref_cs)
        cap = expected.frame_count + expected.frame_tolerance + 1
        again = decode_pass(
            distorted, keep_yuv=p.yuv, keep_rgb=p.rgb, rgb_colorspace=ref_cs, budget=budget,
            max_frames=cap, max_packets=cap + DECODER_DELAY_PACKETS, stop_when_kept=True,
        )  # fmt: skip
        answer = _decoded(again, "answer", p.yuv)
    p = d.plan(None)
    ref_frames = _REFERENCES.get(reference.path, p, budget)
    return CheckedAnswer(result, Path(reference.path), distorted, d, ref_frames, answer)
