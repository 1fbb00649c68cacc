"""The `/metrics` endpoint: prometheus-client's threaded HTTP server on the configured port."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from loguru import logger
from prometheus_client import CollectorRegistry, start_http_server

from vidaio.telemetry.config import PrometheusConfig


class MetricsServerError(RuntimeError):
    """The metrics endpoint could not listen (port taken, bad address)."""


@contextmanager
def serve_metrics(
    cfg: PrometheusConfig,
    registry: CollectorRegistry,
    *,
    daemon: str,
    default_port: int,
    error: type[Exception] = MetricsServerError,
) -> Iterator[int | None]:
    """Serve `registry` at http://host:port/metrics while the block runs; yields the bound port (None: disabled).

    The server runs in a daemon thread and is shut down when the block exits. A port that cannot be
    bound raises `error` (the daemon's start-up error) with the address and the OS reason.
    """
    if not cfg.enabled:
        yield None
        return
    port = cfg.port_or(default_port)
    try:
        server, thread = start_http_server(port, addr=cfg.host, registry=registry)
    except OSError as exc:
        raise error(f"{daemon} metrics endpoint cannot listen on {cfg.host}:{port}: {exc}") from None
    bound = int(server.server_address[1])
    logger.info("{} Prometheus metrics at http://{}:{}/metrics", daemon, cfg.host, bound)
    try:
        yield bound
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
