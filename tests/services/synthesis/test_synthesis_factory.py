"""TaskFactory: bounded pre-building, delivery, waiting, failures, shutdown and file ownership."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError
from synthesis_helpers import files_under

from scoring.media.probe import probe
from services.synthesis import (
    ClipSpec,
    CompressionRecipe,
    DirectorySource,
    NoTaskReady,
    PreparedCompression,
    PreparedUpscaling,
    SynthesisConfig,
    SynthesisError,
    SyntheticSource,
    TaskFactory,
    UpscalingRecipe,
    build_factory,
)
from services.synthesis.runner import run
from tests.media_factory import make_clip

SMALL = CompressionRecipe((96, 54), seconds=1, fps=12)


def _wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.05)


def _task_dirs(work: Path) -> list[Path]:
    return sorted(p for p in work.iterdir() if p.is_dir()) if work.exists() else []


@pytest.mark.slow
def test_factory_bounds_its_queue_delivers_and_cleans_up(tmp_path: Path) -> None:
    work = tmp_path / "work"
    factory = TaskFactory(SyntheticSource(), work_dir=work, max_ready=2, recipes=[SMALL], seed=1)
    with factory:
        _wait_for(lambda: factory.counts()[str(SMALL)][0] == 2)
        time.sleep(0.6)  # a worker would have started a third task by now if unbounded
        assert factory.counts()[str(SMALL)] == (2, 0)
        assert len(_task_dirs(work)) == 2
        task = factory.get(SMALL, timeout=5)
        assert isinstance(task, PreparedCompression)
        assert task.reference.is_file() and probe(task.reference).frame_count == 12
        _wait_for(lambda: factory.counts()[str(SMALL)][0] == 2)  # refilled
        assert len(_task_dirs(work)) == 3  # two queued + the one handed out
    # close() removed the queued tasks, never the one the consumer owns.
    assert _task_dirs(work) == [task.directory]
    task.remove()
    assert files_under(work) == []


def test_factory_makes_an_unknown_recipe_on_demand(tmp_path: Path) -> None:
    with TaskFactory(SyntheticSource(), work_dir=tmp_path, max_ready=1, seed=3) as factory:
        task = factory.get_upscaling(in_size=(48, 28), scale=2, content_length=1, fps=12, timeout=30)
        assert isinstance(task, PreparedUpscaling)
        assert probe(task.input).width == 48 and probe(task.reference).width == 96
        assert str(UpscalingRecipe((48, 28), 2, 1, 12)) in factory.counts()
        task.remove()
    assert files_under(tmp_path) == []


async def test_factory_async_get(tmp_path: Path) -> None:
    factory = TaskFactory(SyntheticSource(), work_dir=tmp_path, max_ready=1, seed=4).start()
    try:
        task = await factory.aget(SMALL, timeout=30)
        assert isinstance(task, PreparedCompression) and task.frames == 12
        task.remove()
    finally:
        factory.close()
    assert files_under(tmp_path) == []


def test_failing_source_reports_its_reason_on_timeout(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    work = tmp_path / "work"
    factory = TaskFactory(DirectorySource(tmp_path / "clips"), work_dir=work, retry_delay_s=0.05, max_retry_delay_s=0.2)
    with factory:
        with pytest.raises(NoTaskReady, match="no video clips in .*clips") as err:
            factory.get(SMALL, timeout=1.0)
        assert isinstance(err.value, TimeoutError)
    assert files_under(work) == []


def test_a_failing_recipe_does_not_block_the_others(tmp_path: Path) -> None:
    (tmp_path / "clips").mkdir()
    make_clip(tmp_path / "clips" / "one_second.mp4", size=(128, 72), fps=12, frames=12, crf=10)
    too_long = CompressionRecipe((96, 54), seconds=2, fps=12)
    work = tmp_path / "work"
    factory = TaskFactory(
        DirectorySource(tmp_path / "clips"), work_dir=work, recipes=[too_long, SMALL], retry_delay_s=30, max_retry_delay_s=30
    )
    with factory:
        _wait_for(lambda: "too short" in factory.errors().get(str(too_long), ""))
        task = factory.get(SMALL, timeout=20)  # served although `too_long` is backing off for 30 s
        assert task.frames == 12
        with pytest.raises(NoTaskReady, match=r"one_second.mp4: too short \(1.00 s < 2 s needed\)"):
            factory.get(too_long, timeout=0.3)
        task.remove()
    assert files_under(work) == []


class SlowSource:
    """Encodes for minutes unless cancelled (to test that close() kills a running ffmpeg)."""

    name = "slow"

    def produce(self, spec: ClipSpec, out_path: Path) -> Path:
        run(["-re", "-f", "lavfi", "-i", f"testsrc2=s={spec.width}x{spec.height}:r={spec.fps}", "-frames:v", "100000",
             "-pix_fmt", "yuv420p", str(out_path)], what="slow clip", timeout_s=300)  # fmt: skip
        return out_path


def test_close_kills_work_in_progress_and_leaves_no_files(tmp_path: Path) -> None:
    factory = TaskFactory(SlowSource(), work_dir=tmp_path, max_ready=1, recipes=[SMALL]).start()
    _wait_for(lambda: any(files_under(tmp_path)) and factory.counts()[str(SMALL)][1] == 1)
    time.sleep(0.3)
    started = time.monotonic()
    factory.close(timeout_s=20)
    assert time.monotonic() - started < 5
    assert files_under(tmp_path) == []


def test_get_requires_a_running_factory(tmp_path: Path) -> None:
    factory = TaskFactory(SyntheticSource(), work_dir=tmp_path)
    with pytest.raises(SynthesisError, match="not started"):
        factory.get(SMALL, timeout=0.1)
    factory.start()
    factory.close()
    with pytest.raises(SynthesisError, match="closed"):
        factory.get(SMALL, timeout=0.1)
    with pytest.raises(SynthesisError, match="closed"):
        factory.start()
    with pytest.raises(ValueError, match="max_ready"):
        TaskFactory(SyntheticSource(), work_dir=tmp_path, max_ready=0)
    with pytest.raises(ValueError, match="must be even"):
        CompressionRecipe((95, 54), 1, 12)


def test_seeded_factories_draw_the_same_task_seeds(tmp_path: Path) -> None:
    seeds = []
    for name in ("a", "b"):
        with TaskFactory(SyntheticSource(), work_dir=tmp_path / name, max_ready=1, seed=42) as factory:
            task = factory.get(SMALL, timeout=30)
            seeds.append(task.seed)
            task.remove()
    assert seeds[0] == seeds[1]


def test_config_builds_sources_and_validates(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="needs synthesis.clip_dir"):
        SynthesisConfig(source="directory")
    with pytest.raises(ValidationError, match="needs synthesis.url_file"):
        SynthesisConfig(source="urls")
    factory = build_factory(SynthesisConfig(source="directory", clip_dir=tmp_path, work_dir=tmp_path / "w", max_ready=3))
    assert isinstance(factory.source, DirectorySource) and factory.max_ready == 3
    (tmp_path / "urls.txt").write_text("https://clips.example/a.mp4\n")
    urls = SynthesisConfig(source="urls", url_file=tmp_path / "urls.txt")
    with pytest.raises(ValueError, match="needs a fetch function"):
        build_factory(urls)
    assert build_factory(urls, fetch=lambda u, p: None).source.name == "urls"
    assert isinstance(build_factory(SynthesisConfig(work_dir=tmp_path)).source, SyntheticSource)
