"""docs/grafana/*.json: valid dashboards whose queries name only metrics the daemons export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from vidaio.telemetry.miner import MinerMetrics
from vidaio.telemetry.validator import ValidatorMetrics

GRAFANA = Path(__file__).resolve().parents[3] / "docs" / "grafana"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported(registry: CollectorRegistry) -> set[str]:
    names: set[str] = set()
    for family in registry.collect():
        names.update(family.name + s for s in SUFFIXES[family.type])
    return names


@pytest.mark.parametrize(("name", "metrics"), [("vidaio-miner.json", MinerMetrics), ("vidaio-validator.json", ValidatorMetrics)])
def test_dashboard_queries_name_exported_metrics(name: str, metrics: type) -> None:
    board = json.loads((GRAFANA / name).read_text())
    names = exported(metrics().registry)
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert len(exprs) >= 8
    used = {m for e in exprs for m in re.findall(r"\bvidaio_[a-z_]+", e)}
    assert used and used <= names, sorted(used - names)
    family_prefix = name.removesuffix(".json").replace("-", "_")
    covered = {n for n in names if any(u == n for u in used)}
    # every metric family of the daemon is on its board
    families = {re.sub(r"(_total|_bucket|_sum|_count)$", "", n) for n in names}
    on_board = {re.sub(r"(_total|_bucket|_sum|_count)$", "", n) for n in covered}
    assert families == on_board, sorted(families - on_board)
    assert all(n.startswith(family_prefix) for n in used)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
