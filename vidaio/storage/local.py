"""A local S3 endpoint on 127.0.0.1 (moto), in-process for tests or as a child process for localnet.

moto keeps objects in memory and does **not** enforce presigned-URL expiry nor signatures; our
expiry bookkeeping lives in `vidaio.storage.s3.PresignedUrl`. Any access key is accepted; we use
`test`/`test`. Note that every in-process server of one Python process shares moto's global
backend state: use distinct bucket names per test.

    with local_s3(buckets=["results"]) as s3:          # in-process (ThreadedMotoServer)
        store = S3Store(s3.storage_config("results"))
    with LocalS3Process() as proc:                      # child process: python -m moto.server
        proc.endpoint_url
"""

from __future__ import annotations

import atexit
import contextlib
import http.client
import logging
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from typing import IO, Any, Literal

from loguru import logger
from pydantic import BaseModel, SecretStr

from vidaio.extras import require_localnet
from vidaio.storage.config import StorageConfig
from vidaio.storage.s3 import build_client

require_localnet("vidaio.storage.local (the local S3 server of the demo and the tests)")

LOCAL_ACCESS_KEY = "test"
LOCAL_SECRET_KEY = "test"


class LocalS3Error(RuntimeError):
    """The local S3 server could not be started (port taken, moto missing, not ready in time)."""


class LocalS3(BaseModel):
    """A running local endpoint and how to reach it."""

    endpoint_url: str
    region: str = "us-east-1"
    access_key_id: str = LOCAL_ACCESS_KEY
    secret_access_key: str = LOCAL_SECRET_KEY
    buckets: list[str] = []

    def storage_config(self, bucket: str | None = None, **overrides: Any) -> StorageConfig:
        """A `StorageConfig` for one of the buckets (default: the first), path-style addressing."""
        name = bucket or (self.buckets[0] if self.buckets else "vidaio")
        fields: dict[str, Any] = {
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "bucket": name,
            "access_key_id": self.access_key_id,
            "secret_access_key": SecretStr(self.secret_access_key),
            "addressing_style": "path",
        }
        fields.update(overrides)
        return StorageConfig(**fields)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the caller binds it next; races are retried)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def wait_ready(host: str, port: int, timeout_s: float, alive: Any = None) -> None:
    """Poll until an HTTP request to host:port gets any answer; `alive()` False aborts early."""
    deadline = time.monotonic() + timeout_s
    last: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise LocalS3Error(f"local S3 server on {host}:{port} exited during start-up")
        conn = http.client.HTTPConnection(host, port, timeout=1.0)
        try:
            conn.request("GET", "/moto-api/")
            conn.getresponse().read()
            return
        except OSError as exc:
            last = exc
            time.sleep(0.1)
        finally:
            conn.close()
    raise LocalS3Error(f"local S3 server on {host}:{port} not ready after {timeout_s:.0f}s: {last}")


def create_buckets(endpoint_url: str, buckets: Sequence[str], *, region: str = "us-east-1") -> None:
    """Create buckets on a local endpoint (idempotent)."""
    if not buckets:
        return
    client = build_client(
        StorageConfig(
            endpoint_url=endpoint_url,
            region=region,
            access_key_id=LOCAL_ACCESS_KEY,
            secret_access_key=SecretStr(LOCAL_SECRET_KEY),
        )
    )
    try:
        existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        for name in buckets:
            if name in existing:
                continue
            kwargs: dict[str, Any] = {"Bucket": name}
            if region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            client.create_bucket(**kwargs)
    finally:
        client.close()


class InProcessS3Server:
    """moto's ThreadedMotoServer bound to 127.0.0.1 on a free port (tests)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self._server: Any = None

    @property
    def endpoint_url(self) -> str:
        if self._server is None:
            raise LocalS3Error("server not started")
        return f"http://{self.host}:{self.port}"

    def start(self) -> InProcessS3Server:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one INFO line per request otherwise

        server = ThreadedMotoServer(ip_address=self.host, port=self.port, verbose=False)
        server.start()
        self.port = int(server.get_host_and_port()[1])
        self._server = server
        wait_ready(self.host, self.port, timeout_s=10)
        logger.debug("local S3 (in-process moto) on {}", self.endpoint_url)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def __enter__(self) -> InProcessS3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalS3Process:
    """`python -m moto.server -H 127.0.0.1 -p PORT` as a child process (the one-machine subnet).

    `start()` picks a free port (retrying if it was taken meanwhile), waits until the server
    answers and returns self; `stop()` sends SIGTERM, then SIGKILL after `stop_timeout_s`. The
    process is also stopped at interpreter exit. Server request logs go to `log_path` if given.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        python: str = sys.executable,
        log_path: str | None = None,
        startup_timeout_s: float = 30.0,
        stop_timeout_s: float = 5.0,
    ) -> None:
        self.host = host
        self.port = port
        self.python = python
        self.log_path = log_path
        self.startup_timeout_s = startup_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        if self.proc is None or self.port is None:
            raise LocalS3Error("server not started")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> LocalS3Process:
        if self.is_running():
            return self
        tries = 1 if self.port is not None else 3
        last: Exception | None = None
        for _ in range(tries):
            port = self.port if self.port is not None else free_port(self.host)
            try:
                self._spawn(port)
                return self
            except LocalS3Error as exc:
                last = exc
                self.stop()
        raise LocalS3Error(f"could not start moto server: {last}")

    def _spawn(self, port: int) -> None:
        self._log = open(self.log_path, "ab") if self.log_path else tempfile.TemporaryFile()
        cmd = [self.python, "-m", "moto.server", "-H", self.host, "-p", str(port)]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT)
        self.port = port
        atexit.register(self.stop)
        try:
            wait_ready(self.host, port, self.startup_timeout_s, alive=self.is_running)
        except LocalS3Error as exc:
            raise LocalS3Error(f"{exc}; output: {self._tail()!r}") from None
        logger.info("local S3 (moto server, pid {}) on {}", self.proc.pid, self.endpoint_url)

    def _tail(self, n: int = 600) -> str:
        if self._log is None:
            return ""
        try:
            self._log.flush()
            self._log.seek(0)
            return self._log.read().decode(errors="replace")[-n:]
        except (OSError, ValueError):
            return ""

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=self.stop_timeout_s)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=self.stop_timeout_s)
            logger.debug("local S3 (moto server, pid {}) stopped, exit code {}", proc.pid, proc.returncode)
        if self._log is not None:
            self._log.close()
            self._log = None
        atexit.unregister(self.stop)

    def __enter__(self) -> LocalS3Process:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def local_s3(
    buckets: Sequence[str] = (),
    *,
    mode: Literal["thread", "process"] = "thread",
    host: str = "127.0.0.1",
    port: int | None = None,
    region: str = "us-east-1",
    log_path: str | None = None,
) -> Iterator[LocalS3]:
    """Start a local S3 endpoint, create `buckets`, yield how to reach it, stop it on exit.

    mode "thread": moto in this process (tests); "process": a moto child process whose request
    log goes to `log_path` (the one-machine subnet)."""
    server: InProcessS3Server | LocalS3Process
    if mode == "thread":
        server = InProcessS3Server(host, port or 0)
    else:
        server = LocalS3Process(host, port, log_path=log_path)
    with server:
        create_buckets(server.endpoint_url, buckets, region=region)
        yield LocalS3(endpoint_url=server.endpoint_url, region=region, buckets=list(buckets))
