"""The per-answer work budget (issue 19 item 1): decode loops and ffmpeg runs end at the deadline.

The pool test uses a real scoring pool and real answers; what makes the first answer's scoring
slow is its ffmpeg run (a wrapper around the real binary that first sleeps in a child process,
standing in for a pathological decode): the budget must kill ffmpeg's whole process group, give
the answer `scoring_budget_exceeded`, and the same worker must score the next answer normally.
"""

from __future__ import annotations

import asyncio
import stat
import time
from pathlib import Path

import pytest

from scoring.budget import Budget, BudgetExceeded
from scoring.config import ScoringConfig
from scoring.evaluate import answer_budget, evaluate_compression
from scoring.media.decode import decode_pass
from scoring.media.ffmpeg import ffmpeg_exe, run_ffmpeg
from scoring.media.probe import probe
from scoring.metrics.config import MetricsConfig
from tests.media_factory import make_clip, reencode
from tests.procs import alive


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("budget")
    ref = make_clip(d / "ref.mp4", (96, 64), frames=30, crf=12)
    return {"dir": d, "ref": ref, "answer": reencode(ref, d / "answer.mp4", "hevc", crf=28)}


def test_budget_from_the_clip(tmp_path: Path) -> None:
    b = Budget.for_clip(276, 1920, 1080, base_s=10, s_per_mpx_frame=0.05, max_s=900, wall_factor=4)
    assert b.cpu_limit_s == pytest.approx(10 + 0.05 * 276 * 1920 * 1080 / 1e6)
    assert b.limit_s == pytest.approx(4 * b.cpu_limit_s)
    assert answer_budget_default_1080p() == pytest.approx(b.limit_s)
    assert (
        Budget.for_clip(276, 3840, 2160, base_s=20, s_per_mpx_frame=1, max_s=300, wall_factor=1).limit_s
        == 300
    )
    assert Budget.for_clip(10, 10, 10, base_s=0, s_per_mpx_frame=0, max_s=9).limit_s == float("inf")
    cfg = MetricsConfig(
        answer_budget_base_s=5, answer_budget_s_per_mpx_frame=0.5, answer_budget_wall_factor=2
    )
    info = probe(make_clip(tmp_path / "c.mp4", (64, 64), frames=10))
    assert answer_budget(info, cfg).cpu_limit_s == pytest.approx(5 + 0.5 * 10 * 64 * 64 / 1e6)
    assert answer_budget(info, cfg).limit_s == pytest.approx(2 * (5 + 0.5 * 10 * 64 * 64 / 1e6))


def test_expired_budget_stops_a_decode_loop(clips: dict[str, Path]) -> None:
    spent = Budget(0.0)
    with pytest.raises(BudgetExceeded, match="scoring_budget_exceeded.*decoding"):
        decode_pass(clips["answer"], budget=spent)
    assert decode_pass(clips["answer"], budget=Budget(60)).frames == 30


def answer_budget_default_1080p() -> float:
    cfg = MetricsConfig()
    return Budget.for_clip(
        276, 1920, 1080, base_s=cfg.answer_budget_base_s, s_per_mpx_frame=cfg.answer_budget_s_per_mpx_frame,
        max_s=cfg.answer_budget_max_s, wall_factor=cfg.answer_budget_wall_factor,
    ).limit_s  # fmt: skip


def _slow_ffmpeg(d: Path, marker: Path, pids: Path) -> Path:
    """A wrapper around the real ffmpeg: sleeps 60 s in a child first while `marker` exists (once)."""
    script = d / "slow-ffmpeg.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ -e "{marker}" ]; then rm -f "{marker}"; sleep 60 & echo $! > "{pids}"; wait; fi\n'
        f'exec "{ffmpeg_exe()}" "$@"\n'
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_run_ffmpeg_kills_the_whole_process_group_at_the_deadline(clips: dict[str, Path]) -> None:
    d = clips["dir"]
    marker, pids = d / "slow-once-a", d / "sleep-a.pid"
    marker.touch()
    wrapper = _slow_ffmpeg(d, marker, pids)
    started = time.monotonic()
    with pytest.raises(BudgetExceeded, match="ffmpeg"):
        run_ffmpeg(["-version"], ffmpeg=str(wrapper), budget=Budget(1.0))
    assert time.monotonic() - started < 10
    deadline = time.monotonic() + 5
    while alive(int(pids.read_text())) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(int(pids.read_text()))  # the wrapper's child died with it


def test_cpu_budget_stops_a_cpu_bound_ffmpeg(clips: dict[str, Path]) -> None:
    """An ffmpeg run that burns CPU is stopped by its RLIMIT_CPU (what is left of the CPU budget)."""
    budget = Budget(120.0, "test", cpu_limit_s=1.0)
    started = time.monotonic()
    with pytest.raises(BudgetExceeded, match="CPU"):
        run_ffmpeg(
            [
                "-f",
                "lavfi",
                "-i",
                "mandelbrot=size=1280x720:rate=25",
                "-t",
                "600",
                "-threads",
                "1",
                "-f",
                "null",
                "-",
            ],
            budget=budget,
        )
    assert time.monotonic() - started < 60
    assert budget.cpu_used() > 0.7  # stopped at its 1 CPU-second, not after the 600 s it asked for


@pytest.mark.slow
def test_slow_answer_hits_the_budget_and_the_worker_scores_the_next(clips: dict[str, Path]) -> None:
    from vidaio.validator.kinds import CompressionJob
    from vidaio.validator.pool import ScorePool

    d = clips["dir"]
    marker, pids = d / "slow-once-b", d / "sleep-b.pid"
    wrapper = _slow_ffmpeg(d, marker, pids)
    mcfg = MetricsConfig(
        ffmpeg_path=wrapper,
        vmaf_threads=1,
        answer_budget_base_s=5.0,
        answer_budget_s_per_mpx_frame=0.0,
        answer_budget_wall_factor=3.0,  # the stand-in sleeps: it spends wall time (15 s allowed), not CPU
    )
    pool = ScorePool(secret="s", scoring=ScoringConfig(), metrics=mcfg, workers=1, kind="thread").start()

    def job(name: str) -> CompressionJob:
        return CompressionJob(clips["ref"], clips["answer"], vmaf_threshold=50, codec="hevc", task_id=name)

    async def round_() -> list:
        marker.touch()
        slow = await pool.score(job("slow"))
        normal = await pool.score(job("normal"))
        return [slow, normal]

    started = time.monotonic()
    try:
        slow, normal = asyncio.run(round_())
    finally:
        pool.close()
    elapsed = time.monotonic() - started
    assert slow.status == "invalid" and slow.score == 0.0 and slow.reasons == ["scoring_budget_exceeded"]
    assert slow.messages[0].startswith("scoring_budget_exceeded: ")
    assert normal.ok and normal.score > 0, normal.messages
    assert elapsed < 15.0 + 30  # the round ends at the budget, not after the 60 s the slow run wanted
    assert not alive(int(pids.read_text()))
    # and the same verdict without the pool: the budget lives with the scoring job itself
    marker.touch()
    v = evaluate_compression(
        clips["ref"], clips["answer"], vmaf_threshold=50, codec="hevc", task_id="direct", secret="s",
        scoring_cfg=ScoringConfig(), metrics_cfg=mcfg,
    )  # fmt: skip
    assert v.reasons == ["scoring_budget_exceeded"]


def test_thread_meter_counts_its_codec_threads_and_not_a_neighbours_work(tmp_path: Path) -> None:
    """Two jobs in threads of one process (the pool's thread kind): a hostile decode that keeps
    libavcodec's frame threads busy is stopped at its 1.5 CPU-s (its job thread alone does only
    10-20 % of a decode: the codec threads it started are counted), and the honest job beside it
    is charged its own work only, under its 1 CPU-s (the process-wide count would have refused it)."""
    import threading

    from scoring.budget import per_thread_cpu
    from scoring.cpu_meter import ProcessMeter, ThreadMeter

    heavy = make_clip(tmp_path / "heavy.mp4", (640, 360), frames=60, codec="hevc", crf=30)
    light = make_clip(tmp_path / "light.mp4", (96, 64), frames=10)
    out: dict[str, tuple] = {}
    started = threading.Event()

    def hostile() -> None:
        with per_thread_cpu():
            b = Budget(120.0, "test", cpu_limit_s=1.5)
            started.set()
            try:
                for _ in range(200):  # ~50 CPU-s unbounded
                    decode_pass(heavy, budget=b)
                out["hostile"] = ("finished", b.cpu_used())
            except BudgetExceeded:
                assert isinstance(b.meter, ThreadMeter)
                out["hostile"] = ("stopped", b.cpu_used(), b.meter.codec_threads())

    def honest() -> None:
        started.wait(10)
        with per_thread_cpu():
            b, whole_process = Budget(120.0, "test", cpu_limit_s=1.0), ProcessMeter()
            try:
                for _ in range(100):
                    assert decode_pass(light, budget=b).frames == 10
                    if "hostile" in out:
                        break
                    time.sleep(0.1)
                out["honest"] = ("ok", b.cpu_used(), whole_process.used())
            except BudgetExceeded:
                out["honest"] = ("stopped", b.cpu_used(), whole_process.used())

    threads = [threading.Thread(target=hostile), threading.Thread(target=honest)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert out["hostile"][0] == "stopped", out
    assert out["hostile"][2] > 0.3 * out["hostile"][1], out  # most of it in codec threads
    assert out["honest"][0] == "ok", out
    assert out["honest"][1] < 1.0 < out["honest"][2], out  # the process-wide count would have refused it
