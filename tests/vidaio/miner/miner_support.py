"""Helpers for the miner tests: wallets, a SIMULATED localnet chain file with a permitted validator,
a local moto S3 endpoint, presigned inputs, miner configs and a miner subprocess.

Imported by name (pytest puts this directory on sys.path), not through conftest.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from vidaio.chain.localnet import LocalnetChain
from vidaio.chain.wallets import create_wallet
from vidaio.miner.config import MinerConfig
from vidaio.storage.local import LocalS3, free_port
from vidaio.storage.s3 import build_client

REPO = Path(__file__).resolve().parents[3]
VALIDATOR_STAKE = 5000.0
MIN_STAKE = 100.0
WALLET_NAMES = ("validator", "stranger", "miner_a", "miner_b", "miner_c", "miner_d")


@dataclass
class World:
    """Everything a miner needs around it, all local."""

    root: Path
    wallets: dict[str, Any]
    chain_path: Path
    s3: LocalS3
    in_bucket: str
    out_bucket: str

    @property
    def validator_keypair(self) -> Any:
        return self.wallets["validator"].hotkey

    def hotkey(self, name: str) -> str:
        return str(self.wallets[name].hotkey.ss58_address)

    def chain(self) -> LocalnetChain:
        return LocalnetChain(self.chain_path, hotkey=self.hotkey("validator"), netuid=1, block_time_s=1.0)


def build_world(root: Path, s3: LocalS3) -> World:
    """Wallets, a chain file (validator: permit + stake; miners registered), two fresh buckets."""
    wallets = {n: create_wallet(n, "hk", root / "wallets") for n in WALLET_NAMES}
    tag = uuid.uuid4().hex[:12]
    world = World(root, wallets, root / "chain.sqlite", s3, f"in-{tag}", f"out-{tag}")
    chain = world.chain()
    chain.register(world.hotkey("validator"), stake=VALIDATOR_STAKE, validator_permit=True)
    for name in WALLET_NAMES[2:]:
        chain.register(world.hotkey(name), stake=0.0)
    client = build_client(s3.storage_config(world.in_bucket))
    try:
        for bucket in (world.in_bucket, world.out_bucket):
            client.create_bucket(Bucket=bucket)
    finally:
        client.close()
    return world


def presigned_input(world: World, path: Path, key: str | None = None) -> str:
    """Upload a clip to the validator's bucket (as the validator would) and presign a GET URL."""
    key = key or f"inputs/{uuid.uuid4().hex}.mp4"
    client = build_client(world.s3.storage_config(world.in_bucket))
    try:
        client.upload_file(str(path), world.in_bucket, key)
        return str(
            client.generate_presigned_url("get_object", Params={"Bucket": world.in_bucket, "Key": key}, ExpiresIn=600)
        )
    finally:
        client.close()


def output_keys(world: World) -> list[str]:
    client = build_client(world.s3.storage_config(world.out_bucket))
    try:
        return [o["Key"] for o in client.list_objects_v2(Bucket=world.out_bucket).get("Contents", [])]
    finally:
        client.close()


def delete_output(world: World, key: str) -> None:
    client = build_client(world.s3.storage_config(world.out_bucket))
    try:
        client.delete_object(Bucket=world.out_bucket, Key=key)
    finally:
        client.close()


def download(url: str, dest: Path) -> Path:
    with httpx.Client(trust_env=False, timeout=30) as client:
        resp = client.get(url)
        resp.raise_for_status()
        dest.write_bytes(resp.content)
    return dest


def leftovers(work_dir: Path) -> list[Path]:
    """Every file or directory under the miner's work dir (must be empty between tasks)."""
    return sorted(work_dir.rglob("*")) if work_dir.exists() else []


def miner_settings(world: World, wallet: str, work_dir: Path, port: int = 0, **miner: Any) -> dict[str, Any]:
    """Nested settings of a miner bound to 127.0.0.1 in this world (for MinerConfig or env vars)."""
    base_miner: dict[str, Any] = {
        "work_dir": str(work_dir), "deadline_margin_s": 0.5, "shutdown_grace_s": 0.0, "profile": "tiny",
        "max_content_length": 10,
    }  # fmt: skip
    base_miner.update(miner)
    return {
        "wallet": {"name": wallet, "hotkey": "hk", "path": str(world.root / "wallets")},
        "chain": {"backend": "localnet", "localnet_path": str(world.chain_path), "netuid": 1, "block_time_s": 1.0},
        "server": {
            "host": "127.0.0.1", "port": port, "min_validator_stake": MIN_STAKE, "metagraph_refresh_s": 30.0,
        },  # fmt: skip
        "storage": {
            "endpoint_url": world.s3.endpoint_url, "bucket": world.out_bucket, "access_key_id": "test",
            "secret_access_key": "test", "max_retries": 1, "retry_backoff_s": 0.05,
        },  # fmt: skip
        "fetch": {"allow_hosts": ["127.0.0.1"], "total_timeout_s": 30.0},
        "log": {"to_file": False, "level": "DEBUG"},
        "miner": base_miner,
    }


def miner_config(world: World, wallet: str, work_dir: Path, **miner: Any) -> MinerConfig:
    return MinerConfig(_env_file=None, **miner_settings(world, wallet, work_dir, **miner))  # type: ignore[arg-type]


def to_env(settings: dict[str, Any], prefix: str = "VIDAIO_") -> dict[str, str]:
    """Flatten nested settings into VIDAIO_SECTION__FIELD env vars (lists as JSON)."""
    import json

    env: dict[str, str] = {}
    for key, value in settings.items():
        name = f"{prefix}{key.upper()}"
        if isinstance(value, dict):
            env.update(to_env(value, f"{name}__"))
        elif isinstance(value, list | tuple):
            env[name] = json.dumps(list(value))
        elif isinstance(value, bool):
            env[name] = "true" if value else "false"
        else:
            env[name] = str(value)
    return env


class MinerProcess:
    """`python -m neurons.miner` configured only through env vars, run from an empty directory."""

    def __init__(self, world: World, wallet: str, run_dir: Path, **miner: Any) -> None:
        self.world = world
        self.wallet = wallet
        self.run_dir = run_dir
        self.work_dir = run_dir / "work"
        self.log_dir = run_dir / "logs"
        self.port = free_port()
        run_dir.mkdir(parents=True, exist_ok=True)
        settings = miner_settings(world, wallet, self.work_dir, port=self.port, **miner)
        settings["log"] = {"to_file": True, "dir": str(self.log_dir), "level": "DEBUG"}
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIDAIO_")}
        env.update(to_env(settings))
        env.update({"HOME": str(run_dir / "home"), "PYTHONUNBUFFERED": "1"})
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
        self.env = env
        self.stderr_path = run_dir / "stderr.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def axon(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def hotkey(self) -> str:
        return self.world.hotkey(self.wallet)

    def start(self, timeout_s: float = 90.0) -> MinerProcess:
        with open(self.stderr_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "neurons.miner"], cwd=self.run_dir, env=self.env,
                stdin=subprocess.DEVNULL, stdout=err, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"miner exited with {self.proc.returncode} during start-up:\n{self.output()}")
            try:
                health = httpx.get(f"http://{self.axon}/health", timeout=1.0, trust_env=False).json()
                if health.get("metagraph_loaded") and self.world.chain().snapshot().by_hotkey(self.hotkey).axon:
                    return self
            except (httpx.HTTPError, ValueError):
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"miner not ready after {timeout_s}s:\n{self.output()}")

    def output(self) -> str:
        text = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return text[-6000:]

    def log_text(self) -> str:
        path = self.log_dir / "miner.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def signal(self, sig: int = signal.SIGINT) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout_s: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout_s)

    def stop(self, timeout_s: float = 20.0) -> int | None:
        """SIGINT, then SIGKILL if it does not exit in time; the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            return None
