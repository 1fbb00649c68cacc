"""Judging answers without a network: failure mapping, URL/sha duplicates in arrival order, the
fetcher's refusals, byte caps and the mapping of scoring verdicts to history rows."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from scoring.evaluate import CompressionVerdict, UpscalingVerdict
from scoring.metrics.config import MetricsConfig
from services.synthesis import PreparedCompression, PreparedUpscaling
from vidaio.fetch import FetchConfig, FetchError, FetchResult
from vidaio.protocol import Capabilities, CompressionTask, TaskError, TaskResult, TaskType, UpscalingTask
from vidaio.transport.client import DispatchResult
from vidaio.validator import judge as judge_mod
from vidaio.validator.dispatch import Answer, Assignment
from vidaio.validator.judge import Judge, Ledger, answer_failure
from vidaio.validator.roster import KnownMiner
from vidaio.validator.tasks import TaskClip

ROUND = "r1-abc"
CAPS = Capabilities(task_type="compression", codecs=["hevc"])


class FakePool:
    """Records the jobs; answers a fixed verdict."""

    def __init__(self, verdict: Any) -> None:
        self.verdict = verdict
        self.jobs: list[Any] = []

    async def score(self, job: Any, seen_sha256: tuple[str, ...] = ()) -> Any:
        self.jobs.append(job)
        return self.verdict


def comp_clip(tmp_path: Path, size: int = 1000) -> TaskClip:
    ref = tmp_path / "ref.mp4"
    ref.write_bytes(b"r" * size)
    prepared = PreparedCompression(ref, size, 160, 90, 24, 24, 1.0, 1, "synthetic", tmp_path)
    return TaskClip("comp", TaskType.COMPRESSION, prepared, ref, "k", "http://127.0.0.1:1/in.mp4", size,
                    {"vmaf_threshold": 85.0, "seconds": 1.0})  # fmt: skip


def answer(clip: TaskClip, uid: int, result: DispatchResult) -> Answer:
    miner = KnownMiner(uid, f"hk{uid}", "127.0.0.1:1", 0.0, CAPS)
    task = CompressionTask(task_id=f"{ROUND}-c{uid}", round_id=ROUND, input_url=clip.input_url,
                           vmaf_threshold=85.0, codec="hevc", deadline_s=10)  # fmt: skip
    return Answer(Assignment(miner, task, clip), result, time.monotonic())


def ok(uid: int, url: str) -> DispatchResult:
    return DispatchResult(kind="ok", status_code=200, elapsed_s=1.5,
                          result=TaskResult(task_id=f"{ROUND}-c{uid}", output_url=url, processing_time_s=1.0))  # fmt: skip


def make_judge(tmp_path: Path, verdict: Any) -> tuple[Judge, FakePool]:
    pool = FakePool(verdict)
    j = Judge(pool=pool, fetch_cfg=FetchConfig(), metrics=MetricsConfig(), work_dir=tmp_path / "work",  # type: ignore[arg-type]
              upscaling_vmaf_threshold=50.0)  # fmt: skip
    return j, pool


def good_verdict(task_id: str = "t") -> CompressionVerdict:
    return CompressionVerdict(task_id=task_id, vmaf=91.0, score=0.71, codec="hevc", vmaf_threshold=85.0,
                              compression_rate=0.4, vmaf_passed=True, timings={"validate_s": 0.1, "vmaf_s": 0.5})  # fmt: skip


@pytest.mark.parametrize(
    "result,status,token",
    [
        (DispatchResult(kind="timeout", reason="no answer within 12s"), "timeout", "timeout: no answer within 12s"),
        (DispatchResult(kind="refused", status_code=504, reason="deadline of 10s exceeded"), "timeout", "HTTP 504"),
        (DispatchResult(kind="refused", status_code=500, reason="internal error"), "refused", "HTTP 500: internal error"),
        (DispatchResult(kind="refused", status_code=429, reason="queue full"), "refused", "HTTP 429"),
        (DispatchResult(kind="invalid", status_code=200, reason="not a TaskResult"), "bad_response", "not a TaskResult"),
        (DispatchResult(kind="error", status_code=200, reason="codec not mined",
                        result=TaskError(task_id="t", error="codec not mined")), "miner_error", "codec not mined"),
        (DispatchResult(kind="error", reason="ConnectError: refused"), "unreachable", "ConnectError"),
    ],
)
def test_answer_failures_are_named(result: DispatchResult, status: str, token: str) -> None:
    got = answer_failure(result)
    assert got is not None and got[0] == status and token in got[1]


async def test_failed_answer_is_recorded_as_zero_with_reason(tmp_path: Path) -> None:
    j, pool = make_judge(tmp_path, good_verdict())
    clip = comp_clip(tmp_path)
    judged = await j.judge(answer(clip, 3, DispatchResult(kind="timeout", reason="no answer", elapsed_s=12.0)),
                           Ledger(), ROUND)  # fmt: skip
    r = judged.result
    assert (r.status, r.score, r.uid, r.task_type) == ("timeout", 0.0, 3, "compression")
    assert r.vmaf_threshold == 85.0 and r.processing_time_s == 12.0 and r.params["codec"] == "hevc"
    assert pool.jobs == []


async def test_private_and_expired_urls_are_refused_before_download(tmp_path: Path) -> None:
    j, pool = make_judge(tmp_path, good_verdict())
    clip = comp_clip(tmp_path)
    ledger = Ledger()
    private = (await j.judge(answer(clip, 1, ok(1, "http://10.0.0.1/x.mp4")), ledger, ROUND)).result
    assert private.status == "fetch_failed" and private.reason.startswith("private_address")
    past = (datetime.now(UTC) - timedelta(hours=2)).strftime("%Y%m%dT%H%M%SZ")
    url = f"https://example.com/o.mp4?X-Amz-Date={past}&X-Amz-Expires=3600&X-Amz-Signature=abc"
    expired = (await j.judge(answer(clip, 2, ok(2, url)), ledger, ROUND)).result
    assert expired.status == "fetch_failed" and expired.reason.startswith("url_expired")
    assert "X-Amz-Signature" not in expired.params["output_url"]  # no presigned secrets in the DB
    assert pool.jobs == []  # nothing was scored
    work = tmp_path / "work" / ROUND
    assert not work.exists() or not any(work.iterdir())  # and nothing was downloaded


class FakeFetch:
    """Stands in for the safe fetcher: per-URL bytes and delay; records the byte caps."""

    def __init__(self, files: dict[str, tuple[bytes, float]]) -> None:
        self.files = files
        self.caps: dict[str, int] = {}

    async def __call__(self, url: str, dest: Path, *, max_bytes: int, cfg: FetchConfig) -> FetchResult:
        import hashlib

        data, delay = self.files[url]
        self.caps[url] = max_bytes
        await asyncio.sleep(delay)
        if len(data) > max_bytes:
            raise FetchError("too_large", f"body exceeds the cap of {max_bytes} bytes", url=url)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)
        return FetchResult(path=dest, size=len(data), sha256=hashlib.sha256(data).hexdigest(), final_url=url)


async def test_duplicates_go_to_the_later_arrival_even_if_it_downloads_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeFetch({
        "http://a/1": (b"same-bytes", 0.3),   # arrives first, downloads slowly
        "http://b/2": (b"same-bytes", 0.0),   # arrives second with the same bytes, downloads at once
        "http://c/3": (b"other", 0.0),
        "http://d/4": (b"x" * 2000, 0.0),     # larger than the original (1000 bytes)
    })  # fmt: skip
    monkeypatch.setattr(judge_mod, "fetch", fake)
    j, pool = make_judge(tmp_path, good_verdict())
    clip = comp_clip(tmp_path)
    ledger = Ledger()
    answers = [answer(clip, 1, ok(1, "http://a/1")), answer(clip, 2, ok(2, "http://b/2")),
               answer(clip, 3, ok(3, "http://c/3")), answer(clip, 4, ok(4, "http://a/1")),
               answer(clip, 5, ok(5, "http://d/4"))]  # fmt: skip
    results = [j.result for j in await asyncio.gather(*(j.judge(a, ledger, ROUND) for a in answers))]
    by_uid = {r.uid: r for r in results}
    assert by_uid[1].status == "ok" and by_uid[1].score == pytest.approx(0.71)
    assert by_uid[2].status == "invalid" and "duplicate_submission" in by_uid[2].reason and "uid 1" in by_uid[2].reason
    assert by_uid[3].status == "ok"
    assert by_uid[4].status == "invalid" and "this URL was already submitted" in by_uid[4].reason
    assert by_uid[5].status == "invalid" and by_uid[5].reason.startswith("oversized")
    assert fake.caps["http://a/1"] == 1000  # compression cap: the original's size
    assert sorted(job.task_id for job in pool.jobs) == [f"{ROUND}-c1", f"{ROUND}-c3"]
    assert by_uid[1].params["output_sha256"] and by_uid[1].compression_rate == 0.4
    assert not any((tmp_path / "work" / ROUND).iterdir())  # downloads removed after scoring


async def test_verdicts_map_to_history_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(judge_mod, "fetch", FakeFetch({"http://a/1": (b"v", 0.0)}))
    clip = comp_clip(tmp_path)
    invalid = CompressionVerdict(task_id="t", status="invalid", reasons=["wrong_codec"],
                                 messages=["wrong_codec: codec is h264, expected hevc"], codec="hevc")  # fmt: skip
    j, _ = make_judge(tmp_path, invalid)
    r = (await j.judge(answer(clip, 1, ok(1, "http://a/1")), Ledger(), ROUND)).result
    assert (r.status, r.score, r.reason, r.vmaf) == ("invalid", 0.0, "wrong_codec: codec is h264, expected hevc", None)
    low = CompressionVerdict(task_id="t", vmaf=80.0, score=0.0, codec="hevc", vmaf_threshold=85.0, compression_rate=0.3)
    j, _ = make_judge(tmp_path, low)
    r = (await j.judge(answer(clip, 1, ok(1, "http://a/1")), Ledger(), ROUND)).result
    assert r.status == "ok" and r.score == 0.0 and r.reason == "vmaf_below_threshold: VMAF 80.00 < 85"
    broken = CompressionVerdict(task_id="t", status="error", reasons=["metric_error"], messages=["metric_error: x"])
    j, _ = make_judge(tmp_path, broken)
    r = (await j.judge(answer(clip, 1, ok(1, "http://a/1")), Ledger(), ROUND)).result
    assert r.status == "metric_error" and r.score == 0.0


async def test_upscaling_cap_and_random_weights_label(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeFetch({"http://u/1": (b"u" * 10, 0.0)})
    monkeypatch.setattr(judge_mod, "fetch", fake)
    ref, inp = tmp_path / "ref.mp4", tmp_path / "in.mp4"
    ref.write_bytes(b"r")
    inp.write_bytes(b"i" * 100)
    prepared = PreparedUpscaling(ref, inp, (160, 90), (640, 360), 4, 1.0, 24, 24, 1, "synthetic", tmp_path)
    clip = TaskClip("up0", TaskType.UPSCALING, prepared, inp, "k", "http://127.0.0.1:1/in.mp4", 100, {"scale": 4})
    caps = Capabilities(task_type="upscaling", upscaling_types=["SD24K"])
    task = UpscalingTask(task_id=f"{ROUND}-u7", round_id=ROUND, input_url=clip.input_url, task_type="SD24K",
                         scale=4, content_length=1, deadline_s=10)  # fmt: skip
    res = DispatchResult(kind="ok", status_code=200, elapsed_s=2.0,
                         result=TaskResult(task_id=task.task_id, output_url="http://u/1", processing_time_s=1))  # fmt: skip
    verdict = UpscalingVerdict(task_id=task.task_id, vmaf=70.0, vmaf_passed=True, pieapp=0.8, s_q=0.4, s_l=0.12,
                               s_pre=0.26, s_f=0.0188, score=0.0188, pieapp_random_weights=True)  # fmt: skip
    j, pool = make_judge(tmp_path, verdict)
    judged = await j.judge(Answer(Assignment(KnownMiner(7, "hk7", "127.0.0.1:1", 0.0, caps), task, clip), res, 0.0),
                           Ledger(), ROUND)  # fmt: skip
    r = judged.result
    assert fake.caps["http://u/1"] == 2000  # x4: 20 x the input size
    assert judged.random_weights and r.params["pieapp_random_weights"] is True
    assert (r.status, r.task_type, r.s_q, r.s_l, r.pieapp, r.content_length) == ("ok", "upscaling", 0.4, 0.12, 0.8, 1.0)
    assert r.vmaf_threshold == 50.0 and pool.jobs[0].scale == 4 and pool.jobs[0].input_path == inp


class ScriptedClient:
    """send_task answers the scripted results in order."""

    def __init__(self, *results: DispatchResult) -> None:
        self.results = list(results)
        self.calls = 0

    async def send_task(self, axon: str, hotkey: str, task: Any, deadline_s: float) -> DispatchResult:
        self.calls += 1
        return self.results.pop(0)


@pytest.mark.parametrize(
    "first,retried",
    [
        (DispatchResult(kind="error", reason="ReadError: ", elapsed_s=0.01), True),
        (DispatchResult(kind="error", reason="RemoteProtocolError: Server disconnected", elapsed_s=0.2), True),
        (DispatchResult(kind="error", reason="ReadError: ", elapsed_s=30.0), False),  # the miner had it for a while
        (DispatchResult(kind="timeout", reason="no answer", elapsed_s=0.1), False),
        (DispatchResult(kind="refused", status_code=500, reason="boom", elapsed_s=0.1), False),
        (DispatchResult(kind="refused", status_code=401, reason="nonce is older than the 10s freshness window",
                        elapsed_s=12.0), True),
        (DispatchResult(kind="refused", status_code=401, reason="signature does not verify", elapsed_s=0.1), False),
    ],
)
async def test_dispatch_retries_a_stale_connection_once(tmp_path: Path, first: DispatchResult, retried: bool) -> None:
    from vidaio.validator.dispatch import dispatch

    clip = comp_clip(tmp_path)
    a = answer(clip, 1, first).assignment
    client = ScriptedClient(first, ok(1, "http://a/1"))
    got = await dispatch(client, a)  # type: ignore[arg-type]
    assert client.calls == (2 if retried else 1)
    assert got.result.ok is retried and got.assignment is a
