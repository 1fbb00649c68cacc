"""Operator-shaped log lines: one `key=value` line per task on each daemon, one per round start,
unreachable miners grouped in one line.

Each line is logged with its fields bound (`logger.bind(event=..., **fields)`), so the JSON file
log (`log.json_file=true`) carries the same fields as structured `record.extra` values, and
`parse_kv` reads the text form back (tests, log shippers without JSON).

    task role=validator round=r42 uid=3 hotkey=5F... task=t1 type=compression status=ok score=0.8123 ...
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from loguru import logger

_BARE = re.compile(r"^[A-Za-z0-9_.:/+\-@,\[\]]+$")
_PAIR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S+)')


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple | set):
        return ",".join(_text(v) for v in value) or "-"
    text = str(getattr(value, "value", value))
    if text == "":
        return '""'
    if _BARE.match(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kv(fields: Mapping[str, Any]) -> str:
    """`a=1 b="two words" c=-` in the given order (None -> `-`, floats to 6 significant digits)."""
    return " ".join(f"{k}={_text(v)}" for k, v in fields.items())


def parse_kv(line: str) -> dict[str, str]:
    """The `key=value` pairs of a log line (quoted values unquoted)."""
    out: dict[str, str] = {}
    for key, raw in _PAIR.findall(line):
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = re.sub(r"\\(.)", r"\1", raw[1:-1])
        out[key] = raw
    return out


def _structured(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, list | tuple | set) else getattr(v, "value", v) for k, v in fields.items()}


def log_event(event: str, fields: Mapping[str, Any], level: str = "INFO") -> str:
    """Log `event key=value ...` with the fields bound; return the text."""
    text = f"{event} {kv(fields)}"
    logger.bind(event=event, **_structured(fields)).log(level, "{}", text)
    return text


def miner_task_line(
    *,
    task_id: str,
    validator_uid: int | None,
    task_type: str,
    codec: str | None,
    threshold: float | None,
    scale: str | None,
    input_bytes: int | None,
    output_bytes: int | None,
    seconds: float,
    status: str,
    engine: str | None,
    reason: str | None = None,
) -> str:
    """The miner's line for one task it answered (or refused/failed)."""
    return log_event(
        "task",
        {
            "role": "miner", "task": task_id, "validator_uid": validator_uid, "type": task_type, "codec": codec,
            "threshold": threshold, "scale": scale, "input_bytes": input_bytes, "output_bytes": output_bytes,
            "seconds": round(seconds, 3), "status": status, "engine": engine, "reason": reason,
        },
    )  # fmt: skip


def validator_task_line(result: Any, *, measure: Mapping[str, Any], accumulate: float | None, seconds: float | None,
                        recorded: bool = True, random_weights: bool = False) -> str:  # fmt: skip
    """The validator's line for one recorded result (`vidaio.db.types.RoundResult`); `measure` is its task
    kind's metric fields (`vidaio.validator.kinds.TaskKind.log_fields`: C or PIE-APP)."""
    task_type = str(getattr(result.task_type, "value", result.task_type))
    fields: dict[str, Any] = {
        "role": "validator", "round": result.round_id, "uid": result.uid, "hotkey": result.hotkey,
        "task": result.task_id, "type": task_type, "status": result.status, "score": round(result.score, 6),
        "vmaf": result.vmaf,
    }  # fmt: skip
    fields.update(measure)
    fields.update(reason=result.reason, accumulate=accumulate, seconds=None if seconds is None else round(seconds, 3))
    if not recorded:
        fields["already_recorded"] = True
    if random_weights:
        fields["random_pieapp_weights"] = True
    return log_event("task", fields)


def round_start_line(round_id: str, block: int, asked: Iterable[int], skipped: Iterable[tuple[int, str]]) -> str:
    """`round_start round=... block=... asked=1,2,3 skipped=4:reason,...` (uids asked and skipped)."""
    skipped = list(skipped)
    return log_event(
        "round_start",
        {
            "round": round_id, "block": block, "asked": sorted(set(asked)),
            "skipped": [f"{uid}:{why}" for uid, why in skipped],
        },
    )  # fmt: skip


def unreachable_line(addresses: Mapping[int, str], reason: str = "no answer to /capabilities") -> str:
    """All unreachable miners of one refresh in one WARNING line: `unreachable count=2 miners=3@ip:port,...`."""
    miners = [f"{uid}@{addr}" for uid, addr in sorted(addresses.items())]
    return log_event("unreachable", {"count": len(miners), "miners": miners, "reason": reason}, level="WARNING")


def miner_task_from(task: Any, caller_uid: int | None, *, input_bytes: int | None, output_bytes: int | None,
                    seconds: float, result: str) -> str:  # fmt: skip
    """The miner's line from its task message and the handler's one-phrase result.

    `result` is `ok (engine: detail)...`, `refused: why`, `error: why` or `cancelled (...)`.
    """
    status, _, rest = result.partition(" ")
    status = status.rstrip(":")
    engine = rest[1:].split(")")[0] if status == "ok" and rest.startswith("(") else None
    task_type = "compression" if hasattr(task, "codec") else "upscaling"
    codec = getattr(getattr(task, "codec", None), "value", None)
    scale = getattr(task, "scale", None)
    up_type = getattr(getattr(task, "task_type", None), "value", None)
    return miner_task_line(
        task_id=task.task_id, validator_uid=caller_uid, task_type=task_type, codec=codec,
        threshold=getattr(task, "vmaf_threshold", None),
        scale=None if scale is None else f"{up_type}x{scale}" if up_type else f"x{scale}",
        input_bytes=input_bytes, output_bytes=output_bytes, seconds=seconds, status=status, engine=engine,
        reason=None if status == "ok" else rest.strip() or None,
    )  # fmt: skip


def plan_start_line(
    round_id: str, block: int, plan: Any, snapshot: Any = None, failures: Mapping[int, str] | None = None
) -> str:
    """The round-start line of a `vidaio.validator.roster.RoundPlan`: uids asked and skipped (with
    why), then one WARNING line grouping the unreachable miners with their addresses."""
    asked: list[int] = []
    if plan.compression is not None:
        asked += [a.miner.uid for a in plan.compression.assignments]
    for group in plan.upscaling:
        asked += [m.uid for m in group.miners]
    down = dict(failures or {})
    down.update({u.uid: u.reason for u in plan.unreachable})
    skipped = [*plan.skipped, *((uid, "unreachable") for uid in sorted(down) if uid not in dict(plan.skipped))]
    line = round_start_line(round_id, block, asked, skipped)
    if down:
        axons = {n.uid: n.axon for n in snapshot.neurons} if snapshot is not None else {}
        unreachable_line({uid: axons.get(uid) or "no-axon" for uid in down},
                         reason="; ".join(dict.fromkeys(down.values()))[:300])  # fmt: skip
    return line
