"""The miner's metrics: tasks by outcome, queue depth, in-flight jobs, engine/upload seconds, refusals.

`MinerMetrics.task(...)` returns a `TaskTrack` the handler feeds at its stable points (received,
engine done, uploaded, answered). `watch_server` adds the gauges read at scrape time (queue depth,
in-flight jobs) and an ASGI middleware that counts the server's admission refusals by cause.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from vidaio.telemetry.labels import reason_code

ENGINE_BUCKETS = (0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300, 600)
UPLOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
BYTES_BUCKETS = tuple(float(2**k) for k in range(14, 32, 2))  # 16 KiB .. 1 GiB
TASK_PATHS = ("/tasks/upscaling", "/tasks/compression")
REFUSAL_CAUSES = {
    401: "auth", 403: "stake_or_permit", 413: "body_too_large", 422: "invalid_request",
    429: "queue_full", 503: "queue_timeout",
}  # fmt: skip


class _Queue(Protocol):
    @property
    def active(self) -> int: ...
    @property
    def waiting(self) -> int: ...


class _Pool(Protocol):
    @property
    def active(self) -> int: ...


class TaskTrack:
    """One task's way through the handler; `finish` is called exactly once (in a `finally`)."""

    def __init__(self, m: MinerMetrics, task_type: str, codec: str) -> None:
        self._m, self._labels = m, (task_type, codec)
        self._done = False
        m.received.labels(*self._labels).inc()
        m.in_progress.labels(task_type).inc()

    def engine_done(self, seconds: float, output_bytes: int | None) -> None:
        self._m.engine_seconds.labels(*self._labels).observe(max(0.0, seconds))
        if output_bytes is not None:
            self._m.output_bytes.labels(*self._labels).observe(output_bytes)

    def uploaded(self, seconds: float) -> None:
        self._m.upload_seconds.labels(self._labels[0]).observe(max(0.0, seconds))

    def finish(self, outcome: str, stats: object | None = None) -> None:
        """`outcome`: the handler's result text ("ok (...)", "refused: why", "error: reason", "cancelled ...");
        `stats`: the job's JobStats (engine_s, output_bytes, upload_s observed when measured)."""
        if self._done:
            return
        self._done = True
        self._m.in_progress.labels(self._labels[0]).dec()
        engine_s = getattr(stats, "engine_s", None)
        if engine_s is not None:  # measured by the local executor (a Ray node keeps its own timings)
            self._m.engine_seconds.labels(*self._labels).observe(max(0.0, engine_s))
        output_bytes = getattr(stats, "output_bytes", None)
        if output_bytes is not None:
            self._m.output_bytes.labels(*self._labels).observe(output_bytes)
        upload_s = getattr(stats, "upload_s", None)
        if upload_s is not None:
            self.uploaded(upload_s)
        if outcome.startswith("ok"):
            self._m.completed.labels(*self._labels).inc()
            return
        if outcome.startswith("refused"):
            self._m.failed.labels(*self._labels, "refused").inc()
            return
        if outcome.startswith("cancelled"):
            self._m.failed.labels(*self._labels, "cancelled").inc()
            return
        self._m.failed.labels(*self._labels, reason_code(outcome.removeprefix("error:").strip())).inc()


class MinerMetrics:
    """The miner's metric families, in a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        tc = ["task_type", "codec"]
        self.received = Counter("vidaio_miner_tasks_received", "Tasks handed to the miner's handler.", tc, registry=r)
        self.completed = Counter("vidaio_miner_tasks_completed", "Tasks answered with a result URL.", tc, registry=r)
        self.failed = Counter(
            "vidaio_miner_tasks_failed", "Tasks answered with an error, by reason code.", [*tc, "reason"], registry=r
        )
        self.in_progress = Gauge(
            "vidaio_miner_tasks_in_progress", "Tasks inside the handler now.", ["task_type"], registry=r
        )
        self.engine_seconds = Histogram(
            "vidaio_miner_engine_seconds", "Seconds from job submission to the engine's output (queue included).",
            tc, buckets=ENGINE_BUCKETS, registry=r,
        )  # fmt: skip
        self.output_bytes = Histogram(
            "vidaio_miner_output_bytes", "Size of the produced output file.", tc, buckets=BYTES_BUCKETS, registry=r
        )
        self.upload_seconds = Histogram(
            "vidaio_miner_upload_seconds", "Seconds to upload the output and presign its URL.", ["task_type"],
            buckets=UPLOAD_BUCKETS, registry=r,
        )  # fmt: skip
        self.refusals = Counter(
            "vidaio_miner_admission_refusals", "Task requests refused before the handler, by cause.", ["cause"],
            registry=r,
        )  # fmt: skip
        self.queue_depth = Gauge("vidaio_miner_queue_depth", "Admitted tasks waiting for a work slot.", registry=r)
        self.working = Gauge("vidaio_miner_work_slots_busy", "Admitted tasks holding a work slot.", registry=r)
        self.jobs_in_flight = Gauge(
            "vidaio_miner_jobs_in_flight", "Engine jobs submitted and not finished (running or queued).", registry=r
        )

    def task(self, task_type: str, codec: str | None = None) -> TaskTrack:
        return TaskTrack(self, task_type, codec or "-")

    def watch_server(self, app: Any, pool: _Pool | None = None) -> None:
        """Gauges read at scrape time from the server's queue and the worker pool; refusal counting."""
        queue: _Queue | None = getattr(getattr(app, "state", None), "queue", None)
        if queue is not None:
            self.queue_depth.set_function(lambda: float(queue.waiting))
            self.working.set_function(lambda: float(queue.active))
        if pool is not None:
            self.jobs_in_flight.set_function(lambda: float(pool.active))
        app.add_middleware(RefusalCounter, metrics=self)


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class RefusalCounter:
    """ASGI middleware: counts task requests the server refuses before they reach the handler."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]], metrics: MinerMetrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or scope.get("path") not in TASK_PATHS:
            await self.app(scope, receive, send)
            return

        async def counting_send(message: MutableMapping[str, Any]) -> None:
            if message.get("type") == "http.response.start":
                cause = REFUSAL_CAUSES.get(int(message.get("status", 0)))
                if cause is not None:
                    self.metrics.refusals.labels(cause).inc()
            await send(message)

        await self.app(scope, receive, counting_send)


def elapsed(since: float) -> float:
    """Seconds since a `time.monotonic()` reading."""
    return time.monotonic() - since
