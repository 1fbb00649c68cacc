"""Where the localnet keeps its files, and how a clean start removes them (only its own)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LocalnetLayout:
    """Paths under the localnet directory; `reset()` deletes exactly these, nothing else."""

    root: Path

    @classmethod
    def at(cls, root: Path | str) -> LocalnetLayout:
        return cls(Path(root).expanduser().resolve())

    @property
    def chain(self) -> Path:
        return self.root / "chain.sqlite"

    @property
    def db(self) -> Path:
        return self.root / "validator.db"

    @property
    def wallets(self) -> Path:
        return self.root / "wallets"

    @property
    def env(self) -> Path:
        return self.root / "env"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def pieapp(self) -> Path:
        return self.root / "pieapp"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def lock(self) -> Path:
        return self.root / "localnet.pid"

    def env_file(self, name: str) -> Path:
        return self.env / f"{name}.env"

    def log_file(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def work_dir(self, name: str) -> Path:
        return self.work / name

    def state_files(self) -> list[Path]:
        """Files and directories a clean start removes (SQLite side files included)."""
        files: list[Path] = [self.env, self.logs, self.work, self.summary, self.wallets]
        for base in (self.chain, self.db):
            files += [base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")]
        return files

    def reset(self, *, keep_wallets: bool = False) -> None:
        """Delete the previous run's state (chain, DB, env, logs, work; wallets unless kept)."""
        for path in self.state_files():
            if keep_wallets and path == self.wallets:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()

    def make_dirs(self) -> None:
        for d in (self.root, self.wallets, self.env, self.logs, self.work):
            d.mkdir(parents=True, exist_ok=True)
