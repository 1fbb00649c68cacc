"""The one safe fetcher for every URL that came from another party (docs/protocol.md#outputs-and-downloads).

`await fetch(url, dest, max_bytes=..., cfg=...)` streams an http(s) URL to `dest` and returns its
size and sha256, or raises `FetchError(reason, detail)`. What it enforces, per hop:

* scheme http/https only; no user info, control characters or backslashes in the URL;
* the host is normalised (IDNA, lower case, trailing dot; IPv4 in decimal/octal/hex/short
  notation read with `inet_aton` semantics, as the OS resolver would) and resolved once; every
  resolved address must be public: loopback, private, link-local, multicast, reserved,
  unspecified, CGNAT, site-local and IPv4-embedded IPv6 (mapped, 6to4, NAT64) are refused,
  unless the URL's host is listed in `allow_hosts` (exact name, IP, or CIDR for IP hosts);
* the connection goes to the address that was checked (no second DNS lookup, so no rebinding):
  the request URL carries the pinned IP, the `Host` header carries the original host[:port]
  and, for https, the `sni_hostname` extension carries the original name, so SNI and
  certificate verification are done against the name, not the IP. Proxies from the
  environment are ignored (`trust_env=False`), since a proxy would resolve the name again;
* redirects are followed by hand, each hop checked again, at most `max_redirects`;
* a byte cap (Content-Length checked first, then counted while streaming), connect/read
  timeouts per hop and one total timeout over DNS, connects, redirects and body;
* the body goes to a temp file next to `dest`, renamed into place only when complete; on any
  failure the temp file is removed and an existing `dest` is left untouched.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import ipaddress
import os
import re
import socket
import ssl
import tempfile
import time
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

import httpx
from loguru import logger
from pydantic import BaseModel, Field

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})
_INET_ATON = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}$")
_HOSTNAME = re.compile(r"^[a-z0-9_]([a-z0-9_\-]{0,62})(\.[a-z0-9_]([a-z0-9_\-]{0,62}))*$")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_THIS_NET = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_MAX_URL_LEN = 8192


class FetchConfig(BaseModel):
    """Limits of the safe fetcher (env prefix `VIDAIO_FETCH__`)."""

    allow_hosts: list[str] = Field(
        default_factory=list,
        description='Hosts exempt from the address checks: names, IPs or CIDRs, e.g. ["127.0.0.1", "localhost"] on localnet.',
    )
    max_bytes: int = Field(
        2 * 1024**3, ge=1, le=64 * 1024**3, description="Default byte cap of one download (per-call max_bytes wins)."
    )
    connect_timeout_s: float = Field(10.0, gt=0, le=300, description="Timeout of DNS resolution and of each connect.")
    read_timeout_s: float = Field(30.0, gt=0, le=3600, description="Longest wait for the next bytes of a response.")
    total_timeout_s: float = Field(
        600.0, gt=0, le=24 * 3600, description="Timeout of the whole fetch: DNS, connects, redirects and body."
    )
    max_redirects: int = Field(3, ge=0, le=3, description="Redirect hops followed (each re-checked); at most 3 (docs/protocol.md#outputs-and-downloads).")
    chunk_bytes: int = Field(256 * 1024, ge=1024, le=16 * 1024**2, description="Read size while streaming.")
    verify_tls: bool = Field(True, description="Verify https certificates (keep on outside tests).")
    ca_file: Path | None = Field(
        None, description="PEM bundle of trusted CAs for https (default: certifi's public CAs)."
    )
    user_agent: str = Field("vidaio-fetch/1", max_length=200, description="User-Agent header sent.")


class FetchError(Exception):
    """A refused or failed fetch. `reason` is a stable token, `detail` says what exactly.

    Reasons: invalid_url, scheme_not_allowed, dns_failure, unspecified_address, loopback_address,
    link_local_address, multicast_address, private_address, reserved_address, too_many_redirects,
    too_large, timeout, http_status, connect_failed, tls_error, transport_error, incomplete_body,
    io_error.
    """

    def __init__(self, reason: str, detail: str = "", *, url: str | None = None) -> None:
        self.reason = reason
        self.detail = detail
        self.url = url
        super().__init__(f"{reason}: {detail}" if detail else reason)


class FetchResult(BaseModel):
    """A completed download."""

    path: Path
    size: int = Field(ge=0)
    sha256: str
    final_url: str
    content_type: str | None = None
    redirects: int = Field(0, ge=0)


# ---------------------------------------------------------------------------- address checks


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_refusal(ip: IPAddress) -> str | None:
    """The refusal reason for a non-public address, or None when `ip` may be fetched from."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            ip = ipaddress.IPv6Address(str(ip).split("%", 1)[0])
        inner = _embedded_ipv4(ip)
        if inner is not None:
            reason = address_refusal(inner)
            if reason is not None or ip.ipv4_mapped is not None or any(ip in net for net in _NAT64):
                return reason  # mapped and NAT64 addresses reach exactly the embedded IPv4; 6to4 goes on
    if ip.is_unspecified or (isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NET):
        return "unspecified_address"
    if ip.is_loopback:
        return "loopback_address"
    if ip.is_link_local:
        return "link_local_address"
    if ip.is_multicast:
        return "multicast_address"
    if ip.is_reserved:  # before is_private: Python counts 240.0.0.0/4 as private too
        return "reserved_address"
    if ip.is_private or (isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local) or ip in _CGNAT:
        return "private_address"
    if not ip.is_global:
        return "reserved_address"
    return None


def parse_ip_host(host: str) -> IPAddress | None:
    """`host` as an IP address (canonical, or IPv4 in inet_aton notation), None for a name.

    Raises FetchError(invalid_url) for a numeric host that is no valid address (e.g. 999999999999).
    """
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if _INET_ATON.match(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            raise FetchError("invalid_url", f"numeric host {host!r} is not a valid IPv4 address") from None
    return None


def resolve_host(host: str, port: int) -> list[IPAddress]:
    """Resolve a host name to its addresses (blocking; tests monkeypatch this function)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    out: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if ip not in out:
            out.append(ip)
    return out


def _allowlisted(host: str, ip_host: IPAddress | None, allow: list[str]) -> bool:
    for entry in allow:
        e = entry.strip().lower().rstrip(".").strip("[]")
        if not e:
            continue
        if ip_host is None:
            if e == host:
                return True
            continue
        try:
            if "/" in e:
                if ip_host in ipaddress.ip_network(e, strict=False):
                    return True
            elif ip_host == ipaddress.ip_address(e):
                return True
        except ValueError:
            continue
    return False


class _Target(BaseModel):
    """One checked hop: where we connect and what we tell the server."""

    url: str  # the URL as given (for redirects and the result)
    scheme: str
    host: str  # normalised host (name, or canonical IP)
    port: int
    ip: str  # the pinned address we connect to
    is_name: bool
    request_target: str  # path?query


def _parse(url: str) -> tuple[str, str, IPAddress | None, int, str]:
    if len(url) > _MAX_URL_LEN:
        raise FetchError("invalid_url", f"URL longer than {_MAX_URL_LEN} characters")
    if any(ord(c) < 0x21 or c in "\\\x7f" for c in url):
        raise FetchError("invalid_url", "URL contains whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FetchError("invalid_url", str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise FetchError("scheme_not_allowed", f"scheme {scheme or '(none)'!r} is not http or https")
    if parts.username is not None or parts.password is not None:
        raise FetchError("invalid_url", "user info in the URL is not allowed")
    raw_host = (parts.hostname or "").rstrip(".")
    if not raw_host:
        raise FetchError("invalid_url", "URL has no host")
    try:
        host = raw_host.encode("idna").decode("ascii").lower()
    except UnicodeError as exc:
        raise FetchError("invalid_url", f"host {raw_host!r} is not a valid name: {exc}") from None
    ip = parse_ip_host(host)
    if ip is None and not _HOSTNAME.match(host):
        raise FetchError("invalid_url", f"host {host!r} is not a valid name")
    target = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    if parts.query:
        target += "?" + quote(parts.query, safe="/%:@!$&'()*+,;=-._~?")
    return scheme, host, ip, port or (443 if scheme == "https" else 80), target


async def check_url(url: str, cfg: FetchConfig) -> _Target:
    """Validate one hop and pin the address to connect to; raise FetchError when refused."""
    scheme, host, ip_host, port, target = _parse(url)
    allowed = _allowlisted(host, ip_host, cfg.allow_hosts)
    if ip_host is not None:
        addrs: list[IPAddress] = [ip_host]
    else:
        try:
            addrs = await asyncio.wait_for(asyncio.to_thread(resolve_host, host, port), cfg.connect_timeout_s)
        except TimeoutError:
            raise FetchError("dns_failure", f"resolving {host!r} timed out", url=url) from None
        except (OSError, UnicodeError) as exc:
            raise FetchError("dns_failure", f"cannot resolve {host!r}: {exc}", url=url) from None
        if not addrs:
            raise FetchError("dns_failure", f"{host!r} resolved to no address", url=url)
    if not allowed:
        for a in addrs:
            reason = address_refusal(a)
            if reason is not None:
                via = "" if ip_host is not None and str(a) == host else f"{host!r} -> "
                raise FetchError(reason, f"{via}{a} is not a public address", url=url)
    return _Target(
        url=url,
        scheme=scheme,
        host=host,
        port=port,
        ip=str(addrs[0]),
        is_name=ip_host is None,
        request_target=target,
    )


# ---------------------------------------------------------------------------- streaming


def redact(url: str) -> str:
    """The URL without query and fragment (presigned signatures stay out of the logs)."""
    return url.split("?", 1)[0].split("#", 1)[0][:300]


def _host_header(t: _Target) -> str:
    h = f"[{t.host}]" if ":" in t.host else t.host
    default = 443 if t.scheme == "https" else 80
    return h if t.port == default else f"{h}:{t.port}"


def _pinned_url(t: _Target) -> httpx.URL:
    return httpx.URL(scheme=t.scheme, host=t.ip, port=t.port, raw_path=t.request_target.encode("ascii"))


async def _stream_body(resp: httpx.Response, tmp: Path, cap: int, chunk: int) -> tuple[int, str]:
    h = hashlib.sha256()
    size = 0
    with open(tmp, "wb") as fh:
        async for part in resp.aiter_raw(chunk):
            size += len(part)
            if size > cap:
                raise FetchError("too_large", f"body exceeds the cap of {cap} bytes")
            h.update(part)
            fh.write(part)  # page-cache write of <= chunk bytes; cheap enough to stay on the loop
    return size, h.hexdigest()


async def _fetch_hops(url: str, tmp: Path, cap: int, cfg: FetchConfig, client: httpx.AsyncClient) -> FetchResult:
    current = url
    for hop in range(cfg.max_redirects + 1):
        t = await check_url(current, cfg)
        headers = {
            "Host": _host_header(t),
            "User-Agent": cfg.user_agent,
            "Accept": "*/*",
            "Accept-Encoding": "identity",
        }
        ext = {"sni_hostname": t.host} if (t.scheme == "https" and t.is_name) else {}
        logger.debug("fetch hop {}: {} via {}", hop, redact(current), t.ip)
        async with client.stream("GET", _pinned_url(t), headers=headers, extensions=ext) as resp:
            if resp.status_code in REDIRECT_CODES:
                location = resp.headers.get("location")
                if not location:
                    raise FetchError("http_status", f"HTTP {resp.status_code} redirect without Location", url=current)
                current = urljoin(current, location.strip())
                continue
            if resp.status_code != 200:
                raise FetchError("http_status", f"HTTP {resp.status_code} from {t.host}", url=current)
            declared = resp.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > cap:
                raise FetchError("too_large", f"Content-Length {declared} exceeds the cap of {cap} bytes", url=current)
            size, digest = await _stream_body(resp, tmp, cap, cfg.chunk_bytes)
            if declared is not None and declared.isdigit() and int(declared) != size:
                raise FetchError("incomplete_body", f"got {size} of {declared} bytes", url=current)
            return FetchResult(
                path=tmp,
                size=size,
                sha256=digest,
                final_url=current,
                content_type=resp.headers.get("content-type"),
                redirects=hop,
            )
    raise FetchError("too_many_redirects", f"more than {cfg.max_redirects} redirects", url=current)


@functools.lru_cache(maxsize=8)
def _tls_context(ca_file: str | None) -> ssl.SSLContext:
    """One verifying TLS context per CA bundle, shared by every fetch.

    Building it (loading the CA bundle) costs ~150 ms of CPU; doing that per download made the
    fetcher the validator's bottleneck at 32+ miners (128 downloads: 33.6 s vs 3.0 s shared).
    SSLContext is safe to share between connections once configured."""
    import certifi  # httpx's own default CA bundle

    return ssl.create_default_context(cafile=ca_file if ca_file is not None else certifi.where())


async def fetch(url: str, dest: Path, *, max_bytes: int | None = None, cfg: FetchConfig | None = None) -> FetchResult:
    """Download `url` to `dest` under the checks of this module; raise FetchError on refusal."""
    cfg = cfg or FetchConfig()
    cap = cfg.max_bytes if max_bytes is None else int(max_bytes)
    if cap < 1:
        raise ValueError(f"max_bytes must be >= 1, got {cap}")
    verify: ssl.SSLContext | bool = False
    if cfg.verify_tls:
        try:
            verify = _tls_context(str(cfg.ca_file) if cfg.ca_file is not None else None)
        except (OSError, ssl.SSLError) as exc:
            raise FetchError("tls_error", f"cannot load ca_file {cfg.ca_file}: {exc}", url=url) from None
    timeout = httpx.Timeout(
        connect=cfg.connect_timeout_s, read=cfg.read_timeout_s, write=cfg.read_timeout_s, pool=cfg.connect_timeout_s
    )
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    started = time.monotonic()
    ok = False
    try:
        async with httpx.AsyncClient(
            trust_env=False, follow_redirects=False, timeout=timeout, verify=verify
        ) as client:
            try:
                async with asyncio.timeout(cfg.total_timeout_s):
                    result = await _fetch_hops(url, tmp, cap, cfg, client)
            except TimeoutError:
                raise FetchError("timeout", f"total timeout of {cfg.total_timeout_s}s exceeded", url=url) from None
            except httpx.TimeoutException as exc:
                raise FetchError("timeout", f"{type(exc).__name__}: {exc}", url=url) from None
            except httpx.ConnectError as exc:
                tls = isinstance(exc.__cause__ or exc.__context__, ssl.SSLError) or "SSL" in str(exc)
                reason = "tls_error" if tls else "connect_failed"
                raise FetchError(reason, str(exc) or type(exc).__name__, url=url) from None
            except httpx.TransportError as exc:
                raise FetchError("transport_error", f"{type(exc).__name__}: {exc}", url=url) from None
            except OSError as exc:
                raise FetchError("io_error", str(exc), url=url) from None
        os.replace(tmp, dest)
        ok = True
    except FetchError as exc:
        if exc.url is None:
            exc.url = url
        logger.warning("fetch refused/failed ({}): {} [{}]", exc.reason, exc.detail, redact(url))
        raise
    finally:
        if not ok:
            tmp.unlink(missing_ok=True)
    logger.debug("fetched {} bytes in {:.2f}s -> {}", result.size, time.monotonic() - started, dest)
    return result.model_copy(update={"path": dest})
