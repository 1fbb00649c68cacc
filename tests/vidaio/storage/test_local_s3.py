"""The local S3 endpoint: moto as a child process (localnet) and the in-process context manager."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from vidaio.storage.local import LocalS3, LocalS3Error, LocalS3Process, local_s3
from vidaio.storage.s3 import S3Store, build_client


@pytest.mark.slow
async def test_child_process_server_serves_s3_and_stops_cleanly(tmp_path: Path) -> None:
    log = tmp_path / "moto.log"
    with local_s3(buckets=["proc-a", "proc-b"], mode="process", log_path=str(log)) as s3:
        assert s3.endpoint_url.startswith("http://127.0.0.1:")
        store = S3Store(s3.storage_config("proc-b"))
        src = tmp_path / "f.mp4"
        src.write_bytes(b"hello")
        try:
            assert (await store.upload(src, "hk/1/t.mp4")).size == 5
            names = {b["Name"] for b in store.client.list_buckets()["Buckets"]}
            assert {"proc-a", "proc-b"} <= names
        finally:
            store.close()
        port = int(s3.endpoint_url.rsplit(":", 1)[1])
    # the process is gone, its port closed, and its request log was written
    with socket.socket() as s, pytest.raises(OSError):
        s.settimeout(1)
        s.connect(("127.0.0.1", port))
    assert "PUT /proc-b/hk/1/t.mp4" in log.read_text()


def test_startup_failure_is_reported_and_nothing_left_running(tmp_path: Path) -> None:
    bad = tmp_path / "python-that-fails"
    bad.write_text("#!/bin/sh\necho boom >&2\nexit 3\n")
    bad.chmod(0o755)
    proc = LocalS3Process(python=str(bad), startup_timeout_s=5)
    with pytest.raises(LocalS3Error, match="exited during start-up") as ei:
        proc.start()
    assert "boom" in str(ei.value)
    assert proc.proc is None and not proc.is_running()
    with pytest.raises(LocalS3Error, match="not started"):
        _ = proc.endpoint_url


def test_in_process_endpoint_and_its_storage_config(local_s3_endpoint: LocalS3) -> None:
    cfg = local_s3_endpoint.storage_config("inproc-x", presign_ttl_s=60)
    assert (cfg.endpoint_url, cfg.bucket, cfg.addressing_style, cfg.presign_ttl_s) == (
        local_s3_endpoint.endpoint_url,
        "inproc-x",
        "path",
        60,
    )
    client = build_client(cfg)
    try:
        client.create_bucket(Bucket="inproc-x")
        client.put_object(Bucket="inproc-x", Key="k", Body=b"v")
        assert client.get_object(Bucket="inproc-x", Key="k")["Body"].read() == b"v"
    finally:
        client.close()
