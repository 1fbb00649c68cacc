"""A validator database filled through the real Repository (as a validator's rounds would fill it).

Five miners: three compress (one of them fails now and then), two upscale; uid 4 switches from
compression to upscaling in round 4, uid 5 changes hotkey in round 3 (a new miner at that uid).
Every round is started, recorded and finished with a time breakdown; weights are logged after
each round (the second attempt of round 2 fails first).
"""

from __future__ import annotations

import random
from pathlib import Path

from scoring.config import ScoringConfig
from vidaio.db.config import DbConfig
from vidaio.db.repository import Repository
from vidaio.db.types import RoundResult

ROUNDS = 6
SECRET_WORDS = ("wallet_path_secret", "sampling-secret-value", "AKIAS3KEYSECRET")


def result(round_no: int, uid: int, task_type: str, hotkey: str, rng: random.Random) -> RoundResult:
    round_id = f"round-{round_no:03d}"
    task_id = f"{round_id}-uid{uid}-{task_type[:4]}"
    fail = uid == 3 and round_no % 2 == 0
    if task_type == "compression":
        vmaf = rng.uniform(86, 97)
        return RoundResult(
            round_id=round_id, task_id=task_id, uid=uid, hotkey=hotkey, task_type="compression",
            params={"codec": "av1" if uid % 2 else "hevc", "vmaf_threshold": 85},
            status="timeout" if fail else "ok", reason="timeout: no answer before the deadline" if fail else None,
            score=0.0 if fail else rng.uniform(0.3, 0.95), vmaf=None if fail else vmaf, vmaf_threshold=85.0,
            compression_rate=None if fail else rng.uniform(0.1, 0.5), content_length=5.0,
            processing_time_s=rng.uniform(1, 9),
        )  # fmt: skip
    return RoundResult(
        round_id=round_id, task_id=task_id, uid=uid, hotkey=hotkey, task_type="upscaling",
        params={"scale": 2, "content_length": 5, "type": "SD2HD"}, status="ok", reason=None,
        score=rng.uniform(0.2, 0.9), vmaf=rng.uniform(80, 95), pieapp=rng.uniform(0.2, 1.5),
        s_q=rng.uniform(0.3, 1.0), s_l=0.3105, content_length=5.0, processing_time_s=rng.uniform(2, 12),
    )  # fmt: skip


def roster(round_no: int) -> list[tuple[int, str, str]]:
    """(uid, task type, hotkey) of the miners asked in round `round_no` (1-based)."""
    uid4_type = "compression" if round_no < 4 else "upscaling"
    uid5_hotkey = "5HotkeyOldMinerAtUid5xxxxxxxxxxxxxxxxxxxxxxxxx" if round_no < 3 else "5HotkeyNewMinerAtUid5yyyyyyyyyyyyyyyyyyyyyyyyy"
    return [
        (1, "compression", "5GoodCompressionMinerHotkeyAAAAAAAAAAAAAAAAAAA"),
        (2, "compression", "5LazyCompressionMinerHotkeyBBBBBBBBBBBBBBBBBBB"),
        (3, "compression", "5FlakyCompressionMinerHotkeyCCCCCCCCCCCCCCCCCC"),
        (4, uid4_type, "5SwitchingMinerHotkeyDDDDDDDDDDDDDDDDDDDDDDDDDD"),
        (5, "upscaling", uid5_hotkey),
        (6, "upscaling", "5LanczosUpscalingMinerHotkeyEEEEEEEEEEEEEEEEEE"),
    ]


def seed_database(path: Path, rounds: int = ROUNDS, *, leave_running: bool = False) -> Repository:
    """Create `path` and fill it; returns the open repository (the caller closes it)."""
    rng = random.Random(15)
    repo = Repository.open(DbConfig(path=path), ScoringConfig())
    for n in range(1, rounds + 1):
        round_id = f"round-{n:03d}"
        miners = roster(n)
        repo.start_round(round_id, block=100 * n, task_count=len(miners))
        for uid, task_type, hotkey in miners:
            repo.record_result(result(n, uid, task_type, hotkey, rng))
        if leave_running and n == rounds:
            break
        timings = {"prepare_s": 2.0 + n, "dispatch_s": 30.0, "download_wait_s": 0.5, "download_s": 1.5,
                   "validate_s": 3.0, "metrics_s": 12.0 + n, "db_s": 0.05, "wall_s": 45.0 + n}  # fmt: skip
        repo.finish_round(round_id, timings=timings)
        pools = {t: [uid for uid, tt, _ in miners if tt == t] for t in ("compression", "upscaling")}
        weights = {uid: (0.6 if t == "compression" else 0.4) / len(uids) for t, uids in pools.items() for uid in uids}
        if n == 2:
            repo.log_weight_set(weights, success=False, message="chain busy: retry", block=100 * n + 5, round_id=round_id)
            repo.log_weight_set(weights, success=True, message="ok", block=100 * n + 6, attempt=2, round_id=round_id)
        elif n >= 4:  # newer validators store the pool split with the weights (migration 0003)
            split = {"target": {"compression": 0.6, "upscaling": 0.4}, "kept": True, "note": "",
                     "effective": {"compression": 0.6, "upscaling": 0.4}}  # fmt: skip
            repo.log_weight_set(weights, success=True, message="ok", block=100 * n + 5, round_id=round_id, split=split)
        else:
            repo.log_weight_set(weights, success=True, message="ok", block=100 * n + 5, round_id=round_id)
    return repo
