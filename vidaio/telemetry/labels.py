"""Bounded label values: free-text reasons become a short code (Prometheus labels must not explode)."""

from __future__ import annotations

import re

_CODE = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_ -]{0,40}?)\s*[:(]")
_HTTP = re.compile(r"^\s*HTTP (\d{3})")
MAX_CODE = 40


def reason_code(reason: str | None) -> str:
    """The leading code of a reason ("timeout: no answer" -> "timeout", "HTTP 403: ..." -> "http_403").

    None/empty -> "none"; text without a leading code -> "other".
    """
    if not reason or not reason.strip():
        return "none"
    http = _HTTP.match(reason)
    if http:
        return f"http_{http.group(1)}"
    m = _CODE.match(reason)
    if not m:
        return "other"
    code = re.sub(r"[^a-z0-9]+", "_", m.group(1).lower()).strip("_")
    return code[:MAX_CODE] or "other"
