"""S3-compatible storage settings (env prefix `VIDAIO_STORAGE__`), docs/protocol.md#outputs-and-downloads.

Endpoint, region, bucket, credentials and addressing style are configuration only, so the same
code talks to AWS, Backblaze B2, Cloudflare R2, MinIO or the local moto server.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator

MIB = 1024 * 1024
# S3 rejects multipart parts below 5 MiB (except the last one) and presigned URLs above 7 days.
S3_MIN_PART_BYTES = 5 * MIB
S3_MAX_PRESIGN_TTL_S = 7 * 24 * 3600


class StorageConfig(BaseModel):
    """Where and how results and task inputs are stored (env prefix `VIDAIO_STORAGE__`)."""

    endpoint_url: str | None = Field(
        None,
        max_length=500,
        description="S3 endpoint URL (e.g. http://127.0.0.1:9000 for MinIO/moto); empty = AWS for the region.",
    )
    region: str = Field("us-east-1", min_length=1, max_length=64, description="S3 region name.")
    bucket: str = Field(
        "vidaio",
        min_length=3,
        max_length=63,
        pattern=r"^[a-z0-9][a-z0-9.\-]*[a-z0-9]$",
        description="Bucket holding this neuron's objects (miner outputs or validator task inputs).",
    )
    access_key_id: str | None = Field(
        None, max_length=256, description="Access key id; empty = boto3's default credential chain."
    )
    secret_access_key: SecretStr | None = Field(
        None, description="Secret access key; empty = boto3's default credential chain."
    )
    addressing_style: Literal["path", "virtual", "auto"] = Field(
        "path", description='"path" (MinIO, moto, most S3-compatibles), "virtual" (AWS default) or "auto".'
    )
    presign_ttl_s: int = Field(
        3600, ge=1, le=S3_MAX_PRESIGN_TTL_S, description="Lifetime of presigned GET URLs in seconds."
    )
    retention_s: int = Field(
        86400, ge=1, le=365 * 86400, description="Objects older than this are deleted by the cleanup pass."
    )
    multipart_threshold_bytes: int = Field(
        8 * MIB, ge=S3_MIN_PART_BYTES, description="Files at or above this size are uploaded in parts."
    )
    multipart_chunk_bytes: int = Field(
        8 * MIB, ge=S3_MIN_PART_BYTES, le=5 * 1024 * MIB, description="Size of each multipart upload part."
    )
    max_concurrency: int = Field(4, ge=1, le=64, description="Parallel part uploads of one multipart upload.")
    max_retries: int = Field(
        3, ge=0, le=20, description="Retries of a failed storage call on transient errors (after the first try)."
    )
    retry_backoff_s: float = Field(
        0.5, ge=0, le=60, description="First retry delay in seconds; doubles on each further retry."
    )
    retry_backoff_max_s: float = Field(10.0, ge=0, le=600, description="Upper bound of one retry delay in seconds.")
    connect_timeout_s: float = Field(10.0, gt=0, le=300, description="Connect timeout of one S3 request.")
    read_timeout_s: float = Field(60.0, gt=0, le=3600, description="Read timeout of one S3 request.")
    cleanup_interval_s: int = Field(
        3600, ge=1, le=7 * 86400, description="Seconds between two cleanup passes of the background loop."
    )
    create_bucket: bool = Field(
        False, description="Create the bucket at start-up when it is missing (local endpoints, first run)."
    )

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_is_a_url(cls, value: str | None) -> str | None:
        """`http(s)://host[:port]`: a value without a scheme would fail deep inside botocore."""
        if value is None or not value.strip():
            return None
        from urllib.parse import urlsplit

        value = value.strip()
        try:
            parts = urlsplit(value)
            port_ok = parts.port is None or 0 < parts.port < 65536
        except ValueError:
            parts, port_ok = None, False
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or not port_ok:
            raise ValueError(f"{value!r} is not a URL: write it as http://host:port or https://host")
        return value
