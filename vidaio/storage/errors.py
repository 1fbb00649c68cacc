"""Typed storage errors and the transient-error classification used by the retry loop."""

from __future__ import annotations

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

# S3 error codes worth retrying: throttling, server-side trouble, request timeouts.
TRANSIENT_CODES = frozenset(
    {
        "RequestTimeout",
        "RequestTimeoutException",
        "RequestTimeTooSkewed",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestThrottled",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "InternalError",
        "ServiceUnavailable",
        "BadGateway",
        "GatewayTimeout",
    }
)


class StorageError(Exception):
    """A storage operation failed (after retries where the error was transient).

    Attributes: `operation` ("upload", "delete", ...), `key` (object key or prefix, may be empty),
    `reason` (short text of the underlying failure), `attempts` (calls made), `retryable`
    (whether the last failure was transient, i.e. retries ran out).
    """

    def __init__(
        self, operation: str, key: str, reason: str, *, attempts: int = 1, retryable: bool = False, where: str = ""
    ):
        self.operation = operation
        self.key = key
        self.reason = reason
        self.attempts = attempts
        self.retryable = retryable
        self.where = where
        tail = f" after {attempts} attempts" if attempts > 1 else ""
        on = f" on {where}" if where else ""
        what = f"key {key!r}" if key else "the bucket"
        super().__init__(f"storage {operation} failed for {what}{on}{tail}: {reason}{fix_hint(reason)}")


AUTH_CODES = (
    "403", "Forbidden", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken",
    "NoCredentialsError", "Unable to locate credentials",
)  # fmt: skip


def fix_hint(reason: str) -> str:
    """What to check for the common failures (credentials, endpoint down)."""
    if any(code in reason for code in AUTH_CODES):
        return " (fix: check storage.access_key_id / storage.secret_access_key and the bucket's permissions)"
    if "Could not connect" in reason or "EndpointConnectionError" in reason or "Connection refused" in reason:
        return " (fix: is storage.endpoint_url right and the S3 server up?)"
    return ""


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` followed by its causes/contexts (boto3 wraps ClientError in S3UploadFailedError)."""
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen and len(seen) < 10:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    return seen


def error_code(exc: BaseException) -> str | None:
    """The S3 error code ("NoSuchKey", "SlowDown", ...) of the first ClientError in the chain."""
    for e in _chain(exc):
        if isinstance(e, ClientError):
            return str(e.response.get("Error", {}).get("Code", "")) or None
    return None


def is_transient(exc: BaseException) -> bool:
    """True for network failures, timeouts, throttling and 5xx answers; False for anything else."""
    for e in _chain(exc):
        if isinstance(e, HTTPClientError | ConnectionError):
            return True
        if isinstance(e, ClientError):
            err = e.response.get("Error", {})
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            return err.get("Code") in TRANSIENT_CODES or status >= 500 or status == 429
    return False


def describe(exc: BaseException) -> str:
    """A one-line reason naming the S3 code where there is one."""
    code = error_code(exc)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if code and code not in text:
        return f"{code}: {text}"
    return f"{type(exc).__name__}: {text}" if type(exc).__name__ not in text else text
