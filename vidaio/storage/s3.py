"""S3Store: async upload / presign / delete / list / cleanup on any S3-compatible endpoint (docs/protocol.md#outputs-and-downloads).

boto3 is blocking, so every SDK call runs in a worker thread (`asyncio.to_thread`). botocore's own
retries are switched off; this module retries transient failures itself (exponential backoff,
logged) and raises `StorageError` naming the operation and key once they run out or at once for a
permanent failure. Presigned-URL expiry is our own bookkeeping (`PresignedUrl.expires_at`), since
some S3 servers (moto) do not enforce it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config as BotoConfig
from botocore.exceptions import BotoCoreError, ClientError
from loguru import logger
from pydantic import BaseModel, ConfigDict, Field

from vidaio.storage.config import S3_MAX_PRESIGN_TTL_S, StorageConfig
from vidaio.storage.errors import StorageError, describe, error_code, is_transient
from vidaio.targets import storage_target

T = TypeVar("T")

_KEY_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-]{0,127}$")
_DELETE_BATCH = 1000  # S3 DeleteObjects limit
_SDK_ERRORS = (BotoCoreError, ClientError, Boto3Error, OSError)


def object_key(hotkey: str, round_id: str | int, task_id: str) -> str:
    """The object key of one task result or input: `{hotkey}/{round_id}/{task_id}.mp4` (docs/protocol.md#outputs-and-downloads)."""
    parts = {"hotkey": hotkey, "round_id": str(round_id), "task_id": task_id}
    for name, value in parts.items():
        if not _KEY_PART.match(value) or ".." in value:
            raise ValueError(f"invalid {name} for an object key: {value!r} (allowed: A-Z a-z 0-9 . _ -)")
    return f"{hotkey}/{round_id}/{task_id}.mp4"


class PresignedUrl(BaseModel):
    """A presigned GET URL and when it stops working (UTC; conservative: never later than S3's)."""

    model_config = ConfigDict(frozen=True)

    url: str = Field(description="The presigned GET URL.")
    key: str = Field(description="Object key it points to.")
    expires_at: datetime = Field(description="UTC instant after which the URL must be treated as expired.")

    def remaining_s(self, now: datetime | None = None) -> float:
        """Seconds left before expiry (negative once expired)."""
        return (self.expires_at - (now or datetime.now(UTC))).total_seconds()

    def is_expired(self, now: datetime | None = None, *, margin_s: float = 0.0) -> bool:
        """True when `now` (default: the clock) is at or past `expires_at - margin_s`."""
        return self.remaining_s(now) <= margin_s


class StoredObject(BaseModel):
    """One object as listed or uploaded."""

    key: str
    size: int = Field(ge=0)
    last_modified: datetime
    etag: str = ""


def presigned_expiry(url: str) -> datetime | None:
    """When a presigned S3 URL expires, read from its query (SigV4 `X-Amz-Date`+`X-Amz-Expires`,
    or SigV2 `Expires`); None when the URL carries neither. Lets a validator skip a dead URL."""
    q = parse_qs(urlsplit(url).query)
    try:
        if "X-Amz-Date" in q and "X-Amz-Expires" in q:
            signed = datetime.strptime(q["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            return signed + timedelta(seconds=int(q["X-Amz-Expires"][0]))
        if "Expires" in q:
            return datetime.fromtimestamp(int(q["Expires"][0]), tz=UTC)
    except (ValueError, OverflowError):
        return None
    return None


def _utc(dt: datetime) -> datetime:
    return dt.astimezone(UTC) if dt.tzinfo else dt.replace(tzinfo=UTC)


def build_client(cfg: StorageConfig) -> Any:
    """A boto3 S3 client for `cfg` (botocore retries off: S3Store retries itself)."""
    boto_cfg = BotoConfig(
        region_name=cfg.region,
        signature_version="s3v4",
        s3={"addressing_style": cfg.addressing_style},
        retries={"total_max_attempts": 1, "mode": "standard"},
        connect_timeout=cfg.connect_timeout_s,
        read_timeout=cfg.read_timeout_s,
        max_pool_connections=max(10, cfg.max_concurrency * 2),
        # S3-compatible servers (B2, R2, older MinIO) reject the new default CRC checksums.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    secret = cfg.secret_access_key.get_secret_value() if cfg.secret_access_key else None
    return boto3.session.Session().client(
        "s3",
        endpoint_url=cfg.endpoint_url or None,
        aws_access_key_id=cfg.access_key_id or None,
        aws_secret_access_key=secret,
        config=boto_cfg,
    )


class S3Store:
    """Async facade over one bucket. Safe to share between tasks (boto3 clients are thread-safe)."""

    def __init__(self, cfg: StorageConfig, *, client: Any | None = None) -> None:
        self.cfg = cfg
        self.bucket = cfg.bucket
        self.client = client if client is not None else build_client(cfg)
        self._transfer = TransferConfig(
            multipart_threshold=cfg.multipart_threshold_bytes,
            multipart_chunksize=cfg.multipart_chunk_bytes,
            max_concurrency=cfg.max_concurrency,
            use_threads=cfg.max_concurrency > 1,
        )

    def close(self) -> None:
        """Release the client's connection pool."""
        self.client.close()

    async def _call(self, operation: str, key: str, fn: Callable[[], T]) -> T:
        """Run a blocking SDK call in a thread; retry transient failures with backoff; else raise."""
        attempts = 0
        while True:
            attempts += 1
            try:
                return await asyncio.to_thread(fn)
            except _SDK_ERRORS as exc:
                transient = is_transient(exc)
                if not transient or attempts > self.cfg.max_retries:
                    # the caller reports the StorageError (one line per failure, with bucket and endpoint)
                    logger.debug("storage {} {!r} failed (attempt {}): {}", operation, key, attempts, describe(exc))
                    raise StorageError(
                        operation, key, describe(exc), attempts=attempts, retryable=transient,
                        where=storage_target(self.cfg),
                    ) from exc  # fmt: skip
                delay = min(self.cfg.retry_backoff_s * 2 ** (attempts - 1), self.cfg.retry_backoff_max_s)
                logger.warning(
                    "storage {} {!r}: transient error (attempt {}), retry in {:.2f}s: {}",
                    operation, key, attempts, delay, describe(exc),
                )
                await asyncio.sleep(delay)

    async def ensure_bucket(self) -> None:
        """Check the bucket exists; create it when missing and `create_bucket` is set, else raise."""

        def _ensure() -> None:
            try:
                self.client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as exc:
                if error_code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                    raise
            if not self.cfg.create_bucket:
                raise StorageError(
                    "ensure_bucket", "", "the bucket does not exist (fix: create it, or set storage.create_bucket=true)",
                    where=storage_target(self.cfg),
                )  # fmt: skip
            kwargs: dict[str, Any] = {"Bucket": self.bucket}
            if self.cfg.region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.cfg.region}
            try:
                self.client.create_bucket(**kwargs)
                logger.info("storage: created bucket {!r}", self.bucket)
            except ClientError as exc:
                if error_code(exc) not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                    raise

        await self._call("ensure_bucket", "", _ensure)

    async def upload(self, path: Path, key: str, *, content_type: str = "video/mp4") -> StoredObject:
        """Upload a local file (multipart at or above the threshold); return the stored object."""
        path = Path(path)
        if not path.is_file():
            raise StorageError("upload", key, f"not a readable file: {path}")
        extra = {"ContentType": content_type}
        await self._call(
            "upload",
            key,
            lambda: self.client.upload_file(str(path), self.bucket, key, ExtraArgs=extra, Config=self._transfer),
        )
        obj = await self.head(key)
        if obj is None:
            raise StorageError("upload", key, "object missing right after upload")
        logger.debug("storage: uploaded {} ({} bytes, etag {})", key, obj.size, obj.etag)
        return obj

    async def head(self, key: str) -> StoredObject | None:
        """The object's size/etag/mtime, or None when it does not exist."""

        def _head() -> StoredObject | None:
            try:
                r = self.client.head_object(Bucket=self.bucket, Key=key)
            except ClientError as exc:
                if error_code(exc) in {"404", "NoSuchKey", "NotFound"}:
                    return None
                raise
            return StoredObject(
                key=key,
                size=int(r["ContentLength"]),
                last_modified=_utc(r["LastModified"]),
                etag=str(r.get("ETag", "")).strip('"'),
            )

        return await self._call("head", key, _head)

    async def presign_get(self, key: str, ttl_s: int | None = None) -> PresignedUrl:
        """A presigned GET URL valid for `ttl_s` (default `presign_ttl_s`)."""
        ttl = self.cfg.presign_ttl_s if ttl_s is None else int(ttl_s)
        if not 1 <= ttl <= S3_MAX_PRESIGN_TTL_S:
            raise StorageError("presign", key, f"ttl_s must be in [1, {S3_MAX_PRESIGN_TTL_S}], got {ttl}")
        # Taken before signing and truncated like X-Amz-Date, so expires_at is never after S3's expiry.
        signed_at = datetime.now(UTC).replace(microsecond=0)
        url = await self._call(
            "presign",
            key,
            lambda: self.client.generate_presigned_url(
                "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=ttl
            ),
        )
        return PresignedUrl(url=url, key=key, expires_at=signed_at + timedelta(seconds=ttl))

    async def delete(self, key: str) -> None:
        """Delete one object (no error when it is already gone)."""
        await self._call("delete", key, lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    async def iter_objects(self, prefix: str = "") -> AsyncIterator[StoredObject]:
        """Every object under `prefix`, page by page (1,000 per page; each page retried on its own)."""
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": 1000}
            if token:
                kwargs["ContinuationToken"] = token
            page = await self._call("list", prefix, lambda kw=kwargs: self.client.list_objects_v2(**kw))
            for item in page.get("Contents", []):
                yield StoredObject(
                    key=item["Key"],
                    size=int(item.get("Size", 0)),
                    last_modified=_utc(item["LastModified"]),
                    etag=str(item.get("ETag", "")).strip('"'),
                )
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    async def list(self, prefix: str = "") -> list[StoredObject]:
        """All objects under `prefix` (follows pagination)."""
        return [obj async for obj in self.iter_objects(prefix)]

    async def delete_many(self, keys: list[str]) -> int:
        """Delete keys in batches of 1,000; return how many were deleted; raise if S3 reports errors."""
        deleted = 0
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = keys[start : start + _DELETE_BATCH]
            payload = {"Objects": [{"Key": k} for k in batch], "Quiet": True}
            r = await self._call(
                "delete_many", batch[0], lambda p=payload: self.client.delete_objects(Bucket=self.bucket, Delete=p)
            )
            errors = r.get("Errors") or []
            if errors:
                first = errors[0]
                raise StorageError(
                    "delete_many",
                    str(first.get("Key", "")),
                    f"{len(errors)} of {len(batch)} deletions failed: {first.get('Code')}: {first.get('Message')}",
                )
            deleted += len(batch)
        return deleted

    async def cleanup(self, now: datetime | None = None, *, prefix: str = "") -> int:
        """Delete objects under `prefix` last modified more than `retention_s` before `now`; return the count."""
        cutoff = _utc(now or datetime.now(UTC)) - timedelta(seconds=self.cfg.retention_s)
        old = [obj.key async for obj in self.iter_objects(prefix) if obj.last_modified < cutoff]
        deleted = await self.delete_many(old) if old else 0
        logger.info("storage cleanup of {!r}/{}: {} objects older than {} deleted", self.bucket, prefix, deleted, cutoff)
        return deleted

    async def cleanup_loop(self, stop: asyncio.Event, *, prefix: str = "", interval_s: float | None = None) -> None:
        """Run `cleanup` every `cleanup_interval_s` until `stop` is set; a failed pass is logged, not fatal."""
        interval = float(self.cfg.cleanup_interval_s if interval_s is None else interval_s)
        while not stop.is_set():
            try:
                await self.cleanup(prefix=prefix)
            except StorageError as exc:
                logger.error("storage cleanup pass failed, next try in {:.0f}s: {}", interval, exc)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
