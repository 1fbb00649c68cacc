"""S3-compatible storage for task inputs and results (docs/protocol.md#outputs-and-downloads). The local moto endpoint lives in
`vidaio.storage.local` (imported on demand: it pulls in moto)."""

from vidaio.storage.config import StorageConfig
from vidaio.storage.errors import StorageError
from vidaio.storage.s3 import PresignedUrl, S3Store, StoredObject, object_key, presigned_expiry

__all__ = [
    "PresignedUrl",
    "S3Store",
    "StorageConfig",
    "StorageError",
    "StoredObject",
    "object_key",
    "presigned_expiry",
]
