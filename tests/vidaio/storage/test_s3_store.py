"""S3Store against a real (in-process moto) S3 server: upload, presign, list, cleanup, retries."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ConnectionClosedError

from vidaio.fetch import FetchConfig, fetch
from vidaio.storage.config import MIB, StorageConfig
from vidaio.storage.errors import StorageError
from vidaio.storage.s3 import PresignedUrl, S3Store, object_key, presigned_expiry

# ------------------------------------------------------------------ pure helpers


def test_object_key_layout() -> None:
    assert object_key("5GhTwZ8S4u", 17, "task-abc_1") == "5GhTwZ8S4u/17/task-abc_1.mp4"
    assert object_key("hk", "r2", "t.1") == "hk/r2/t.1.mp4"


@pytest.mark.parametrize(
    ("hotkey", "round_id", "task_id"),
    [("", 1, "t"), ("a/b", 1, "t"), ("hk", "..", "t"), ("hk", 1, "../etc"), ("hk", 1, "t id"), ("hk", -1, "t")],
)
def test_object_key_rejects_unsafe_parts(hotkey: str, round_id: Any, task_id: str) -> None:
    with pytest.raises(ValueError, match="invalid"):
        object_key(hotkey, round_id, task_id)


def test_presigned_url_expiry_bookkeeping() -> None:
    t0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    p = PresignedUrl(url="http://x/b/k", key="b/k", expires_at=t0 + timedelta(seconds=3600))
    assert not p.is_expired(t0)
    assert p.remaining_s(t0) == 3600
    assert not p.is_expired(t0 + timedelta(seconds=3599))
    assert p.is_expired(t0 + timedelta(seconds=3600))
    assert p.is_expired(t0 + timedelta(days=1))
    # a margin treats a URL about to die as dead already (a download takes time)
    assert p.is_expired(t0 + timedelta(seconds=3500), margin_s=120)
    assert not p.is_expired(t0 + timedelta(seconds=3400), margin_s=120)


def test_presigned_expiry_parses_sigv4_and_sigv2() -> None:
    v4 = "http://h/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260101T120000Z&X-Amz-Expires=600&X-Amz-Signature=ab"
    assert presigned_expiry(v4) == datetime(2026, 1, 1, 12, 10, tzinfo=UTC)
    assert presigned_expiry("http://h/b/k?AWSAccessKeyId=a&Expires=1767268800&Signature=x") == datetime(
        2026, 1, 1, 12, 0, tzinfo=UTC
    )
    assert presigned_expiry("http://h/b/k") is None
    assert presigned_expiry("http://h/b/k?X-Amz-Date=garbage&X-Amz-Expires=1") is None


def test_storage_config_bounds() -> None:
    with pytest.raises(ValueError):
        StorageConfig(multipart_chunk_bytes=MIB)  # below S3's 5 MiB part minimum
    with pytest.raises(ValueError):
        StorageConfig(presign_ttl_s=8 * 86400)  # above S3's 7-day presign maximum
    with pytest.raises(ValueError):
        StorageConfig(bucket="Bad_Bucket")
    assert StorageConfig().presign_ttl_s == 3600 and StorageConfig().retention_s == 86400


# ------------------------------------------------------------------ against moto


async def test_presign_get_expiry_matches_the_signed_url(s3_store: S3Store, tmp_path: Path) -> None:
    src = tmp_path / "a.mp4"
    src.write_bytes(b"abc")
    key = object_key("hk", 1, "t1")
    await s3_store.upload(src, key)
    before = datetime.now(UTC)
    p = await s3_store.presign_get(key, ttl_s=120)
    signed = presigned_expiry(p.url)
    assert p.key == key and f"/{s3_store.bucket}/{key}?" in p.url
    assert signed is not None
    # ours is never later than what S3 will enforce, and at most a second earlier
    assert timedelta(0) <= signed - p.expires_at <= timedelta(seconds=1)
    assert timedelta(seconds=118) <= p.expires_at - before <= timedelta(seconds=120)
    assert not p.is_expired()
    assert p.is_expired(p.expires_at + timedelta(seconds=1))
    default = await s3_store.presign_get(key)
    assert "X-Amz-Expires=3600" in default.url
    with pytest.raises(StorageError, match="ttl_s"):
        await s3_store.presign_get(key, ttl_s=0)


@pytest.mark.slow
async def test_multipart_upload_50mb_then_safe_fetch_of_presigned_url(s3_store: S3Store, tmp_path: Path) -> None:
    src = tmp_path / "big.mp4"
    data = os.urandom(50 * MIB)
    src.write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    key = object_key("5Fminer", 3, "task-big")

    obj = await s3_store.upload(src, key)
    assert obj.size == 50 * MIB
    assert obj.etag.endswith("-7"), obj.etag  # 8 MiB parts -> 7 parts: really multipart

    url = await s3_store.presign_get(key)
    dest = tmp_path / "dl" / "out.mp4"
    res = await fetch(url.url, dest, max_bytes=60 * MIB, cfg=FetchConfig(allow_hosts=["127.0.0.1"]))
    assert res.sha256 == digest
    assert res.size == 50 * MIB and dest.stat().st_size == 50 * MIB
    assert res.content_type == "video/mp4"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["out.mp4"]


async def test_small_upload_is_single_part_head_and_delete(s3_store: S3Store, tmp_path: Path) -> None:
    src = tmp_path / "s.mp4"
    src.write_bytes(b"x" * 1000)
    obj = await s3_store.upload(src, "hk/1/s.mp4")
    assert obj.size == 1000 and "-" not in obj.etag
    assert obj.etag == hashlib.md5(b"x" * 1000).hexdigest()
    assert (await s3_store.head("hk/1/s.mp4")) is not None
    await s3_store.delete("hk/1/s.mp4")
    assert (await s3_store.head("hk/1/s.mp4")) is None
    await s3_store.delete("hk/1/s.mp4")  # deleting a missing key is not an error
    assert await s3_store.list("hk/") == []


async def test_upload_of_missing_file_is_a_storage_error(s3_store: S3Store, tmp_path: Path) -> None:
    with pytest.raises(StorageError) as ei:
        await s3_store.upload(tmp_path / "nope.mp4", "k.mp4")
    assert ei.value.operation == "upload" and ei.value.key == "k.mp4"


def _put_many(store: S3Store, keys: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda k: store.client.put_object(Bucket=store.bucket, Key=k, Body=b"."), keys))


def _seed_in_server(bucket: str, keys: list[str]) -> None:
    """Create objects straight in the in-process moto server's backend (an HTTP PUT costs ~15 ms
    each on 2 cores); listing and cleanup under test still go through HTTP."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    backend = s3_backends[DEFAULT_ACCOUNT_ID]["aws"]
    for k in keys:
        backend.put_object(bucket, k, b".")


@pytest.mark.slow
async def test_list_and_cleanup_more_than_1000_objects(s3_store: S3Store) -> None:
    old_keys = [f"old/{i:05d}.mp4" for i in range(1030)]
    _seed_in_server(s3_store.bucket, old_keys[:-2])
    await asyncio.to_thread(_put_many, s3_store, old_keys[-2:])
    cutoff = datetime.now(UTC)
    # moto truncates LastModified to whole seconds: make the new objects land in a later second
    await asyncio.sleep(int(cutoff.timestamp()) + 1.05 - cutoff.timestamp())
    new_keys = [f"new/{i}.mp4" for i in range(3)]
    await asyncio.to_thread(_put_many, s3_store, new_keys)

    calls: list[str] = []
    s3_store.client.meta.events.register("before-call.s3.ListObjectsV2", lambda **kw: calls.append("list"))
    listed = await s3_store.list()
    assert sorted(o.key for o in listed) == sorted(old_keys + new_keys)
    assert len(calls) == 2  # two pages: pagination was followed

    # nothing is older than the retention yet
    assert await s3_store.cleanup() == 0
    # as seen `retention_s` after the cutoff, exactly the old objects are expired
    deleted = await s3_store.cleanup(now=cutoff + timedelta(seconds=s3_store.cfg.retention_s))
    assert deleted == 1030
    assert sorted(o.key for o in await s3_store.list()) == sorted(new_keys)


async def test_cleanup_respects_prefix_and_loop_stops(s3_store: S3Store) -> None:
    await asyncio.to_thread(_put_many, s3_store, ["a/1.mp4", "a/2.mp4", "b/1.mp4"])
    later = datetime.now(UTC) + timedelta(seconds=s3_store.cfg.retention_s + 5)
    assert await s3_store.cleanup(now=later, prefix="a/") == 2
    assert [o.key for o in await s3_store.list()] == ["b/1.mp4"]

    short = S3Store(s3_store.cfg.model_copy(update={"retention_s": 1}), client=s3_store.client)
    stop = asyncio.Event()
    task = asyncio.create_task(short.cleanup_loop(stop, interval_s=0.05))
    started = time.monotonic()
    while await short.list() and time.monotonic() - started < 5:  # b/1.mp4 expires 1-2 s after upload
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert task.done() and await short.list() == []


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Any:
        yield self.body


async def test_transient_errors_are_retried_then_succeed(s3_store: S3Store, tmp_path: Path) -> None:
    src = tmp_path / "r.mp4"
    src.write_bytes(b"retry me")
    failures = {"n": 0}

    def flaky(request: Any, **_: Any) -> Any:
        failures["n"] += 1
        if failures["n"] == 1:
            raise ConnectionClosedError(endpoint_url=request.url)
        if failures["n"] == 2:  # a throttling answer, as real S3 sends it
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            return AWSResponse(request.url, 503, {}, _Raw(body))
        return None  # third try: the real moto server answers

    s3_store.client.meta.events.register("before-send.s3.PutObject", flaky)
    obj = await s3_store.upload(src, "hk/1/r.mp4")
    assert failures["n"] == 3
    assert obj.size == len(b"retry me")


async def test_retries_run_out_into_a_typed_error(s3_store: S3Store, tmp_path: Path) -> None:
    src = tmp_path / "r.mp4"
    src.write_bytes(b"x")
    calls = {"n": 0}

    def always_down(request: Any, **_: Any) -> Any:
        calls["n"] += 1
        raise ConnectionClosedError(endpoint_url=request.url)

    s3_store.client.meta.events.register("before-send.s3.PutObject", always_down)
    with pytest.raises(StorageError) as ei:
        await s3_store.upload(src, "hk/1/down.mp4")
    err = ei.value
    assert (err.operation, err.key, err.attempts, err.retryable) == ("upload", "hk/1/down.mp4", 4, True)
    assert calls["n"] == 4  # 1 try + max_retries=3
    assert "ConnectionClosedError" in err.reason


async def test_permanent_error_is_not_retried(local_s3_endpoint: Any, tmp_path: Path) -> None:
    src = tmp_path / "x.mp4"
    src.write_bytes(b"x")
    store = S3Store(local_s3_endpoint.storage_config("no-such-bucket-here", retry_backoff_s=0.01))
    try:
        with pytest.raises(StorageError) as ei:
            await store.upload(src, "hk/1/x.mp4")
        assert ei.value.attempts == 1 and not ei.value.retryable
        assert "NoSuchBucket" in ei.value.reason
        with pytest.raises(StorageError, match="does not exist"):
            await store.ensure_bucket()  # create_bucket=False: refuse, don't create
        created = S3Store(store.cfg.model_copy(update={"create_bucket": True}), client=store.client)
        await created.ensure_bucket()
        await created.ensure_bucket()  # idempotent
        assert (await created.upload(src, "hk/1/x.mp4")).size == 1
    finally:
        store.close()
