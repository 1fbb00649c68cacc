"""A SIMULATED chain in one SQLite file, shared by the processes of the one-machine subnet (docs/operations.md#9-the-one-machine-subnet).

This is NOT subtensor and NOT Yuma consensus. It stores just enough for the daemons to run
unchanged against the ChainPort interface: registrations (hotkey, coldkey, stake, validator
permit), served axon addresses, the weights each validator set, and a block number that advances
with wall-clock time (`block_time_s`). It enforces the weight limits of a real subnet (its
hyperparameters, kept in the `meta` table): weights are u16-quantised as the SDK does it, then
refused when the largest exceeds `max_weight_limit`, fewer than `min_allowed_weights` are
non-zero, `version_key` is below `weights_version`, or the rate limit is not over. A miner's incentive is the stake-weighted mean of the
(normalised) weights the permitted validators gave it, renormalised to sum to 1.

Several processes open the same file: WAL journal, `isolation_level=None`, `BEGIN IMMEDIATE` for
every write and a busy timeout (the engine recipe of vidaio/db/engine.py, with plain sqlite3).
"""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from loguru import logger

from scoring.weights import quantize_u16, within_limit
from vidaio.chain.config import ChainConfig
from vidaio.chain.port import (
    ChainError,
    MetagraphSnapshot,
    NeuronInfo,
    SubnetHyperparameters,
    WeightSetResult,
)

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS neurons (
    uid INTEGER PRIMARY KEY,
    hotkey TEXT NOT NULL UNIQUE,
    coldkey TEXT NOT NULL DEFAULT '',
    stake REAL NOT NULL DEFAULT 0 CHECK (stake >= 0),
    validator_permit INTEGER NOT NULL DEFAULT 0,
    axon TEXT,
    registered_block INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS weights (
    validator_uid INTEGER NOT NULL,
    dest_uid INTEGER NOT NULL,
    weight REAL NOT NULL CHECK (weight >= 0),
    PRIMARY KEY (validator_uid, dest_uid)
);
CREATE TABLE IF NOT EXISTS weight_sets (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    validator_uid INTEGER NOT NULL,
    block INTEGER NOT NULL,
    weights_json TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


class LocalnetChain:
    """ChainPort over the simulated chain file, acting as `hotkey`; plus admin calls (register...)."""

    def __init__(
        self,
        path: Path | str,
        *,
        hotkey: str,
        netuid: int = 1,
        block_time_s: float = 1.0,
        tempo: int = 360,
        weights_rate_limit_blocks: int = 0,
        max_weight_limit: int = 65535,
        min_allowed_weights: int = 0,
        weights_version: int = 0,
        busy_timeout_ms: int = 15000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if block_time_s <= 0:
            raise ValueError("block_time_s must be > 0")
        self.path = Path(path)
        self._hotkey = hotkey
        self._busy_timeout_ms = busy_timeout_ms
        self._clock = clock
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._tx() as con:
            for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                con.execute(stmt)
            defaults = {
                "genesis_time": repr(clock()),
                "block_time_s": repr(float(block_time_s)),
                "tempo": str(int(tempo)),
                "netuid": str(int(netuid)),
                "max_weight_limit": str(int(max_weight_limit)),
                "min_allowed_weights": str(int(min_allowed_weights)),
                "weights_rate_limit": str(int(weights_rate_limit_blocks)),
                "weights_version": str(int(weights_version)),
            }
            for key, value in defaults.items():
                con.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, ?)", (key, value))
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        # The file's first creator fixes the chain parameters; later openers follow them.
        self._genesis = float(meta["genesis_time"])
        self._block_time = float(meta["block_time_s"])
        self._tempo = int(meta["tempo"])
        self._netuid = int(meta["netuid"])

    @classmethod
    def from_config(cls, cfg: ChainConfig, *, hotkey: str) -> LocalnetChain:
        return cls(
            cfg.localnet_path,
            hotkey=hotkey,
            netuid=cfg.netuid,
            block_time_s=cfg.block_time_s,
            tempo=cfg.localnet_tempo,
            weights_rate_limit_blocks=cfg.weights_rate_limit_blocks,
            max_weight_limit=cfg.localnet_max_weight_limit,
            min_allowed_weights=cfg.localnet_min_allowed_weights,
            weights_version=cfg.localnet_weights_version,
        )

    # ---------------------------------------------------------------- sqlite plumbing
    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=self._busy_timeout_ms / 1000, isolation_level=None)
        con.execute(f"PRAGMA busy_timeout={int(self._busy_timeout_ms)}")
        self._enable_wal(con)
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA foreign_keys=ON")
        return con

    def _enable_wal(self, con: sqlite3.Connection) -> None:
        """WAL once per file (it persists). Switching the journal mode needs the file to itself and SQLite
        answers 'database is locked' at once, without the busy handler, while another process is creating the
        schema — as every neuron of the localnet does at start — so retry until the busy timeout."""
        give_up = time.monotonic() + self._busy_timeout_ms / 1000
        while True:
            try:
                if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    con.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() >= give_up:
                    raise
                time.sleep(0.02)

    @contextmanager
    def _tx(self, write: bool = True) -> Iterator[sqlite3.Connection]:
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    async def _run(self, fn: Callable[[], T]) -> T:
        return await asyncio.to_thread(fn)

    # ---------------------------------------------------------------- admin (sync)
    def block(self) -> int:
        return max(0, int((self._clock() - self._genesis) / self._block_time))

    def register(
        self, hotkey: str, *, coldkey: str = "", stake: float = 0.0, validator_permit: bool = False
    ) -> int:
        """Register `hotkey` (or update its stake/permit if already registered); return its uid."""
        if not hotkey:
            raise ValueError("hotkey must be non-empty")
        if not math.isfinite(stake) or stake < 0:
            raise ValueError(f"stake must be a finite number >= 0, got {stake!r}")
        with self._tx() as con:
            row = con.execute("SELECT uid FROM neurons WHERE hotkey = ?", (hotkey,)).fetchone()
            if row is not None:
                con.execute(
                    "UPDATE neurons SET coldkey = ?, stake = ?, validator_permit = ? WHERE uid = ?",
                    (coldkey, float(stake), int(validator_permit), row[0]),
                )
                return int(row[0])
            uid = int(con.execute("SELECT COALESCE(MAX(uid) + 1, 0) FROM neurons").fetchone()[0])
            con.execute(
                "INSERT INTO neurons(uid, hotkey, coldkey, stake, validator_permit, registered_block)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (uid, hotkey, coldkey, float(stake), int(validator_permit), self.block()),
            )
        logger.info("localnet: registered uid={} hotkey={} stake={} permit={}", uid, hotkey, stake, validator_permit)
        return uid

    def serve_sync(self, hotkey: str, ip: str, port: int) -> None:
        if not 0 < port < 65536:
            raise ValueError(f"port out of range: {port}")
        with self._tx() as con:
            cur = con.execute("UPDATE neurons SET axon = ? WHERE hotkey = ?", (f"{ip}:{port}", hotkey))
            if cur.rowcount == 0:
                raise ChainError(f"hotkey {hotkey} is not registered on the localnet chain")

    def snapshot(self) -> MetagraphSnapshot:
        with self._tx(write=False) as con:
            rows = con.execute(
                "SELECT uid, hotkey, coldkey, stake, validator_permit, axon FROM neurons ORDER BY uid"
            ).fetchall()
            weights = con.execute("SELECT validator_uid, dest_uid, weight FROM weights").fetchall()
        incentive = _incentives(rows, weights)
        neurons = tuple(
            NeuronInfo(
                uid=uid, hotkey=hk, coldkey=ck, stake=st, validator_permit=bool(vp), axon=ax,
                incentive=incentive.get(uid, 0.0),
            )
            for uid, hk, ck, st, vp, ax in rows
        )
        return MetagraphSnapshot(netuid=self._netuid, block=self.block(), neurons=neurons)

    def hyperparameters_sync(self) -> SubnetHyperparameters:
        with self._tx(write=False) as con:
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
        return SubnetHyperparameters(
            max_weight_limit=int(meta.get("max_weight_limit", 65535)),
            min_allowed_weights=int(meta.get("min_allowed_weights", 0)),
            weights_rate_limit=int(meta.get("weights_rate_limit", 0)),
            weights_version=int(meta.get("weights_version", 0)),
            commit_reveal=False,
        )

    def set_hyperparameters(
        self,
        *,
        max_weight_limit: int | None = None,
        min_allowed_weights: int | None = None,
        weights_rate_limit: int | None = None,
        weights_version: int | None = None,
    ) -> SubnetHyperparameters:
        """Admin: change the subnet's weight limits (what a subnet owner does with sudo)."""
        new = self.hyperparameters_sync().model_copy(
            update={k: int(v) for k, v in {
                "max_weight_limit": max_weight_limit, "min_allowed_weights": min_allowed_weights,
                "weights_rate_limit": weights_rate_limit, "weights_version": weights_version,
            }.items() if v is not None}  # fmt: skip
        )
        SubnetHyperparameters.model_validate(new.model_dump())
        with self._tx() as con:
            for key in ("max_weight_limit", "min_allowed_weights", "weights_rate_limit", "weights_version"):
                con.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, str(getattr(new, key))))
        logger.info("localnet: hyperparameters now {}", new.describe())
        return new

    def set_weights_sync(self, hotkey: str, weights: dict[int, float], version_key: int = 0) -> WeightSetResult:
        block = self.block()
        hp = self.hyperparameters_sync()
        with self._tx() as con:
            row = con.execute(
                "SELECT uid, validator_permit FROM neurons WHERE hotkey = ?", (hotkey,)
            ).fetchone()
            if row is None:
                return WeightSetResult(success=False, message=f"hotkey {hotkey} is not registered", block=block)
            uid, permit = row
            if not permit:
                return WeightSetResult(success=False, message="hotkey has no validator permit", block=block)
            known = {r[0] for r in con.execute("SELECT uid FROM neurons")}
            problem = _check_weights(weights, known)
            if problem:
                return WeightSetResult(success=False, message=problem, block=block)
            last = con.execute(
                "SELECT MAX(block) FROM weight_sets WHERE validator_uid = ?", (uid,)
            ).fetchone()[0]
            rate = hp.weights_rate_limit
            if rate and last is not None and block - last < rate:
                return WeightSetResult(
                    success=False,
                    message=f"rate limited: last set at block {last}, limit {rate} blocks",
                    block=block,
                )
            if version_key < hp.weights_version:
                return WeightSetResult(
                    success=False,
                    message=f"IncorrectWeightVersionKey: version_key {version_key} < weights_version {hp.weights_version}",
                    block=block,
                )
            quantized = quantize_u16(weights)  # what the SDK submits
            self_weight = list(quantized) == [uid]
            if not self_weight and hp.max_weight_limit < 65535 and not within_limit(quantized, hp.max_weight):
                top = max(quantized.values()) / sum(quantized.values())
                return WeightSetResult(
                    success=False,
                    message=f"MaxWeightExceeded: largest weight {top:.4f} > max_weight_limit {hp.max_weight:.4f}",
                    block=block,
                )
            if not self_weight and len(quantized) < hp.min_allowed_weights:
                return WeightSetResult(
                    success=False,
                    message=f"WeightVecLengthIsLow: {len(quantized)} non-zero weights < min_allowed_weights "
                    f"{hp.min_allowed_weights}",
                    block=block,
                )
            total = sum(quantized.values())
            norm = {int(d): v / total for d, v in quantized.items()}
            con.execute("DELETE FROM weights WHERE validator_uid = ?", (uid,))
            con.executemany(
                "INSERT INTO weights(validator_uid, dest_uid, weight) VALUES (?, ?, ?)",
                [(uid, d, w) for d, w in norm.items()],
            )
            con.execute(
                "INSERT INTO weight_sets(validator_uid, block, weights_json, created_at) VALUES (?, ?, ?, ?)",
                (uid, block, json.dumps({str(k): v for k, v in sorted(norm.items())}), self._clock()),
            )
        logger.debug("localnet: uid={} set weights on {} uids at block {}", uid, len(norm), block)
        return WeightSetResult(success=True, message=f"weights set for {len(norm)} uids", block=block)

    def weights_of(self, validator_uid: int) -> dict[int, float]:
        """The normalised weights a validator last set (empty if none)."""
        with self._tx(write=False) as con:
            rows = con.execute(
                "SELECT dest_uid, weight FROM weights WHERE validator_uid = ? ORDER BY dest_uid", (validator_uid,)
            ).fetchall()
        return {int(d): float(w) for d, w in rows}

    # ---------------------------------------------------------------- ChainPort (async)
    @property
    def netuid(self) -> int:
        return self._netuid

    @property
    def hotkey(self) -> str:
        return self._hotkey

    @property
    def tempo(self) -> int:
        return self._tempo

    async def current_block(self) -> int:
        return self.block()

    async def metagraph(self) -> MetagraphSnapshot:
        return await self._run(self.snapshot)

    async def hyperparameters(self) -> SubnetHyperparameters:
        return await self._run(self.hyperparameters_sync)

    async def set_weights(self, weights: dict[int, float], *, version_key: int = 0) -> WeightSetResult:
        return await self._run(lambda: self.set_weights_sync(self._hotkey, weights, version_key))

    async def serve(self, ip: str, port: int) -> None:
        await self._run(lambda: self.serve_sync(self._hotkey, ip, port))

    async def is_registered(self, hotkey: str) -> bool:
        snap = await self.metagraph()
        return snap.by_hotkey(hotkey) is not None

    async def close(self) -> None:
        return None


def _check_weights(weights: dict[int, float], known: set[int]) -> str | None:
    if not weights:
        return "empty weights"
    for dest, w in weights.items():
        if dest not in known:
            return f"uid {dest} is not registered"
        if not math.isfinite(w) or w < 0:
            return f"weight for uid {dest} must be finite and >= 0, got {w!r}"
    if sum(weights.values()) <= 0:
        return "all weights are zero"
    return None


def _incentives(
    neurons: list[tuple[int, str, str, float, int, str | None]], weights: list[tuple[int, int, float]]
) -> dict[int, float]:
    """Stake-weighted mean of permitted validators' normalised weights, renormalised to sum 1."""
    stake = {uid: st for uid, _hk, _ck, st, vp, _ax in neurons if vp}
    raw: dict[int, float] = {}
    for v_uid, dest, w in weights:
        s = stake.get(v_uid)
        if s is None:  # validator lost its permit or was deregistered
            continue
        raw[dest] = raw.get(dest, 0.0) + s * w
    total = sum(raw.values())
    if total <= 0:
        return {}
    return {uid: v / total for uid, v in raw.items()}
