"""Who gets what this round: the metagraph's miners, their capabilities (cached), and the round plan.

`CapabilityCache` asks miners `GET /capabilities` (signed) and keeps each answer for a TTL; a miner
that does not answer keeps its last known answer until the hotkey changes (why the others have no
answer is kept in `failures`). `unreachable_miners` names the registered miners with history at this
validator that cannot be planned (no axon, no capabilities): the round records a missed round for
each (docs/scoring.md#rolling-history-and-multipliers: a missed round counts as 0), so an offline miner's score decays. A miner merely not
drawn by `miners_per_round` sampling is reachable and is not named. `plan_round` is pure
(seeded `random.Random`): it picks the miners of each task type, then

- compression: one clip, one VMAF threshold and one primary codec for every compression miner
  of the round (a miner that does not declare the primary codec gets another one it declares), so
  copied outputs collide;
- upscaling: groups of up to `upscaling_group_size` miners sharing one clip shape (type, length);
  the length is the miner's own (`miner_content_length`: the longest served length within what it
  declares, so a miner declaring nothing gets the protocol default, 5 s), the type is drawn among
  what it declares; each group gets one clip.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from loguru import logger

from vidaio.chain.port import MetagraphSnapshot, NeuronInfo
from vidaio.protocol import (
    Capabilities,
    Codec,
    TaskType,
    UpscalingGeometry,
    UpscalingType,
    upscaling_geometry,
)
from vidaio.transport.client import MinerClient
from vidaio.validator.config import ValidatorSettings


@dataclass(frozen=True)
class KnownMiner:
    """A miner of the metagraph with an axon and known capabilities."""

    uid: int
    hotkey: str
    axon: str
    stake: float
    caps: Capabilities

    @property
    def task_type(self) -> TaskType:
        return self.caps.task_type


@dataclass(frozen=True)
class CompressionAssignment:
    miner: KnownMiner
    codec: Codec


@dataclass(frozen=True)
class CompressionPlan:
    """One clip for every compression miner: same threshold, same size and length."""

    threshold: float
    seconds: float
    size: tuple[int, int]
    primary_codec: Codec
    assignments: tuple[CompressionAssignment, ...]


@dataclass(frozen=True)
class UpscalingGroup:
    """Miners sharing one upscaling clip."""

    index: int
    kind: UpscalingType
    content_length: int
    geometry: UpscalingGeometry
    miners: tuple[KnownMiner, ...]


@dataclass(frozen=True)
class Unreachable:
    """A registered miner with history here that could not be planned this round (a missed round)."""

    uid: int
    hotkey: str
    task_type: TaskType
    reason: str


@dataclass(frozen=True)
class RoundPlan:
    compression: CompressionPlan | None
    upscaling: tuple[UpscalingGroup, ...]
    skipped: tuple[tuple[int, str], ...] = ()
    unreachable: tuple[Unreachable, ...] = ()

    @property
    def task_count(self) -> int:
        comp = len(self.compression.assignments) if self.compression else 0
        return comp + sum(len(g.miners) for g in self.upscaling)


def round_rng(secret: str, round_id: str) -> random.Random:
    """The round's random draws: unpredictable without the secret, reproducible with it."""
    return random.Random(f"vidaio-round:{secret}:{round_id}")


def eligible_neurons(snapshot: MetagraphSnapshot, own_hotkey: str) -> list[NeuronInfo]:
    """Miners to ask: no validator permit, not ourselves, serving an axon."""
    return [n for n in snapshot.miners() if n.hotkey != own_hotkey and n.axon]


@dataclass
class _Entry:
    hotkey: str
    caps: Capabilities
    fetched_at: float


@dataclass
class CapabilityCache:
    """Capabilities per uid, refreshed after `ttl_s`; stale answers are kept when a miner is silent."""

    client: MinerClient
    ttl_s: float
    timeout_s: float = 5.0
    clock: Callable[[], float] = time.monotonic
    _entries: dict[int, _Entry] = field(default_factory=dict)
    failures: dict[int, str] = field(default_factory=dict)
    """Why each uid asked in the last refresh has no capabilities (uid -> reason)."""

    def cached(self, uid: int, hotkey: str) -> Capabilities | None:
        entry = self._entries.get(uid)
        return entry.caps if entry is not None and entry.hotkey == hotkey else None

    async def _ask(self, n: NeuronInfo) -> tuple[NeuronInfo, Capabilities | None, str]:
        assert n.axon is not None
        res = await self.client.capabilities(n.axon, n.hotkey, self.timeout_s)
        if res.ok and isinstance(res.result, Capabilities):
            return n, res.result, ""
        return n, None, f"{res.kind}: {res.reason or res.status_code}"

    async def refresh(self, neurons: Sequence[NeuronInfo]) -> list[KnownMiner]:
        """Known miners among `neurons` (asking those whose answer is missing or older than the TTL)."""
        now = self.clock()
        live = {n.uid for n in neurons}
        for uid in [u for u in self._entries if u not in live]:
            del self._entries[uid]
        due = [
            n
            for n in neurons
            if (e := self._entries.get(n.uid)) is None or e.hotkey != n.hotkey or now - e.fetched_at >= self.ttl_s
        ]
        answers = await asyncio.gather(*(self._ask(n) for n in due)) if due else []
        self.failures = {}
        for n, caps, why in answers:
            if caps is not None:
                self._entries[n.uid] = _Entry(n.hotkey, caps, self.clock())
            elif self.cached(n.uid, n.hotkey) is not None:
                logger.info("uid {}: capabilities not refreshed ({}); keeping the last answer", n.uid, why)
            else:
                self._entries.pop(n.uid, None)
                self.failures[n.uid] = f"/capabilities failed: {why}"
                logger.debug("uid {}: no capabilities ({}); not asked this round", n.uid, why)  # grouped: round_start
        out = []
        for n in neurons:
            caps = self.cached(n.uid, n.hotkey)
            if caps is not None and n.axon:
                out.append(KnownMiner(uid=n.uid, hotkey=n.hotkey, axon=n.axon, stake=n.stake, caps=caps))
        return out


def unreachable_miners(
    snapshot: MetagraphSnapshot,
    own_hotkey: str,
    known: Sequence[KnownMiner],
    history: Mapping[int, tuple[str, str]],
    failures: Mapping[int, str],
) -> list[Unreachable]:
    """Registered non-validator miners with history here (`history`: uid -> (hotkey, task type))
    that are not among the `known` (plannable) miners: no axon served, or no capabilities answer."""
    plannable = {m.uid for m in known}
    out = []
    for n in snapshot.miners():
        stored = history.get(n.uid)
        if n.hotkey == own_hotkey or n.uid in plannable or stored is None or stored[0] != n.hotkey:
            continue
        reason = "no axon served" if not n.axon else failures.get(n.uid, "no capabilities known")
        out.append(Unreachable(n.uid, n.hotkey, TaskType(stored[1]), reason))
    return out


def miner_content_length(m: KnownMiner, s: ValidatorSettings) -> int | None:
    """The clip length (s) a miner is sent: the longest served length within what it declares."""
    fitting = [n for n in s.content_lengths if n <= m.caps.max_content_length]
    return max(fitting) if fitting else None


def _pick(miners: list[KnownMiner], limit: int, rng: random.Random) -> list[KnownMiner]:
    ordered = sorted(miners, key=lambda m: m.uid)
    if limit and len(ordered) > limit:
        return sorted(rng.sample(ordered, limit), key=lambda m: m.uid)
    return ordered


def _plan_compression(
    miners: list[KnownMiner], s: ValidatorSettings, rng: random.Random, skipped: list[tuple[int, str]]
) -> CompressionPlan | None:
    enabled = list(s.compression_codecs)
    offered = [m for m in miners if any(c in enabled for c in m.caps.codecs)]
    for m in miners:
        if m not in offered:
            skipped.append((m.uid, f"declares none of the enabled codecs {[c.value for c in enabled]}"))
    if not offered or not enabled:
        return None
    threshold = rng.choice(list(s.compression_thresholds))
    declared = [c for c in enabled if any(c in m.caps.codecs for m in offered)]
    primary = rng.choice(declared)
    assignments = []
    for m in offered:
        if primary in m.caps.codecs:
            codec = primary
        else:
            codec = rng.choice([c for c in enabled if c in m.caps.codecs])
        assignments.append(CompressionAssignment(m, codec))
    seconds = min(s.compression_seconds, *(float(m.caps.max_content_length) for m in offered))
    return CompressionPlan(threshold, seconds, s.clip_size(), primary, tuple(assignments))


def _shapes(m: KnownMiner, s: ValidatorSettings) -> list[tuple[UpscalingType, int]]:
    kinds = [k for k in s.upscaling_types if k in m.caps.upscaling_types]
    length = miner_content_length(m, s)
    return [] if length is None else [(k, length) for k in kinds]


def _plan_upscaling(
    miners: list[KnownMiner], s: ValidatorSettings, rng: random.Random, skipped: list[tuple[int, str]]
) -> tuple[UpscalingGroup, ...]:
    pending: list[KnownMiner] = []
    for m in miners:
        if _shapes(m, s):
            pending.append(m)
        else:
            skipped.append((m.uid, "declares no enabled upscaling type / content length"))
    rng.shuffle(pending)
    groups: list[UpscalingGroup] = []
    while pending:
        lead = pending.pop(0)
        kind, length = rng.choice(_shapes(lead, s))
        members = [lead]
        for other in list(pending):
            if len(members) >= s.upscaling_group_size:
                break
            if (kind, length) in _shapes(other, s):
                members.append(other)
                pending.remove(other)
        geometry = upscaling_geometry(kind, s.profile)
        members.sort(key=lambda m: m.uid)
        groups.append(UpscalingGroup(len(groups), kind, length, geometry, tuple(members)))
    return tuple(groups)


def plan_round(miners: Sequence[KnownMiner], settings: ValidatorSettings, rng: random.Random) -> RoundPlan:
    """Who gets which task this round (pure; all draws from `rng`)."""
    skipped: list[tuple[int, str]] = []
    comp = [m for m in miners if m.task_type is TaskType.COMPRESSION]
    up = [m for m in miners if m.task_type is TaskType.UPSCALING]
    compression = None
    if settings.compression_codecs:
        compression = _plan_compression(_pick(comp, settings.miners_per_round, rng), settings, rng, skipped)
    else:
        skipped.extend((m.uid, "compression tasks are disabled") for m in comp)
    upscaling: tuple[UpscalingGroup, ...] = ()
    if settings.upscaling_types:
        upscaling = _plan_upscaling(_pick(up, settings.miners_per_round, rng), settings, rng, skipped)
    else:
        skipped.extend((m.uid, "upscaling tasks are disabled") for m in up)
    return RoundPlan(compression, upscaling, tuple(skipped))
