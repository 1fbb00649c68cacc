"""`vidaio localnet up` and `vidaio localnet register`: a local subnet a newcomer can join by hand.

`up` starts the local S3 endpoint, the SIMULATED chain and one validator (rounds forever) and
keeps them running until Ctrl-C; it writes `s3.json` so `register` can hand out settings.
`register --wallet NAME` creates the wallet if needed, registers its hotkey on the simulated
chain and writes `env/NAME.env`, ready for `vidaio miner run --env-file .localnet/env/NAME.env`.
"""

from __future__ import annotations

import re
from pathlib import Path

from vidaio.localnet.config import LocalnetSettings
from vidaio.localnet.envfile import write_env_file
from vidaio.localnet.layout import LocalnetLayout
from vidaio.localnet.prepare import (
    ENV_HEADER,
    HOTKEY_NAME,
    LOOPBACK,
    NETUID,
    bucket_name,
    common_settings,
    miner_settings,
)
from vidaio.localnet.procs import Interrupted, ProcessError
from vidaio.localnet.roster import NeuronSpec, default_roster
from vidaio.localnet.runner import LocalnetError, LocalnetRun, Observer, _acquire, _release
from vidaio.storage.local import LocalS3, create_buckets, free_port

S3_INFO = "s3.json"


def s3_info_path(layout: LocalnetLayout) -> Path:
    return layout.root / S3_INFO


class LocalnetUp(LocalnetRun):
    """S3 + simulated chain + one validator that runs rounds until stopped (no demo miners)."""

    def __init__(self, cfg: LocalnetSettings, observer: Observer | None = None, stop=None) -> None:  # type: ignore[no-untyped-def]
        validator = [s for s in default_roster(cfg.validator_stake) if s.role == "validator"]
        super().__init__(cfg, observer, stop, validator)

    def up(self) -> str | None:
        """Run until `stop`; the error text, or None after a clean Ctrl-C."""
        _acquire(self.layout)
        try:
            try:
                if not self.cfg.resume:
                    self.layout.reset(keep_wallets=True)
                self.layout.make_dirs()
                self._start_s3()
                self._prepare()
                assert self.s3_info is not None
                s3_info_path(self.layout).write_text(self.s3_info.model_dump_json(indent=2))
                validator = next(p for p in self.prepared if p.spec.role == "validator")
                _set_line(validator.env_file, "VIDAIO_VALIDATOR__MAX_ROUNDS", "0")  # rounds until stopped
                self.children["validator"] = child = self._start_validator()
                self.obs.phase(
                    f"local subnet up: S3 {self.s3_info.endpoint_url}, chain {self.layout.chain}, validator pid "
                    f"{child.pid} (log {child.log_path}); join it: vidaio localnet register --wallet NAME "
                    f"--dir {self.layout.root}; Ctrl-C stops"
                )
                while not self.stop.wait(1.0):
                    for name, c in self.children.items():
                        if not c.running():
                            raise ProcessError(
                                f"{name} exited with code {c.returncode}; last log lines ({c.log_path}):\n{c.tail()}"
                            )
            except Interrupted:
                pass
            except (LocalnetError, ProcessError) as exc:
                self.error = str(exc)
            finally:
                self._stop_all()
                s3_info_path(self.layout).unlink(missing_ok=True)
        finally:
            _release(self.layout)
        return self.error


def _set_line(env_file: Path, name: str, value: str) -> None:
    text = env_file.read_text()
    line = f"{name}={value}"
    pattern = re.compile(rf"^{re.escape(name)}=.*$", re.MULTILINE)
    env_file.write_text(pattern.sub(line, text) if pattern.search(text) else text.rstrip("\n") + f"\n{line}\n")


def register(
    directory: Path, wallet: str, *, hotkey: str = HOTKEY_NAME, wallet_path: Path | None = None, stake: float = 0.0,
    task_type: str = "compression",
) -> tuple[int, str, Path]:  # fmt: skip
    """Register `wallet`'s hotkey on the running local subnet; (uid, hotkey ss58, env file)."""
    from vidaio.chain.localnet import LocalnetChain
    from vidaio.chain.wallets import ensure_wallet

    layout = LocalnetLayout.at(directory)
    info_file = s3_info_path(layout)
    if not layout.chain.is_file() or not info_file.is_file():
        raise LocalnetError(f"no local subnet is up in {layout.root}: start it with `vidaio localnet up --dir {directory}`")
    s3 = LocalS3.model_validate_json(info_file.read_text())
    wallets = (wallet_path or layout.wallets).expanduser()
    w = ensure_wallet(wallet, hotkey, wallets)
    ss58 = w.hotkey.ss58_address
    chain = LocalnetChain(layout.chain, hotkey=ss58, netuid=NETUID)
    uid = chain.register(ss58, coldkey=w.coldkeypub.ss58_address, stake=stake)
    safe = re.sub(r"[^a-z0-9-]", "-", wallet.lower()).strip("-")[:32]
    safe = safe if re.fullmatch(r"[a-z][a-z0-9-]{1,30}[a-z0-9]", safe) else "my-miner"
    spec = NeuronSpec(name=safe, role="miner", strategy="own", task_type=task_type)  # type: ignore[arg-type]
    cfg = LocalnetSettings(dir=layout.root)
    bucket = bucket_name(spec)
    create_buckets(s3.endpoint_url, [bucket])
    settings = {**common_settings(spec, cfg, layout, s3), **miner_settings(spec, cfg, layout, free_port(LOOPBACK))}
    settings.update({"wallet.path": wallets, "wallet.hotkey": hotkey, "storage.bucket": bucket, "log.to_file": True,
                     "log.dir": layout.logs, "miner.task_type": task_type})  # fmt: skip
    env_file = layout.env_file(wallet)
    write_env_file(env_file, settings, ENV_HEADER.format(chain=layout.chain, cmd="vidaio miner run", path=env_file))
    return uid, ss58, env_file
