"""Round planning (pure, seeded) and the capabilities cache."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest

from vidaio.chain.port import MetagraphSnapshot, NeuronInfo
from vidaio.protocol import Capabilities, Codec, TaskType, UpscalingType
from vidaio.transport.client import DispatchResult
from vidaio.validator.config import ValidatorSettings
from vidaio.validator.roster import (
    CapabilityCache,
    KnownMiner,
    eligible_neurons,
    plan_round,
    round_rng,
    unreachable_miners,
)
from vidaio.validator.tasks import make_round_id, task_id


def comp(uid: int, codecs: tuple[str, ...] = ("av1", "hevc"), max_len: int = 10) -> KnownMiner:
    caps = Capabilities(task_type="compression", codecs=list(codecs), max_content_length=max_len)
    return KnownMiner(uid, f"hk{uid}", f"127.0.0.1:{9000 + uid}", 0.0, caps)


def up(uid: int, types: tuple[str, ...] = ("SD2HD", "SD24K"), max_len: int = 10) -> KnownMiner:
    caps = Capabilities(task_type="upscaling", upscaling_types=list(types), max_content_length=max_len)
    return KnownMiner(uid, f"hk{uid}", f"127.0.0.1:{9000 + uid}", 0.0, caps)


def test_compression_miners_share_threshold_and_primary_codec() -> None:
    miners = [comp(1), comp(2, ("hevc",)), comp(3, ("av1",)), comp(4, ("h264",)), comp(5)]
    s = ValidatorSettings(compression_codecs=["av1", "hevc"], compression_thresholds=[85, 89, 93])
    plan = plan_round(miners, s, round_rng("secret", "r1"))
    assert plan.compression is not None
    c = plan.compression
    assert c.threshold in (85, 89, 93) and c.size == (1920, 1080) and c.seconds == 10.0
    codecs = {a.miner.uid: a.codec for a in c.assignments}
    assert set(codecs) == {1, 2, 3, 5}  # uid 4 declares only h264, which is not enabled
    assert (4, "declares none of the enabled codecs ['av1', 'hevc']") in plan.skipped
    assert codecs[1] == codecs[5] == c.primary_codec  # both declare everything: the primary one
    assert codecs[2] == Codec.HEVC and codecs[3] == Codec.AV1  # others get one they declare
    assert plan.task_count == 4 and plan.upscaling == ()


def test_plan_is_seeded_by_secret_and_round() -> None:
    miners = [comp(u) for u in range(6)] + [up(u) for u in range(6, 20)]
    s = ValidatorSettings(miners_per_round=3, upscaling_group_size=2, compression_thresholds=[85, 89, 93])
    a = plan_round(miners, s, round_rng("secret", "r1"))
    assert a == plan_round(miners, s, round_rng("secret", "r1"))
    draws = [plan_round(miners, s, round_rng(secret, "r1")) for secret in ("a", "b", "c", "d", "e", "f")]
    assert any(d != a for d in draws)  # another secret draws differently
    assert len(a.compression.assignments) == 3  # type: ignore[union-attr]
    assert sum(len(g.miners) for g in a.upscaling) == 3


def test_thresholds_vary_across_rounds() -> None:
    s = ValidatorSettings(compression_thresholds=[85, 89, 93])
    seen = Counter(plan_round([comp(1)], s, round_rng("s", f"r{i}")).compression.threshold for i in range(60))  # type: ignore[union-attr]
    assert set(seen) == {85, 89, 93}


def test_upscaling_groups_share_a_shape_and_respect_declarations() -> None:
    miners = [up(1, ("SD2HD",), 5), up(2, ("SD2HD", "HD24K")), up(3, ("SD24K",)), up(4), up(5), up(6, ("4K28K",))]
    s = ValidatorSettings(upscaling_group_size=2, content_lengths=[5, 10], profile="demo")
    plan = plan_round(miners, s, round_rng("k", "r9"))
    grouped = [m.uid for g in plan.upscaling for m in g.miners]
    assert sorted(grouped) == [1, 2, 3, 4, 5] and (6, "declares no enabled upscaling type / content length") in plan.skipped
    for g in plan.upscaling:
        assert 1 <= len(g.miners) <= 2
        for m in g.miners:
            assert g.kind in m.caps.upscaling_types and g.content_length <= m.caps.max_content_length
        assert g.geometry.scale == (4 if g.kind is UpscalingType.SD24K else 2)
        assert (g.geometry.in_w, g.geometry.in_h) == ((480, 270) if g.kind is not UpscalingType.HD24K else (960, 540))
    assert [g.index for g in plan.upscaling] == list(range(len(plan.upscaling)))


def test_compression_length_never_exceeds_a_miners_maximum() -> None:
    plan = plan_round([comp(1, max_len=5), comp(2)], ValidatorSettings(compression_seconds=10), round_rng("s", "r"))
    assert plan.compression is not None and plan.compression.seconds == 5.0


def test_disabled_task_types_skip_their_miners() -> None:
    s = ValidatorSettings(upscaling_types=[], compression_codecs=["hevc"])
    plan = plan_round([comp(1), up(2)], s, round_rng("s", "r"))
    assert plan.upscaling == () and plan.task_count == 1
    assert (2, "upscaling tasks are disabled") in plan.skipped


def test_ids_are_deterministic_and_protocol_valid() -> None:
    rid = make_round_id(123, now=1_700_000_000.5)
    assert rid == "r123-18bcfe569f4" and make_round_id(123, now=1_700_000_000.5) == rid
    assert task_id(rid, TaskType.COMPRESSION, 7) == f"{rid}-c7"
    assert task_id(rid, TaskType.UPSCALING, 7) == f"{rid}-u7"


def test_eligible_neurons_are_served_non_validators_other_than_us() -> None:
    snap = MetagraphSnapshot(
        netuid=1,
        block=5,
        neurons=(
            NeuronInfo(uid=0, hotkey="me", validator_permit=True, axon="127.0.0.1:1"),
            NeuronInfo(uid=1, hotkey="v", validator_permit=True, axon="127.0.0.1:2"),
            NeuronInfo(uid=2, hotkey="m1", axon="127.0.0.1:3"),
            NeuronInfo(uid=3, hotkey="m2"),
            NeuronInfo(uid=4, hotkey="me2", axon="127.0.0.1:5"),
        ),
    )
    assert [n.uid for n in eligible_neurons(snap, "me")] == [2, 4]
    assert [n.uid for n in eligible_neurons(snap, "me2")] == [2]


@dataclass
class FakeClient:
    answers: dict[str, DispatchResult]
    asked: list[str] = field(default_factory=list)

    async def capabilities(self, axon: str, hotkey: str, deadline_s: float = 5.0) -> DispatchResult:
        self.asked.append(hotkey)
        return self.answers[hotkey]


async def test_capability_cache_ttl_stale_answers_and_hotkey_change() -> None:
    caps = Capabilities(task_type="compression", codecs=["hevc"])
    ok = DispatchResult(kind="ok", result=caps)
    client = FakeClient({"a": ok, "b": DispatchResult(kind="timeout", reason="slow"), "c": ok})
    now = [0.0]
    cache = CapabilityCache(client, ttl_s=60, clock=lambda: now[0])  # type: ignore[arg-type]
    neurons = [NeuronInfo(uid=1, hotkey="a", axon="127.0.0.1:1"), NeuronInfo(uid=2, hotkey="b", axon="127.0.0.1:2")]
    assert [m.uid for m in await cache.refresh(neurons)] == [1]  # b never answered: not asked this round
    assert client.asked == ["a", "b"]
    now[0] = 30.0
    await cache.refresh(neurons)
    assert client.asked == ["a", "b", "b"]  # a is fresh, b is retried
    now[0] = 61.0
    client.answers["a"] = DispatchResult(kind="refused", status_code=503, reason="busy")
    known = await cache.refresh(neurons)
    assert [m.uid for m in known] == [1] and known[0].caps == caps  # stale answer kept when silent
    replaced = [NeuronInfo(uid=1, hotkey="c", axon="127.0.0.1:1")]
    known = await cache.refresh(replaced)
    assert client.asked[-1] == "c" and known[0].hotkey == "c"  # a new hotkey is asked at once
    assert cache.cached(1, "a") is None


@pytest.mark.parametrize("profile,size", [("production", (1920, 1080)), ("demo", (960, 540)), ("tiny", (320, 180))])
def test_compression_clip_size_per_profile(profile: str, size: tuple[int, int]) -> None:
    assert ValidatorSettings(profile=profile, allow_random_pieapp_weights=profile != "production").clip_size() == size
    assert ValidatorSettings(compression_size=(64, 32)).clip_size() == (64, 32)


def test_each_miner_gets_its_declared_length_over_20_rounds() -> None:
    """Issue 14: a miner declaring 10 s only ever gets 10 s clips, one declaring 5 s only 5 s, one
    declaring nothing the default (5 s); a declaration between served lengths gets the longest fitting."""
    nothing = KnownMiner(5, "hk5", "127.0.0.1:9005", 0.0, Capabilities(task_type="upscaling", upscaling_types=["SD2HD"]))
    miners = [up(1, max_len=10), up(2, max_len=5), up(3, max_len=10), up(4, max_len=7), nothing]
    s = ValidatorSettings(upscaling_group_size=4, content_lengths=[5, 10])
    lengths: dict[int, Counter[int]] = {m.uid: Counter() for m in miners}
    for i in range(20):
        plan = plan_round(miners, s, round_rng("secret", f"r{i}"))
        assert plan.task_count == len(miners)
        for g in plan.upscaling:
            for m in g.miners:
                lengths[m.uid][g.content_length] += 1
    assert lengths[1] == lengths[3] == Counter({10: 20})
    assert lengths[2] == lengths[4] == lengths[5] == Counter({5: 20})


def test_unreachable_miners_are_those_with_history_that_cannot_be_planned() -> None:
    snap = MetagraphSnapshot(netuid=1, block=5, neurons=(
        NeuronInfo(uid=0, hotkey="me", validator_permit=True),
        NeuronInfo(uid=1, hotkey="hk1", axon="127.0.0.1:9001"),  # planned
        NeuronInfo(uid=2, hotkey="hk2", axon="127.0.0.1:9002"),  # /capabilities failed
        NeuronInfo(uid=3, hotkey="hk3"),  # no axon
        NeuronInfo(uid=4, hotkey="hk4", axon="127.0.0.1:9004"),  # no history here: not our business
        NeuronInfo(uid=5, hotkey="new-hk5", axon="127.0.0.1:9005"),  # uid re-registered: history is not its own
        NeuronInfo(uid=6, hotkey="hk6", validator_permit=True),  # now a validator
        NeuronInfo(uid=7, hotkey="hk7", axon="127.0.0.1:9007"),  # known but not drawn: reachable
    ))  # fmt: skip
    history = {1: ("hk1", "compression"), 2: ("hk2", "upscaling"), 3: ("hk3", "compression"),
               5: ("hk5", "compression"), 6: ("hk6", "compression"), 7: ("hk7", "compression"),
               9: ("gone", "upscaling")}  # fmt: skip
    known = [comp(1), comp(7)]
    known = [KnownMiner(m.uid, f"hk{m.uid}", m.axon, 0.0, m.caps) for m in known]
    out = unreachable_miners(snap, "me", known, history, {2: "/capabilities failed: connect: refused"})
    assert [(u.uid, u.hotkey, u.task_type, u.reason) for u in out] == [
        (2, "hk2", TaskType.UPSCALING, "/capabilities failed: connect: refused"),
        (3, "hk3", TaskType.COMPRESSION, "no axon served"),
    ]
