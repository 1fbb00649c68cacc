"""A hostile file server on 127.0.0.1 for the URL attacks (raw asyncio streams, no framework):

- `/redirect-private`: 302 to the cloud metadata address (169.254.169.254);
- `/redirect-loopback`: 302 to `localhost` (a name for the loopback, not the allowlisted IP);
- `/slow`: headers (no length), then one byte every 0.2 s, forever: no read timeout ever fires;
- `/huge`: declares a Content-Length of 1 TB, sends a few bytes, then stalls;
- `/chunked-flood`: no Content-Length, streams zeros until the client stops reading.

Imported by name (pytest puts this folder on sys.path).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass
class Hostile:
    port: int = 0
    hits: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


async def _handle(h: Hostile, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        path = head.split(b" ", 2)[1].decode("latin-1").split("?", 1)[0]
        h.hits[path] = h.hits.get(path, 0) + 1
        if path.startswith("/redirect-"):
            target = (
                "http://169.254.169.254/latest/meta-data/"
                if path.endswith("private")
                else "http://localhost:1/x"
            )
            writer.write(f"HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n\r\n".encode())
        elif path == "/slow":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nTransfer-Encoding: chunked\r\n\r\n")
            while True:
                writer.write(b"1\r\n\0\r\n")
                await writer.drain()
                await asyncio.sleep(0.2)
        elif path == "/huge":
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 1000000000000\r\n\r\n"
            )
            writer.write(b"\0" * 1024)
            await writer.drain()
            await asyncio.sleep(60)
        elif path == "/chunked-flood":
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"\0" * 65536
            while True:
                writer.write(b"10000\r\n" + chunk + b"\r\n")
                await writer.drain()
        else:
            writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError, TimeoutError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def hostile_server() -> AsyncIterator[Hostile]:
    """Serve the hostile endpoints on 127.0.0.1 (a free port) until the block ends; drop every connection."""
    h = Hostile()
    tasks: set[asyncio.Task[None]] = set()

    def spawn(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(_handle(h, reader, writer))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    server = await asyncio.start_server(spawn, "127.0.0.1", 0)
    h.port = server.sockets[0].getsockname()[1]
    try:
        yield h
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)
