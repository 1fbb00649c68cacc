"""`vidaio doctor`: check, in order, everything a miner or validator needs, one line each.

Each check returns a `Check` (ok, or the problem and its fix). The run stops early only where
the later checks cannot run (no configuration). The exit code of the command is the number of
problems. Checks do real work: the S3 check writes, presigns, reads back and deletes an object.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from vidaio.settings_load import ConfigError, load_settings
from vidaio.targets import chain_target, storage_target

Role = Literal["miner", "validator"]
MIN_FREE_BYTES = 2 * 1024**3


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        head = f"{'ok' if self.ok else 'PROBLEM':<8} {self.name:<10} {self.detail}"
        return head if self.ok or not self.fix else f"{head} -> fix: {self.fix}"


def _ok(name: str, detail: str) -> Check:
    return Check(name, True, detail)


def _problem(name: str, detail: str, fix: str) -> Check:
    return Check(name, False, " ".join(detail.split()), fix)


def _model(role: Role) -> type[Any]:
    if role == "miner":
        from vidaio.miner.config import MinerConfig

        return MinerConfig
    from vidaio.validator.config import ValidatorConfig

    return ValidatorConfig


def check_config(role: Role, env_file: Path | None, overrides: dict[str, Any]) -> tuple[Check, Any]:
    model = _model(role)
    source = env_file if env_file is not None else Path(".env")
    env_count = sum(1 for k in os.environ if k.upper().startswith("VIDAIO_"))
    where = f"env file {source}" if source.is_file() else "no env file"
    try:
        cfg = load_settings(model, env_file, overrides, strict=False)
    except ConfigError as exc:
        return _problem("config", str(exc), "correct the named setting (see .env.example)"), None
    return _ok("config", f"{role} settings from {where}, {env_count} VIDAIO_* env var(s), {len(overrides)} --set"), cfg


def check_keys(env_file: Path | None) -> Check:
    from vidaio.settings_keys import check_env

    problems = check_env(env_file if env_file is not None else Path(".env"))
    if problems:
        return _problem("keys", "; ".join(problems), "rename or remove the key (every setting is in .env.example)")
    return _ok("keys", "every VIDAIO_* key names a setting")


def check_wallet(cfg: Any) -> tuple[Check, Any]:
    from vidaio.chain.wallets import WalletError, load_wallet

    try:
        wallet = load_wallet(cfg.wallet)
    except WalletError as exc:
        return _problem(
            "wallet", str(exc), "create it (vidaio wallet create / btcli wallet new_hotkey) or set wallet.name, "
            "wallet.hotkey and wallet.path"
        ), None  # fmt: skip
    return _ok("wallet", f"{cfg.wallet.name}/{cfg.wallet.hotkey} hotkey {wallet.hotkey.ss58_address}"), wallet


async def check_chain(cfg: Any, wallet: Any, role: Role) -> list[Check]:
    from vidaio.chain.factory import make_chain

    where = chain_target(cfg.chain)
    chain = make_chain(cfg.chain, wallet)
    try:
        try:
            snapshot = await asyncio.wait_for(chain.metagraph(), cfg.chain.call_timeout_s + 5)
        except Exception as exc:
            reason = " ".join(str(exc).split()) or type(exc).__name__
            return [_problem("chain", f"cannot read {where}: {reason}", "check chain.network and that the endpoint "
                             "is reachable from this host")]  # fmt: skip
        checks = [_ok("chain", f"{where} reachable at block {snapshot.block}, {len(snapshot.neurons)} neurons")]
        hotkey = wallet.hotkey.ss58_address
        me = snapshot.by_hotkey(hotkey)
        if me is None:
            checks.append(_problem("hotkey", f"{hotkey} is not registered on {where}",
                                   "register it (btcli subnet register; on a local subnet: vidaio localnet register)"))
        elif role == "validator" and not me.validator_permit:
            checks.append(_problem("hotkey", f"uid {me.uid} has no validator permit (stake {me.stake:g})",
                                   "add stake until the subnet grants a validator permit"))  # fmt: skip
        else:
            checks.append(_ok("hotkey", f"uid {me.uid}, permit {me.validator_permit}, stake {me.stake:g}"))
        return checks
    finally:
        with contextlib.suppress(Exception):
            await chain.close()


async def check_storage(cfg: Any) -> Check:
    from vidaio.storage.errors import StorageError
    from vidaio.storage.s3 import S3Store

    where = storage_target(cfg.storage)
    quiet = cfg.storage.model_copy(update={"max_retries": 0})
    store = S3Store(quiet)
    key = f"doctor/{uuid.uuid4().hex}.txt"
    payload = f"vidaio doctor {uuid.uuid4().hex}\n".encode()
    try:
        with tempfile.TemporaryDirectory(prefix="vidaio-doctor-") as tmp:
            path = Path(tmp) / "probe.txt"
            path.write_bytes(payload)
            try:
                await store.ensure_bucket()
                await store.upload(path, key, content_type="text/plain")
                url = (await store.presign_get(key, 300)).url
                got = await asyncio.to_thread(_http_get, url)
            except StorageError as exc:
                return _problem("storage", str(exc), "check storage.endpoint_url, storage.bucket and the key pair")
            except OSError as exc:
                return _problem("storage", f"presigned GET on {where} failed: {exc}",
                                "the endpoint must be reachable at the URL it signs (storage.endpoint_url)")  # fmt: skip
            finally:
                with contextlib.suppress(Exception):
                    await store.delete(key)
        if got != payload:
            return _problem("storage", f"presigned GET on {where} returned other bytes", "check the endpoint/proxy")
        return _ok("storage", f"write, presign, read and delete on {where}")
    finally:
        store.close()


def _http_get(url: str) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=15) as resp:
        return bytes(resp.read())


def check_port(cfg: Any) -> Check:
    """The miner's published ip:port answers a TCP connect from this host.

    Nothing listening on server.port yet (miner not started): listen on it for the check.
    """
    from vidaio.miner.daemon import published_address

    server = cfg.server
    ip, port = published_address(server, server.port)
    listener: socket.socket | None = None
    try:
        if server.port:
            listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                listener.bind((server.host, server.port))
                listener.listen(1)
            except OSError:
                listener.close()
                listener = None  # in use: a running miner (or another program) holds it
        try:
            with socket.create_connection((ip, port), timeout=5):
                pass
        except OSError as exc:
            return _problem("port", f"public address {ip}:{port} is not reachable from this host: {exc}",
                            "open the port in the firewall / NAT, or set server.external_ip and "
                            "server.external_port to the address validators can reach")  # fmt: skip
        held = "held by a running process" if listener is None and server.port else "free"
        return _ok("port", f"public address {ip}:{port} reachable (server.port {server.port} {held})")
    finally:
        if listener is not None:
            listener.close()


def check_ffmpeg(cfg: Any) -> Check:
    from scoring.media.ffmpeg import ffmpeg_exe

    try:
        exe = ffmpeg_exe(cfg.metrics.ffmpeg_path)
        out = subprocess.run([exe, "-hide_banner", "-filters"], capture_output=True, text=True, timeout=30).stdout
    except Exception as exc:
        return _problem("ffmpeg", f"no usable ffmpeg: {exc}", "install the project (make setup) or set "
                        "metrics.ffmpeg_path")  # fmt: skip
    if "libvmaf" not in out:
        return _problem("ffmpeg", f"{exe} has no libvmaf filter", "use the imageio-ffmpeg binary (unset "
                        "metrics.ffmpeg_path) or an ffmpeg built with --enable-libvmaf")  # fmt: skip
    return _ok("ffmpeg", f"{exe} with libvmaf")


def check_pieapp(cfg: Any) -> Check:
    from scoring.metrics.pieapp_backends import PieAppWeightsError, find_weights

    metrics = cfg.effective_metrics()
    if not cfg.validator.upscaling_types:
        return _ok("pieapp", "not needed (no upscaling types scored)")
    try:
        path = find_weights(metrics.pieapp_backend, metrics.pieapp_weights_path, allow_random=metrics.allow_random_weights)
    except PieAppWeightsError as exc:
        return _problem("pieapp", str(exc), "download the PIE-APP weights to metrics.pieapp_weights_path "
                        "(see docs/operations.md)")  # fmt: skip
    return _ok("pieapp", f"weights {path}" if path else "RANDOM weights (demo/test run only)")


def check_upscaler(cfg: Any) -> Check:
    s = cfg.miner
    if str(getattr(s.task_type, "value", s.task_type)) != "upscaling":
        return _ok("sr", "not needed (compression miner)")
    up = s.upscaling
    if up.engine != "model":
        return _ok("sr", f"engine {up.engine} (no weights, no GPU needed)")
    weights = up.model_weights() if callable(getattr(up, "model_weights", None)) else up.weights_path
    if weights is None or not Path(weights).is_file():
        return _problem("sr", f"SR weights {weights} not found", "convert or download them (docs/operations.md) "
                        "or set miner.upscaling.weights_path")  # fmt: skip
    import torch

    gpu = torch.cuda.is_available()
    if up.device == "cuda" and not gpu:
        return _problem("sr", "miner.upscaling.device=cuda but no CUDA GPU is visible", "install the GPU driver/"
                        "CUDA torch, or use engine lanczos")  # fmt: skip
    where = torch.cuda.get_device_name(0) if gpu else "CPU only (slow: ~90 s per 540p frame)"
    return _ok("sr", f"weights {weights}, {where}")


def check_db(cfg: Any) -> Check:
    from vidaio.db.migrate import current_revision, head_revision

    path = Path(cfg.db.path).expanduser()
    if not path.parent.is_dir():
        return _problem("db", f"directory {path.parent} of db.path does not exist",
                        f"fix VIDAIO_DB__PATH, or create the database: vidaio db upgrade --db {path}")  # fmt: skip
    if not path.is_file():
        return _problem("db", f"database {path} does not exist yet", f"vidaio db upgrade --db {path}")
    try:
        rev, head = current_revision(path), head_revision()
    except Exception as exc:
        return _problem("db", f"{path} is not readable: {exc}", "restore it from a backup or move it away")
    if rev != head:
        return _problem("db", f"{path} schema {rev}, this version needs {head}", f"vidaio db upgrade --db {path}")
    return _ok("db", f"{path} schema {rev} (current)")


def check_disk(paths: list[Path]) -> Check:
    worst: tuple[int, Path] | None = None
    for p in paths:
        q = Path(p).expanduser().resolve()
        while not q.exists() and q != q.parent:
            q = q.parent
        free = shutil.disk_usage(q).free
        if worst is None or free < worst[0]:
            worst = (free, q)
    assert worst is not None
    free, where = worst
    if free < MIN_FREE_BYTES:
        return _problem("disk", f"{free / 1024**3:.1f} GiB free under {where}", "free space (at least 2 GiB)")
    return _ok("disk", f"{free / 1024**3:.1f} GiB free under {where}")


async def run_checks(
    role: Role, env_file: Path | None = None, overrides: dict[str, Any] | None = None,
    on_check: Callable[[Check], None] | None = None,
) -> list[Check]:  # fmt: skip
    """Every check in order; `on_check` sees each as it completes."""
    results: list[Check] = []

    def add(c: Check) -> None:
        results.append(c)
        if on_check is not None:
            on_check(c)

    config, cfg = check_config(role, env_file, overrides or {})
    add(config)
    add(check_keys(env_file))
    if cfg is None:
        return results
    wallet_check, wallet = check_wallet(cfg)
    add(wallet_check)
    if wallet is not None:
        for c in await check_chain(cfg, wallet, role):
            add(c)
    add(await check_storage(cfg))
    if role == "miner":
        add(check_port(cfg))
    add(check_ffmpeg(cfg))
    if role == "validator":
        add(check_pieapp(cfg))
        add(check_db(cfg))
        add(check_disk([cfg.validator.work_dir, Path(cfg.db.path).parent]))
    else:
        add(check_upscaler(cfg))
        add(check_disk([Path(cfg.miner.work_dir)]))
    return results


def as_json(checks: list[Check]) -> list[dict[str, Any]]:
    return [asdict(c) for c in checks]
