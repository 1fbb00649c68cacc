"""`TaskFactory`: tasks prepared ahead in background threads, so rounds don't wait on ffmpeg.

A *recipe* is the shape of a task (`UpscalingRecipe`, `CompressionRecipe`). For every known recipe
the factory keeps up to `max_ready` prepared tasks (ready + being made), producing first what a
waiting `get` needs, then round-robin. `get(recipe, timeout=...)` (or `get_upscaling` /
`get_compression`) returns a prepared task, registering an unknown recipe on the fly and waiting
for it; after `timeout` it raises `NoTaskReady` quoting the last production error.

File ownership: a task returned by `get` belongs to the caller, who calls `task.remove()` when done.
`close()` stops the workers (killing a running ffmpeg), and removes every task still queued and any
half-made one; a task finished after close is removed at once. Production failures (say an empty
clip directory) are logged and retried with exponential backoff, never raised in the worker.

Seeds: with `seed=None` (production) each task's seed comes from the OS's randomness, so miners
cannot predict content; with an int seed the sequence of task seeds is reproducible.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from services.synthesis.errors import NoTaskReady, SynthesisCancelled, SynthesisError
from services.synthesis.plan import PrepareSettings
from services.synthesis.prepare import (
    Prepared,
    PreparedCompression,
    PreparedUpscaling,
    prepare_compression,
    prepare_upscaling,
)
from services.synthesis.runner import cancel_scope
from services.synthesis.sources import VideoSource
from services.synthesis.spec import check_size, check_timing


@dataclass(frozen=True)
class UpscalingRecipe:
    """An upscaling task shape: input size, scale (reference = input x scale), length (s), fps."""

    in_size: tuple[int, int]
    scale: int
    content_length: float
    fps: int = 24

    def __post_init__(self) -> None:
        check_size("input size", self.in_size)
        check_timing(self.content_length, self.fps)
        if not 2 <= self.scale <= 8:
            raise ValueError(f"scale {self.scale} is out of range 2..8")

    def __str__(self) -> str:
        w, h = self.in_size
        return f"upscaling {w}x{h} x{self.scale} {self.content_length:g}s@{self.fps}"


@dataclass(frozen=True)
class CompressionRecipe:
    """A compression task shape: reference size, length (s), fps."""

    size: tuple[int, int]
    seconds: float = 10.0
    fps: int = 24

    def __post_init__(self) -> None:
        check_size("size", self.size)
        check_timing(self.seconds, self.fps)

    def __str__(self) -> str:
        w, h = self.size
        return f"compression {w}x{h} {self.seconds:g}s@{self.fps}"


Recipe = UpscalingRecipe | CompressionRecipe


class TaskFactory:
    """Bounded pre-building of prepared tasks (see the module docstring)."""

    def __init__(
        self,
        source: VideoSource,
        *,
        work_dir: str | Path,
        max_ready: int = 2,
        recipes: tuple[Recipe, ...] | list[Recipe] = (),
        seed: int | None = None,
        workers: int = 1,
        settings: PrepareSettings | None = None,
        retry_delay_s: float = 2.0,
        max_retry_delay_s: float = 60.0,
    ) -> None:
        if max_ready < 1:
            raise ValueError(f"max_ready must be >= 1 (got {max_ready})")
        if workers < 1:
            raise ValueError(f"workers must be >= 1 (got {workers})")
        self.source = source
        self.work_dir = Path(work_dir)
        self.max_ready = max_ready
        self.workers = workers
        self.settings = settings or PrepareSettings()
        self.retry_delay_s = retry_delay_s
        self.max_retry_delay_s = max_retry_delay_s
        self._seeds: random.Random = random.Random(seed) if seed is not None else random.SystemRandom()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._recipes: list[Recipe] = []
        self._ready: dict[Recipe, deque[Prepared]] = {}
        self._inflight: dict[Recipe, int] = {}
        self._waiting: dict[Recipe, int] = {}
        self._errors: dict[Recipe, str] = {}
        self._failures: dict[Recipe, int] = {}
        self._retry_at: dict[Recipe, float] = {}
        self._rr = 0
        self._threads: list[threading.Thread] = []
        self._started = False
        self._closed = False
        for recipe in recipes:
            self._add(recipe)

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> TaskFactory:
        """Start the worker threads (once)."""
        with self._cond:
            if self._closed:
                raise SynthesisError("the task factory is closed")
            if self._started:
                return self
            self.work_dir.mkdir(parents=True, exist_ok=True)
            self._started = True
            for i in range(self.workers):
                thread = threading.Thread(target=self._work, name=f"synthesis-{i}", daemon=True)
                self._threads.append(thread)
                thread.start()
        logger.info("task factory started: source {}, max_ready {}, {} worker(s)", self.source.name, self.max_ready, self.workers)
        return self

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the workers (a running ffmpeg is killed) and remove every task not handed out."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._stop.set()
            self._cond.notify_all()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
            if thread.is_alive():
                logger.warning("task factory worker {} still busy after {:g} s; it will clean up when done", thread.name, timeout_s)
        with self._cond:
            leftovers = [task for queue in self._ready.values() for task in queue]
            for queue in self._ready.values():
                queue.clear()
        for task in leftovers:
            task.remove()
        logger.info("task factory closed; removed {} unused task(s)", len(leftovers))

    def __enter__(self) -> TaskFactory:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- consumers
    def get(self, recipe: Recipe, *, timeout: float = 60.0) -> Prepared:
        """A prepared task of `recipe`; waits up to `timeout` s (the caller then owns its files)."""
        with self._cond:
            if self._closed:
                raise SynthesisError("the task factory is closed")
            if not self._started:
                raise SynthesisError("the task factory is not started (call start())")
            self._add(recipe)
            self._waiting[recipe] += 1
            self._cond.notify_all()
            deadline = time.monotonic() + timeout
            try:
                while not self._ready[recipe]:
                    remaining = deadline - time.monotonic()
                    if self._closed:
                        raise SynthesisError("the task factory was closed while waiting")
                    if remaining <= 0:
                        last = self._errors.get(recipe)
                        reason = f"; last production error: {last}" if last else ""
                        raise NoTaskReady(f"no {recipe} task ready after {timeout:g} s{reason}")
                    self._cond.wait(remaining)
                task = self._ready[recipe].popleft()
                self._cond.notify_all()  # a slot is free again
                return task
            finally:
                self._waiting[recipe] -= 1

    def get_upscaling(
        self, *, in_size: tuple[int, int], scale: int, content_length: float, fps: int = 24, timeout: float = 60.0
    ) -> PreparedUpscaling:
        task = self.get(UpscalingRecipe((int(in_size[0]), int(in_size[1])), scale, content_length, fps), timeout=timeout)
        assert isinstance(task, PreparedUpscaling)
        return task

    def get_compression(
        self, *, size: tuple[int, int], seconds: float = 10.0, fps: int = 24, timeout: float = 60.0
    ) -> PreparedCompression:
        task = self.get(CompressionRecipe((int(size[0]), int(size[1])), seconds, fps), timeout=timeout)
        assert isinstance(task, PreparedCompression)
        return task

    async def aget(self, recipe: Recipe, *, timeout: float = 60.0) -> Prepared:
        """`get` for async callers (waits in a thread, the event loop stays free)."""
        return await asyncio.to_thread(self.get, recipe, timeout=timeout)

    def counts(self) -> dict[str, tuple[int, int]]:
        """{recipe: (ready, being made)} for logs and tests."""
        with self._cond:
            return {str(r): (len(self._ready[r]), self._inflight[r]) for r in self._recipes}

    def errors(self) -> dict[str, str]:
        """{recipe: last production error} for recipes whose last attempt failed."""
        with self._cond:
            return {str(r): e for r, e in self._errors.items()}

    def ready_total(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._ready.values())

    # ----------------------------------------------------------------- producer
    def _add(self, recipe: Recipe) -> None:
        if recipe in self._ready:
            return
        if not isinstance(recipe, UpscalingRecipe | CompressionRecipe):
            raise TypeError(f"not a task recipe: {recipe!r}")
        self._recipes.append(recipe)
        self._ready[recipe] = deque()
        self._inflight[recipe] = 0
        self._waiting[recipe] = 0
        self._failures[recipe] = 0
        self._retry_at[recipe] = 0.0

    def _next_recipe(self) -> Recipe | None:
        """Under the lock: the recipe to make next, waiting while every recipe is full or backing
        off after a failure (a failing recipe never blocks the others); None once closed."""
        while not self._closed:
            now = time.monotonic()
            room = [r for r in self._recipes if len(self._ready[r]) + self._inflight[r] < self.max_ready]
            eligible = [r for r in room if self._retry_at[r] <= now]
            urgent = [r for r in eligible if self._waiting[r] > self._inflight[r]]
            if urgent:
                return urgent[0]
            if eligible:
                self._rr = (self._rr + 1) % len(eligible)
                return eligible[self._rr]
            backoff = [self._retry_at[r] - now for r in room]
            self._cond.wait(min(backoff) if backoff else None)
        return None

    def _prepare(self, recipe: Recipe, seed: int) -> Prepared:
        if isinstance(recipe, UpscalingRecipe):
            return prepare_upscaling(
                self.source, in_size=recipe.in_size, scale=recipe.scale, content_length=recipe.content_length,
                fps=recipe.fps, seed=seed, work_dir=self.work_dir, settings=self.settings,
            )  # fmt: skip
        return prepare_compression(
            self.source, size=recipe.size, seconds=recipe.seconds, fps=recipe.fps, seed=seed,
            work_dir=self.work_dir, settings=self.settings,
        )  # fmt: skip

    def _work(self) -> None:
        while True:
            with self._cond:
                recipe = self._next_recipe()
                if recipe is None:
                    return
                self._inflight[recipe] += 1
                seed = self._seeds.randrange(2**62)
            started = time.monotonic()
            try:
                with cancel_scope(self._stop):
                    task = self._prepare(recipe, seed)
            except SynthesisCancelled:
                with self._cond:
                    self._inflight[recipe] -= 1
                return
            except Exception as exc:  # noqa: BLE001 - a worker must survive any production failure
                with self._cond:
                    self._inflight[recipe] -= 1
                    self._errors[recipe] = str(exc)
                    self._failures[recipe] += 1
                    delay = min(self.retry_delay_s * 2 ** (self._failures[recipe] - 1), self.max_retry_delay_s)
                    self._retry_at[recipe] = time.monotonic() + delay
                    self._cond.notify_all()
                logger.error("task synthesis failed for {} (seed {}): {}; retrying in {:.1f} s", recipe, seed, exc, delay)
                continue
            with self._cond:
                self._inflight[recipe] -= 1
                if self._closed:
                    task.remove()
                    return
                self._ready[recipe].append(task)
                self._errors.pop(recipe, None)
                self._failures[recipe] = 0
                self._cond.notify_all()
            logger.debug("prepared {} (seed {}) in {:.1f} s", recipe, seed, time.monotonic() - started)
