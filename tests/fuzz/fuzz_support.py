"""Helpers for the fuzz tests: a real miner server (uvicorn) in a background thread, signed requests,
hypothesis strategies for JSON values. Imported by name (pytest puts this folder on sys.path)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from hypothesis import strategies as st

from vidaio.transport.runner import running_app

# JSON values of every shape, small enough to stay under the miner's body limit most of the time
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=40)
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=25,
)


@contextmanager
def server_thread(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on 127.0.0.1 in a thread with its own loop; yield its base URL."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    box: dict[str, Any] = {}

    async def main() -> None:
        box["stop"] = asyncio.Event()
        try:
            async with running_app(app, "127.0.0.1", 0) as srv:
                box["url"] = srv.url
                ready.set()
                await box["stop"].wait()
        except BaseException as exc:  # surfaced to the test below
            box["error"] = exc
            ready.set()

    thread = threading.Thread(target=lambda: loop.run_until_complete(main()), name="fuzz-miner", daemon=True)
    thread.start()
    if not ready.wait(30) or "error" in box:
        raise RuntimeError(f"miner server did not start: {box.get('error')!r}")
    try:
        yield box["url"]
    finally:
        loop.call_soon_threadsafe(box["stop"].set)
        thread.join(30)
        loop.close()


def signed(keypair: Any, receiver: str, method: str, path: str, body: bytes) -> dict[str, str]:
    from bittensor import http_auth

    headers = http_auth.sign(keypair, method=method, path=path, body=body, receiver_ss58=receiver)
    headers["Content-Type"] = "application/json"
    return headers
