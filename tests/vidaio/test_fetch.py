"""The safe fetcher: SSRF refusals, redirects, byte cap, timeouts, address pinning, atomic output."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import vidaio.fetch as fetch_mod
from vidaio.fetch import FetchConfig, FetchError, address_refusal, fetch, parse_ip_host, redact

ALLOW_LOCAL = FetchConfig(allow_hosts=["127.0.0.1"], connect_timeout_s=2, read_timeout_s=5, total_timeout_s=10)


def body_of(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


# ---------------------------------------------------------------- a tiny HTTP/1.1 test server


class TestServer:
    """Raw asyncio HTTP server on 127.0.0.1 with misbehaving endpoints; records each request."""

    __test__ = False

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.tasks: set[asyncio.Task[Any]] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        assert self.server is not None
        self.server.close()
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            target = lines[0].split(" ")[1]
            headers = {k.strip().lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:] if ":" in ln)}
            self.requests.append((target, headers))
            await self._route(target, headers, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self.tasks.discard(task)

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, status: str, headers: dict[str, str], body: bytes = b"") -> None:
        hdr = "".join(f"{k}: {v}\r\n" for k, v in {**headers, "Connection": "close"}.items())
        writer.write(f"HTTP/1.1 {status}\r\n{hdr}\r\n".encode() + body)
        await writer.drain()

    async def _route(self, target: str, headers: dict[str, str], w: asyncio.StreamWriter) -> None:
        path = urlsplit(target).path
        q = parse_qs(urlsplit(target).query)
        parts = path.strip("/").split("/")
        if parts[0] == "ok":
            n = int(parts[1])
            await self._send(w, "200 OK", {"Content-Length": str(n), "Content-Type": "video/mp4"}, body_of(n))
        elif parts[0] == "echo-host":
            body = headers.get("host", "").encode()
            await self._send(w, "200 OK", {"Content-Length": str(len(body))}, body)
        elif parts[0] == "redirect":
            await self._send(w, "302 Found", {"Location": q["to"][0], "Content-Length": "0"})
        elif parts[0] == "chain":
            k = int(parts[1])
            if k > 0:
                await self._send(w, "301 Moved", {"Location": f"/chain/{k - 1}", "Content-Length": "0"})
            else:
                await self._send(w, "200 OK", {"Content-Length": "4"}, b"done")
        elif parts[0] == "unbounded":  # no Content-Length: body delimited by close, bigger than any cap
            await self._send(w, "200 OK", {})
            chunk = b"z" * 65536
            for _ in range(int(parts[1]) // 65536):
                w.write(chunk)
                await w.drain()
        elif parts[0] == "declared":  # honest Content-Length, larger than the cap
            n = int(parts[1])
            await self._send(w, "200 OK", {"Content-Length": str(n)}, body_of(n))
        elif parts[0] == "drip":
            await self._send(w, "200 OK", {"Content-Length": "100"})
            for _ in range(100):
                w.write(b"d")
                await w.drain()
                await asyncio.sleep(1.0)
        elif parts[0] == "short":
            await self._send(w, "200 OK", {"Content-Length": "100"}, b"s" * 50)
        else:
            await self._send(w, "404 Not Found", {"Content-Length": "0"})


@pytest.fixture
async def server() -> AsyncIterator[TestServer]:
    s = TestServer()
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


def only_file(d: Path) -> list[str]:
    return sorted(p.name for p in d.iterdir())


# ---------------------------------------------------------------- SSRF matrix (refused before connecting)

SSRF_MATRIX = [
    ("http://10.0.0.1/x.mp4", "private_address"),
    ("http://172.16.0.1/x.mp4", "private_address"),
    ("http://192.168.1.1/x.mp4", "private_address"),
    ("http://127.0.0.1/x.mp4", "loopback_address"),
    ("http://169.254.169.254/latest/meta-data/", "link_local_address"),
    ("http://[::1]/x.mp4", "loopback_address"),
    ("http://[::ffff:127.0.0.1]/x.mp4", "loopback_address"),
    ("http://[::ffff:10.1.2.3]/x.mp4", "private_address"),
    ("http://[fe80::1]/x.mp4", "link_local_address"),
    ("http://[fc00::1]/x.mp4", "private_address"),
    ("http://0.0.0.0/x.mp4", "unspecified_address"),
    ("http://[::]/x.mp4", "unspecified_address"),
    ("http://2130706433/", "loopback_address"),  # decimal 127.0.0.1
    ("http://0177.0.0.1/", "loopback_address"),  # octal 127.0.0.1
    ("http://0x7f.1/", "loopback_address"),  # hex + short form
    ("http://0xa000001/", "private_address"),  # 10.0.0.1
    ("http://224.0.0.1/", "multicast_address"),
    ("http://240.0.0.1/", "reserved_address"),
    ("http://100.64.0.1/", "private_address"),  # CGNAT
    ("http://localhost/", "loopback_address"),  # real resolver: /etc/hosts
    ("file:///etc/passwd", "scheme_not_allowed"),
    ("ftp://example.com/x.mp4", "scheme_not_allowed"),
    ("gopher://example.com/_x", "scheme_not_allowed"),
    ("javascript:alert(1)", "scheme_not_allowed"),
    ("http://user:pw@example.com/", "invalid_url"),
    ("http://127.0.0.1@10.0.0.1/", "invalid_url"),
    ("http:///nohost", "invalid_url"),
    ("http://exa mple.com/", "invalid_url"),
    ("http://example.com\\@10.0.0.1/", "invalid_url"),
    ("http://999999999999/", "invalid_url"),
]


@pytest.mark.parametrize(("url", "reason"), SSRF_MATRIX)
async def test_ssrf_matrix_is_refused_with_its_reason(url: str, reason: str, tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    with pytest.raises(FetchError) as ei:
        await fetch(url, dest, max_bytes=1000, cfg=FetchConfig())
    assert ei.value.reason == reason, ei.value
    assert ei.value.url == url
    assert only_file(tmp_path) == []


def test_address_classification_of_embedded_ipv4() -> None:
    ip = ipaddress.ip_address
    assert address_refusal(ip("8.8.8.8")) is None
    assert address_refusal(ip("2606:4700:4700::1111")) is None
    assert address_refusal(ip("::ffff:8.8.8.8")) is None
    assert address_refusal(ip("2002:7f00:1::")) == "loopback_address"  # 6to4 of 127.0.0.1
    assert address_refusal(ip("64:ff9b::a00:1")) == "private_address"  # NAT64 of 10.0.0.1
    assert address_refusal(ip("64:ff9b::808:808")) is None  # NAT64 of a public address
    assert address_refusal(ip("fec0::1")) == "private_address"  # deprecated site-local


def test_redact_drops_the_query() -> None:
    assert redact("https://h:9/b/k.mp4?X-Amz-Signature=secret#f") == "https://h:9/b/k.mp4"


def test_odd_ipv4_notations_normalise_like_inet_aton() -> None:
    assert parse_ip_host("2130706433") == ipaddress.IPv4Address("127.0.0.1")
    assert parse_ip_host("0177.0.0.1") == ipaddress.IPv4Address("127.0.0.1")
    assert parse_ip_host("0x7f000001") == ipaddress.IPv4Address("127.0.0.1")
    assert parse_ip_host("10.1") == ipaddress.IPv4Address("10.0.0.1")
    assert parse_ip_host("::ffff:127.0.0.1") == ipaddress.IPv6Address("::ffff:127.0.0.1")
    assert parse_ip_host("example.com") is None
    assert parse_ip_host("1e100.net") is None


async def test_public_name_resolving_to_private_address_is_refused(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    seen: list[str] = []

    def fake_resolve(host: str, port: int) -> list[Any]:
        seen.append(host)
        return {"cdn.example.com": [ipaddress.ip_address("10.0.0.1")],
                "mixed.example.com": [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("127.0.0.1")]}[host]

    monkeypatch.setattr(fetch_mod, "resolve_host", fake_resolve)
    with pytest.raises(FetchError) as ei:
        await fetch("https://cdn.example.com/video.mp4", tmp_path / "o", cfg=ALLOW_LOCAL)
    assert ei.value.reason == "private_address" and "cdn.example.com" in ei.value.detail
    # one bad address among good ones is enough to refuse
    with pytest.raises(FetchError) as ei:
        await fetch("http://mixed.example.com/v.mp4", tmp_path / "o", cfg=ALLOW_LOCAL)
    assert ei.value.reason == "loopback_address"
    assert seen == ["cdn.example.com", "mixed.example.com"]
    assert only_file(tmp_path) == []


async def test_dns_failure_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def no_dns(host: str, port: int) -> list[Any]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(fetch_mod, "resolve_host", no_dns)
    with pytest.raises(FetchError) as ei:
        await fetch("http://missing.example.com/", tmp_path / "o")
    assert ei.value.reason == "dns_failure"


# ---------------------------------------------------------------- against a real local server


async def test_download_ok_with_sha256_and_atomic_replace(server: TestServer, tmp_path: Path) -> None:
    dest = tmp_path / "out.mp4"
    dest.write_bytes(b"previous")
    query = "X-Amz-Credential=test%2F20260101%2Fus-east-1&X-Amz-Expires=60&X-Amz-Signature=ab+c%3D"
    res = await fetch(f"{server.base}/ok/300000?{query}", dest, max_bytes=300000, cfg=ALLOW_LOCAL)
    data = body_of(300000)
    assert res.sha256 == hashlib.sha256(data).hexdigest() and res.size == 300000
    assert dest.read_bytes() == data
    assert res.path == dest and res.content_type == "video/mp4" and res.redirects == 0
    assert res.final_url == f"{server.base}/ok/300000?{query}"
    assert only_file(tmp_path) == ["out.mp4"]
    # the request target is byte-identical (a presigned signature covers it), the Host header is
    # the URL's host:port, and the body was asked for unencoded
    target, headers = server.requests[-1]
    assert target == f"/ok/300000?{query}"
    assert headers["host"] == f"127.0.0.1:{server.port}" and headers["accept-encoding"] == "identity"


async def test_loopback_server_refused_without_allowlist(server: TestServer, tmp_path: Path) -> None:
    with pytest.raises(FetchError) as ei:
        await fetch(f"{server.base}/ok/10", tmp_path / "o", cfg=FetchConfig())
    assert ei.value.reason == "loopback_address"
    assert server.requests == []  # refused before any connection


async def test_allowlist_by_cidr(server: TestServer, tmp_path: Path) -> None:
    res = await fetch(f"{server.base}/ok/10", tmp_path / "o", cfg=FetchConfig(allow_hosts=["127.0.0.0/8"]))
    assert res.size == 10


async def test_redirect_from_allowed_host_to_private_is_refused(server: TestServer, tmp_path: Path) -> None:
    url = f"{server.base}/redirect?to=http://10.0.0.1/secret"
    with pytest.raises(FetchError) as ei:
        await fetch(url, tmp_path / "o", cfg=ALLOW_LOCAL)
    assert ei.value.reason == "private_address"
    assert len(server.requests) == 1
    with pytest.raises(FetchError) as ei:
        await fetch(f"{server.base}/redirect?to=file:///etc/passwd", tmp_path / "o", cfg=ALLOW_LOCAL)
    assert ei.value.reason == "scheme_not_allowed"
    assert only_file(tmp_path) == []


async def test_redirect_limit(server: TestServer, tmp_path: Path) -> None:
    res = await fetch(f"{server.base}/chain/3", tmp_path / "o", cfg=ALLOW_LOCAL)
    assert res.redirects == 3 and res.final_url == f"{server.base}/chain/0"
    assert (tmp_path / "o").read_bytes() == b"done"
    with pytest.raises(FetchError) as ei:
        await fetch(f"{server.base}/chain/4", tmp_path / "o2", cfg=ALLOW_LOCAL)
    assert ei.value.reason == "too_many_redirects"
    assert only_file(tmp_path) == ["o"]


async def test_body_over_the_cap_is_aborted_and_nothing_kept(server: TestServer, tmp_path: Path) -> None:
    dest = tmp_path / "o"
    started = time.monotonic()
    with pytest.raises(FetchError) as ei:
        await fetch(f"{server.base}/unbounded/{200 * 1024 * 1024}", dest, max_bytes=1_000_000, cfg=ALLOW_LOCAL)
    assert ei.value.reason == "too_large"
    assert time.monotonic() - started < 5  # aborted at the cap, not after reading 200 MB
    assert only_file(tmp_path) == []
    # a declared Content-Length over the cap is refused before the body is read
    with pytest.raises(FetchError) as ei:
        await fetch(f"{server.base}/declared/5000", dest, max_bytes=4999, cfg=ALLOW_LOCAL)
    assert ei.value.reason == "too_large" and "Content-Length" in ei.value.detail
    assert only_file(tmp_path) == []
    # exactly at the cap is fine
    assert (await fetch(f"{server.base}/declared/5000", dest, max_bytes=5000, cfg=ALLOW_LOCAL)).size == 5000


async def test_drip_feed_stops_at_total_timeout(server: TestServer, tmp_path: Path) -> None:
    cfg = FetchConfig(allow_hosts=["127.0.0.1"], read_timeout_s=5, total_timeout_s=2)
    started = time.monotonic()
    with pytest.raises(FetchError) as ei:
        await fetch(f"{server.base}/drip", tmp_path / "o", cfg=cfg)
    elapsed = time.monotonic() - started
    assert ei.value.reason == "timeout" and "total" in ei.value.detail
    assert elapsed >= 1.9  # the total budget, not the 5 s read timeout, ended it ("total" above)
    assert only_file(tmp_path) == []


async def test_http_error_status_and_truncated_body(server: TestServer, tmp_path: Path) -> None:
    dest = tmp_path / "o"
    dest.write_bytes(b"keep")
    with pytest.raises(FetchError) as ei:
        await fetch(f"{server.base}/missing", dest, cfg=ALLOW_LOCAL)
    assert ei.value.reason == "http_status" and "404" in ei.value.detail
    with pytest.raises(FetchError) as ei:
        await fetch(f"{server.base}/short", dest, cfg=ALLOW_LOCAL)
    assert ei.value.reason == "transport_error"
    assert dest.read_bytes() == b"keep" and only_file(tmp_path) == ["o"]  # old file untouched


async def test_connection_is_pinned_to_the_checked_address(
    server: TestServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The name is resolved once; the connection goes to that address with the original Host."""
    answers = iter([[ipaddress.ip_address("127.0.0.1")], [ipaddress.ip_address("10.0.0.1")]])
    calls: list[str] = []

    def rebinding_resolver(host: str, port: int) -> list[Any]:
        calls.append(host)
        return next(answers)

    monkeypatch.setattr(fetch_mod, "resolve_host", rebinding_resolver)
    cfg = FetchConfig(allow_hosts=["media.localnet.test"], total_timeout_s=10)
    res = await fetch(f"http://media.localnet.test:{server.port}/echo-host", tmp_path / "o", cfg=cfg)
    assert (tmp_path / "o").read_bytes() == f"media.localnet.test:{server.port}".encode()
    assert res.final_url == f"http://media.localnet.test:{server.port}/echo-host"
    assert calls == ["media.localnet.test"]  # one lookup: no second resolution to rebind


async def test_connect_refused_is_named(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound but not listening: connection refused
        with pytest.raises(FetchError) as ei:
            await fetch(f"http://127.0.0.1:{port}/x", tmp_path / "o", cfg=ALLOW_LOCAL)
    assert ei.value.reason == "connect_failed"
    assert only_file(tmp_path) == []


# ---------------------------------------------------------------- https: pinned IP, SNI and cert by name


def _make_ca_and_leaf(tmp: Path, name: str) -> tuple[Path, Path, Path]:
    """A throwaway CA and a leaf certificate for `name` (PEM files)."""
    pytest.importorskip("cryptography")  # installed with moto
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vidaio test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem, cert_pem, key_pem = tmp / "ca.pem", tmp / "leaf.pem", tmp / "leaf.key"
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return ca_pem, cert_pem, key_pem


async def test_https_connects_to_pinned_ip_with_sni_and_cert_checked_by_name(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import ssl

    name = "s3.miner.test"
    certs = tmp_path / "certs"
    certs.mkdir()
    ca_pem, cert_pem, key_pem = _make_ca_and_leaf(certs, name)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert_pem, key_pem)
    sni_seen: list[str | None] = []
    server_ctx.sni_callback = lambda sock, sni, ctx: sni_seen.append(sni)  # type: ignore[assignment,misc]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            host = [ln.split(":", 1)[1].strip() for ln in head.decode().split("\r\n") if ln.lower().startswith("host:")]
            body = (host[0] if host else "").encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=server_ctx)
    port = srv.sockets[0].getsockname()[1]
    monkeypatch.setattr(fetch_mod, "resolve_host", lambda host, p: [ipaddress.ip_address("127.0.0.1")])
    out = tmp_path / "dl"
    out.mkdir()
    try:
        cfg = FetchConfig(allow_hosts=[name, "other.test"], ca_file=ca_pem, total_timeout_s=10)
        res = await fetch(f"https://{name}:{port}/obj.mp4", out / "o", cfg=cfg)
        assert (out / "o").read_bytes() == f"{name}:{port}".encode()  # Host header is the name
        assert sni_seen == [name]  # SNI is the name although we connected to 127.0.0.1
        assert res.final_url == f"https://{name}:{port}/obj.mp4"
        # the certificate is checked against the URL's name: another name on the same IP fails
        with pytest.raises(FetchError) as ei:
            await fetch(f"https://other.test:{port}/obj.mp4", out / "o2", cfg=cfg)
        assert ei.value.reason == "tls_error"
        # and without our CA the chain does not verify
        with pytest.raises(FetchError) as ei:
            await fetch(f"https://{name}:{port}/obj.mp4", out / "o3", cfg=FetchConfig(allow_hosts=[name]))
        assert ei.value.reason == "tls_error"
        assert only_file(out) == ["o"]
    finally:
        srv.close()
        await srv.wait_closed()
