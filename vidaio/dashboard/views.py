"""Table columns and cell formatting, shared by the Jinja2 pages and (as JSON) by dashboard.js.

A column is (key, label, kind); the kind says how a value is shown. dashboard.js implements the
same kinds, so a refresh from `/api/*` renders exactly what the server rendered first.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from vidaio.dashboard.data import parse_time

Column = tuple[str, str, str]

LEADERBOARD: list[Column] = [
    ("rank", "#", "int"), ("uid", "uid", "uid"), ("hotkey", "hotkey", "hotkey"), ("accumulate_score", "score", "f4"), ("total_multiplier", "mult", "f3"), ("performance_tier", "tier", "tier"),
    ("total_rounds_completed", "rounds", "int"), ("last_weight", "weight", "f4"), ("pool_share", "share", "pct"),
    ("last_status", "last", "status"), ("last_reason", "reason", "reason"),
]  # fmt: skip
HISTORY: list[Column] = [
    ("n", "#", "int"), ("created_at", "time (UTC)", "time"), ("round_id", "round", "text"),
    ("task_id", "task id", "mono"), ("status", "status", "status"), ("s_f", "S", "f4"),
    ("applied_multiplier", "mult", "f3"), ("accumulate_score", "accum.", "f4"), ("vmaf", "VMAF", "f2"),
    ("compression_rate", "C rate", "f3"), ("pieapp", "PIE-APP", "f3"), ("s_q", "S_Q", "f3"),
    ("reason", "reason", "reason"), ("marks", "marks", "marks"),
]  # fmt: skip
ROUNDS: list[Column] = [
    ("round_id", "round", "text"), ("status", "status", "status"), ("block", "block", "int"),
    ("task_count", "planned", "int"), ("recorded", "recorded", "int"), ("statuses", "results", "counts"),
    ("started_at", "started (UTC)", "time"), ("duration_s", "duration", "dur"),
    ("timings.prepare_s", "prepare", "dur"), ("timings.dispatch_s", "dispatch", "dur"),
    ("timings.download_s", "download", "dur"), ("timings.validate_s", "validate", "dur"),
    ("timings.metrics_s", "metrics", "dur"), ("timings.db_s", "DB", "dur"), ("message", "message", "reason"),
]  # fmt: skip
WEIGHTS: list[Column] = [
    ("id", "id", "int"), ("created_at", "time (UTC)", "time"), ("block", "block", "int"), ("attempt", "try", "int"),
    ("success", "ok", "bool"), ("weights", "uids", "count"), ("pool_split.compression", "compression", "pct"),
    ("pool_split.upscaling", "upscaling", "pct"), ("split_source", "split", "text"), ("message", "message", "reason"),
]  # fmt: skip
COLUMNS: dict[str, list[Column]] = {"leaderboard": LEADERBOARD, "history": HISTORY, "rounds": ROUNDS, "weights": WEIGHTS}
GOOD_STATUSES = frozenset({"ok", "finished", "success"})
RUNNING_STATUSES = frozenset({"running"})


def value_of(row: dict[str, Any], key: str) -> Any:
    """`row[key]`, following dotted keys into nested dicts ("timings.db_s")."""
    value: Any = row
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _num(value: Any, digits: int) -> str:
    return f"{float(value):.{digits}f}"


def fmt_duration(seconds: float) -> str:
    s = float(seconds)
    if s < 60:
        return f"{s:.1f}s"
    if s < 3600:
        return f"{int(s // 60)}m {int(s % 60):02d}s"
    return f"{int(s // 3600)}h {int(s % 3600 // 60):02d}m"


def status_class(status: Any) -> str:
    text = str(status)
    if text in GOOD_STATUSES:
        return "good"
    if text in RUNNING_STATUSES:
        return "live"
    return "bad"


def cell(row: dict[str, Any], key: str, kind: str) -> Markup:
    """The HTML of one cell (escaped); '–' for missing values."""
    value = value_of(row, key)
    dash = Markup('<span class="na">–</span>')
    if kind == "marks":
        return Markup("").join(Markup('<span class="mark">{}</span>').format(m) for m in value or []) or Markup("")
    if value is None or value == "":
        return dash
    if kind == "int":
        return escape(str(int(value)))
    if kind in ("f2", "f3", "f4"):
        return escape(_num(value, int(kind[1])))
    if kind == "pct":
        return escape(f"{float(value) * 100:.1f}%")
    if kind == "dur":
        return escape(fmt_duration(value))
    if kind == "time":
        t = parse_time(value)
        return escape(t.strftime("%Y-%m-%d %H:%M:%S") if isinstance(t, datetime) else str(value))
    if kind == "uid":
        return Markup('<a class="uid" href="/miner/{0}">{0}</a>').format(int(value))
    if kind == "hotkey":
        text = str(value)
        short = text if len(text) <= 12 else text[:6] + "…" + text[-4:]
        return Markup('<span class="mono" title="{}">{}</span>').format(text, short)
    if kind == "status":
        return Markup('<span class="badge {}">{}</span>').format(status_class(value), value)
    if kind == "tier":
        return Markup('<span class="tier tier-{}">{}</span>').format(str(value).lower(), value)
    if kind == "bool":
        return Markup('<span class="badge {}">{}</span>').format("good" if value else "bad", "yes" if value else "no")
    if kind == "count":
        return escape(str(len(value)) if hasattr(value, "__len__") else str(value))
    if kind == "counts":
        parts = [Markup('<span class="badge {} small">{} {}</span>').format(status_class(k), k, n)
                 for k, n in sorted(dict(value).items())]  # fmt: skip
        return Markup(" ").join(parts)
    if kind == "reason":
        text = str(value)
        short = text if len(text) <= 80 else text[:79] + "…"
        return Markup('<span class="reason" title="{}">{}</span>').format(text, short)
    if kind == "mono":
        return Markup('<span class="mono">{}</span>').format(value)
    return escape(str(value))


def columns_json(name: str) -> str:
    """The columns of table `name` as JSON for dashboard.js."""
    return json.dumps([{"key": k, "label": label, "kind": kind} for k, label, kind in COLUMNS[name]])
