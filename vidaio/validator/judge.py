"""From a miner's answer to a `RoundResult`: fetch, duplicate checks, validation + metrics, formulas.

Every answer becomes a result, failures included (status + reason, score 0), so the rolling window
sees timeouts, refusals and invalid outputs. Order of checks for an answered URL:

1. the same URL was already answered for this clip by another miner -> `duplicate_submission`;
2. a presigned URL that has already expired -> `fetch_failed` / `url_expired`;
3. the safe fetcher under the task kind's byte cap (docs/scoring.md#output-validation; compression: < original
   size; upscaling: 8x/20x the input) -> `fetch_failed` with the fetcher's reason, or `invalid` / `oversized`;
4. the same bytes (sha256) as an output that *arrived earlier* for this clip -> `duplicate_submission`
   (first come keeps the credit; arrival order, not download order, decides);
5. `scoring.evaluate` in the scoring pool: validation (incl. `same_as_reference`), VMAF, PIE-APP and
   the formulas -> `ok` (score may be 0 below a threshold), `invalid` or `metric_error`;
6. one claim per solution (`scoring.claims`): a scored answer is fingerprinted on frames drawn for
   the whole clip; when it is the same solution as an answer to the same task that *arrived earlier*
   (identical decoded frames, or closer to it than to the reference) -> `duplicate_submission`
   naming that uid. It waits for every earlier arrival's fingerprint, so arrival order decides.

What differs between compression and upscaling (byte cap, recorded parameters, scoring job, verdict
fields, claim key) is the task kind's (`vidaio.validator.kinds`); the judge is the same for both.
A failed dispatch is named by `answer_failure` (status + bounded reason).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import time
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from loguru import logger

from scoring.claims import ClaimPrint, ReferenceCrops, answer_print, reference_crops, same_solution
from scoring.evaluate import BadReferenceError
from scoring.media.ffmpeg import FfmpegError
from scoring.media.frames import DecodeError
from scoring.metrics.config import MetricsConfig
from scoring.metrics.vmaf import sample_frame_indices
from scoring.validation import Reason
from vidaio.db.types import OK_STATUS, RoundResult
from vidaio.executor.base import ScoringExecutor
from vidaio.fetch import FetchConfig, FetchError, fetch, redact
from vidaio.protocol import TaskResult
from vidaio.storage.s3 import presigned_expiry
from vidaio.transport.client import DispatchResult
from vidaio.validator.dispatch import MAX_REASON, Answer, Assignment
from vidaio.validator.kinds import Verdict

DUPLICATE = Reason.DUPLICATE_SUBMISSION.value


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 1] + "…"


def answer_failure(result: DispatchResult) -> tuple[str, str] | None:
    """(status, reason) of a failed dispatch, or None when the miner answered a result URL."""
    if result.ok and isinstance(result.result, TaskResult):
        return None
    if result.kind == "timeout":
        return "timeout", _short(f"timeout: {result.reason or 'no answer before the deadline'}")
    if result.kind == "refused" and result.status_code == 504:  # the miner's server gave up at the deadline
        return "timeout", _short(f"timeout: HTTP 504: {result.reason or 'deadline exceeded'}")
    if result.kind == "refused":
        return "refused", _short(f"HTTP {result.status_code}: {result.reason or 'no reason given'}")
    if result.kind == "invalid":
        return "bad_response", _short(f"bad_response: {result.reason}")
    if result.status_code == 200:  # a TaskError: the miner says it could not do the task
        return "miner_error", _short(f"miner_error: {result.reason}")
    return "unreachable", _short(f"unreachable: {result.reason}")


class NotScored(Exception):
    """The validator itself could not score this answer (its own clip is unusable): nothing is recorded."""


@dataclass
class Claim:
    """One arrival's solution fingerprint: resolved with the print, or None when it has none."""

    uid: int
    task_key: str
    print: asyncio.Future[ClaimPrint | None]


@dataclass
class Ledger:
    """What was submitted for one clip, in arrival order (URL -> uid, sha256 -> uid, fingerprints)."""

    urls: dict[str, int] = field(default_factory=dict)
    shas: dict[str, int] = field(default_factory=dict)
    claims: list[Claim] = field(default_factory=list)
    references: dict[str, asyncio.Future[ReferenceCrops | None]] = field(default_factory=dict)
    _last: asyncio.Future[None] | None = None

    def slot(self) -> tuple[asyncio.Future[None] | None, asyncio.Future[None]]:
        """(previous arrival's future, this arrival's); call synchronously when the answer arrives."""
        prev, mine = self._last, asyncio.get_running_loop().create_future()
        self._last = mine
        return prev, mine

    def claim(self, uid: int, task_key: str) -> tuple[list[Claim], Claim]:
        """(earlier arrivals' claims, this arrival's); call synchronously when the answer arrives."""
        earlier = list(self.claims)
        mine = Claim(uid, task_key, asyncio.get_running_loop().create_future())
        self.claims.append(mine)
        return earlier, mine


def _release(prev: asyncio.Future[None] | None, mine: asyncio.Future[None]) -> None:
    """Resolve `mine` once every earlier arrival has registered (keeps the arrival order)."""
    if mine.done():
        return
    if prev is None or prev.done():
        mine.set_result(None)
    else:
        prev.add_done_callback(lambda _f: None if mine.done() else mine.set_result(None))


@dataclass
class Judged:
    """A scored answer and where the time went (seconds)."""

    result: RoundResult
    timings: dict[str, float] = field(default_factory=dict)
    random_weights: bool = False


class Judge:
    """Turns answers into results; shared by every clip of a round (bounded downloads)."""

    def __init__(
        self,
        *,
        pool: ScoringExecutor,
        fetch_cfg: FetchConfig,
        metrics: MetricsConfig,
        work_dir: Path,
        upscaling_vmaf_threshold: float,
        fetch_concurrency: int = 16,
    ) -> None:
        self.pool = pool
        self.fetch_cfg = fetch_cfg
        self.metrics = metrics
        self.work_dir = Path(work_dir)
        self.upscaling_vmaf_threshold = upscaling_vmaf_threshold
        self._fetch_sem = asyncio.Semaphore(fetch_concurrency)

    def byte_cap(self, answer: Answer) -> int:
        """Download cap (docs/scoring.md#output-validation), the task kind's."""
        a = answer.assignment
        return a.kind.byte_cap(a, self.metrics)

    def _base(self, answer: Answer, round_id: str) -> dict[str, Any]:
        a = answer.assignment
        params, threshold, length = a.kind.recorded(a, upscaling_gate=self.upscaling_vmaf_threshold)
        return {
            "round_id": round_id,
            "task_id": a.task_id,
            "uid": a.miner.uid,
            "hotkey": a.miner.hotkey,
            "task_type": a.task_type.value,
            "params": params,
            "vmaf_threshold": min(threshold, 99.999),
            "content_length": length,
            "processing_time_s": answer.result.elapsed_s,
        }

    @staticmethod
    def _failed(base: dict[str, Any], status: str, reason: str) -> RoundResult:
        return RoundResult(**base, status=status, reason=reason, score=0.0)

    async def judge(self, answer: Answer, ledger: Ledger, round_id: str) -> Judged:
        """Score one answer. Call it as soon as the answer arrives: its ledger slot is taken at once."""
        prev, mine = ledger.slot()
        earlier, claim = ledger.claim(answer.assignment.miner.uid, answer.assignment.kind.claim_key(answer.assignment))
        started = time.monotonic()
        timings: dict[str, float] = {}
        base = self._base(answer, round_id)
        dest: Path | None = None
        try:
            failure = answer_failure(answer.result)
            if failure is not None:
                return Judged(self._failed(base, *failure), timings)
            out = answer.output
            assert out is not None
            uid = answer.assignment.miner.uid
            first = ledger.urls.setdefault(out.output_url, uid)
            if first != uid:
                reason = f"{DUPLICATE}: this URL was already submitted for this task by uid {first}"
                return Judged(self._failed(base, "invalid", reason), timings)
            base["params"]["output_url"] = redact(out.output_url)
            expiry = presigned_expiry(out.output_url)
            if expiry is not None and expiry <= datetime.now(UTC):
                reason = f"url_expired: the presigned URL expired at {expiry.isoformat()}"
                return Judged(self._failed(base, "fetch_failed", reason), timings)
            dest = self.work_dir / round_id / f"{answer.assignment.task_id}.mp4"
            try:
                waited = time.monotonic()
                async with self._fetch_sem:
                    t0 = time.monotonic()
                    timings["download_wait_s"] = t0 - waited
                    try:
                        fetched = await fetch(
                            out.output_url, dest, max_bytes=self.byte_cap(answer), cfg=self.fetch_cfg
                        )
                    finally:
                        timings["download_s"] = time.monotonic() - t0
            except FetchError as exc:
                if exc.reason == "too_large":
                    return Judged(self._failed(base, "invalid", f"{Reason.OVERSIZED.value}: {exc.detail}"), timings)
                return Judged(self._failed(base, "fetch_failed", f"{exc.reason}: {exc.detail}"[:500]), timings)
            base["params"]["output_sha256"] = fetched.sha256
            base["params"]["output_bytes"] = fetched.size
            if prev is not None:
                await prev
            first = ledger.shas.setdefault(fetched.sha256, uid)
            _release(None, mine)
            if first != uid:
                reason = f"{DUPLICATE}: the same bytes (sha256 {fetched.sha256[:16]}) were submitted earlier by uid {first}"
                return Judged(self._failed(base, "invalid", reason), timings)
            judged = await self._evaluate(answer, base, dest, out.output_url, timings)
            if judged.result.status == OK_STATUS:
                judged = await self._one_claim(answer, judged, dest, round_id, ledger, earlier, claim)
            return judged
        finally:
            _release(prev, mine)
            if not claim.print.done():
                claim.print.set_result(None)
            if dest is not None:
                dest.unlink(missing_ok=True)
            timings["judge_s"] = time.monotonic() - started

    async def _evaluate(
        self, answer: Answer, base: dict[str, Any], dest: Path, url: str, timings: dict[str, float]
    ) -> Judged:
        a = answer.assignment
        t0 = time.monotonic()
        try:
            verdict = await self.pool.score(a.kind.job(a, dest, url))
        except BadReferenceError as exc:
            raise NotScored(f"task {a.task_id}: the validator's own clip is unusable: {exc}") from exc
        except BrokenProcessPool as exc:
            reason = f"metric_error: the scoring worker died on this output ({exc})"
            return Judged(self._failed(base, "metric_error", reason), timings)
        timings["score_s"] = time.monotonic() - t0
        timings["validate_s"] = verdict.timings.get("validate_s", 0.0)
        timings["metrics_s"] = sum(v for k, v in verdict.timings.items() if k not in ("validate_s", "total_s"))
        random_weights = getattr(verdict, "pieapp_random_weights", False)
        return Judged(self._from_verdict(a, base, verdict), timings, random_weights)

    def _codec_limit(self, a: Assignment, limits: dict[str, float], *, unlisted: float | None) -> float:
        """A per-codec claim limit for this task's codec: `unlisted` (None: the smallest) for a codec not
        listed; upscaling, where the miner picks the codec, takes the smallest (the strictest, or off)."""
        if not limits:
            return 0.0
        codec = a.kind.claim_codec(a)
        smallest = min(limits.values())
        if codec is None:
            return smallest
        return limits.get(codec, smallest if unlisted is None else unlisted)

    def _cross_ratio(self, a: Assignment) -> float:
        """The near-copy limit for this task's codec (a codec not listed: the strictest)."""
        return self._codec_limit(a, self.metrics.claim_max_cross_ratio, unlisted=None)

    def _size_pattern(self, a: Assignment) -> float:
        """The coding-structure limit for this task's codec (0: off, also for a codec not listed)."""
        return self._codec_limit(a, self.metrics.claim_max_size_pattern, unlisted=0.0)

    async def _reference_crops(
        self, ledger: Ledger, key: str, reference: Path, idx: list[int], seed: str
    ) -> ReferenceCrops | None:
        """The reference's side of the task's fingerprints: computed by the first answer, shared by the rest."""
        fut = ledger.references.get(key)
        if fut is None:
            fut = ledger.references[key] = asyncio.get_running_loop().create_future()
            try:
                crops = functools.partial(reference_crops, seed=seed, crop=self.metrics.claim_crop)
                fut.set_result(await self.pool.call(crops, reference, idx))
            except BaseException as exc:
                fut.set_result(None)
                if isinstance(exc, Exception):
                    logger.warning("task group {}: reference claim frames unavailable: {}", key, exc)
                else:
                    raise
        return await asyncio.shield(fut)

    async def _one_claim(
        self,
        answer: Answer,
        judged: Judged,
        dest: Path,
        round_id: str,
        ledger: Ledger,
        earlier: list[Claim],
        claim: Claim,
    ) -> Judged:
        """`duplicate_submission` when an earlier arrival to the same task is the same solution."""
        a = answer.assignment
        t0 = time.monotonic()
        k = self.metrics.claim_frames
        n = int(a.clip.params.get("frames", 0)) - self.metrics.frame_tolerance  # type: ignore[call-overload]
        fp: ClaimPrint | None = None
        if n >= k:
            key = f"{round_id}/{claim.task_key}"
            idx = sample_frame_indices(n, k, secret=self.pool.secret, task_id=key, salt="claim")
            seed = hashlib.sha256(f"{self.pool.secret}\x1f{key}\x1fcrop".encode()).hexdigest()
            crop = self.metrics.claim_crop
            try:
                ref = await self._reference_crops(ledger, claim.task_key, a.clip.reference, idx, seed)
                if ref is not None:
                    packets = n + 2 * self.metrics.frame_tolerance + 8  # the declared count, bounded
                    print_it = functools.partial(answer_print, seed=seed, crop=crop, max_packets=packets)
                    fp = await self.pool.call(print_it, dest, ref)
            except (DecodeError, FfmpegError, ValueError, OSError, BrokenProcessPool) as exc:
                logger.warning("task {}: no claim fingerprint ({}); scored without the near-copy check", a.task_id, exc)
        claim.print.set_result(fp)
        if fp is None:
            return judged
        for other in earlier:
            if other.task_key != claim.task_key or other.uid == claim.uid:
                continue
            theirs = await other.print
            why = None if theirs is None else same_solution(
                fp, theirs, max_cross_ratio=self._cross_ratio(a), max_size_ratio=self.metrics.claim_max_size_ratio,
                max_size_pattern=self._size_pattern(a),
            )
            if why is not None:
                judged.timings["claim_s"] = time.monotonic() - t0
                reason = f"{DUPLICATE}: the same solution as uid {other.uid}'s earlier answer ({why})"
                result = judged.result.model_copy(update={"status": "invalid", "reason": reason[:2000], "score": 0.0})
                return Judged(result, judged.timings, judged.random_weights)
        judged.timings["claim_s"] = time.monotonic() - t0
        return judged

    def _from_verdict(self, a: Assignment, base: dict[str, Any], v: Verdict) -> RoundResult:
        fields = a.kind.result_fields(v, base["params"])
        if v.status != "ok":
            status = "invalid" if v.status == "invalid" else "metric_error"
            reason = "; ".join(v.messages) or ",".join(v.reasons) or v.status
            return RoundResult(**base, **fields, status=status, reason=reason[:2000], score=0.0)
        reason = None
        if not v.vmaf_passed:
            thr = v.vmaf_threshold
            reason = f"vmaf_below_threshold: VMAF {v.vmaf:.2f} < {thr:g}"
        return RoundResult(**base, **fields, status=OK_STATUS, reason=reason, score=max(0.0, float(v.score)))

