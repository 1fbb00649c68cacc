"""Local S3 fixtures: one in-process moto server per session, one fresh bucket per test.

Other test packages can copy these two fixtures or use `vidaio.storage.local.local_s3` directly.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import pytest

from vidaio.storage.local import LocalS3, local_s3
from vidaio.storage.s3 import S3Store


@pytest.fixture(scope="session")
def local_s3_endpoint() -> Iterator[LocalS3]:
    """A moto S3 server on 127.0.0.1 (free port) for the whole session."""
    with local_s3() as s3:
        yield s3


@pytest.fixture
async def s3_store(local_s3_endpoint: LocalS3) -> AsyncIterator[S3Store]:
    """An S3Store on a new, empty bucket (fast retries so retry tests stay quick)."""
    bucket = f"t-{uuid.uuid4().hex[:20]}"
    cfg = local_s3_endpoint.storage_config(bucket, create_bucket=True, retry_backoff_s=0.01, max_retries=3)
    store = S3Store(cfg)
    await store.ensure_bucket()
    try:
        yield store
    finally:
        store.close()
