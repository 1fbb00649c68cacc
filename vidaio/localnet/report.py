"""What a localnet run produced: leaderboard, weights, simulated incentive, where the files are.

Read after the run from the validator DB (read-only) and the simulated chain file. Pure data
(pydantic); the CLI renders it with rich and `summary.json` stores it.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from pydantic import BaseModel, Field

from vidaio.localnet.layout import LocalnetLayout
from vidaio.localnet.prepare import PreparedNeuron

POOLS = ("compression", "upscaling")


class MinerRow(BaseModel):
    """One miner's standing after the run."""

    uid: int
    name: str
    strategy: str
    task_type: str | None
    rounds: int = 0
    accumulate_score: float = 0.0
    total_multiplier: float = 1.0
    tier: str = "-"
    results: int = 0
    reasons: dict[str, int] = Field(
        default_factory=dict,
        description="Reason codes of its failed/zero results (e.g. same_as_reference) and counts.",
    )
    weight: float = 0.0
    incentive: float = 0.0


class RoundRow(BaseModel):
    round_id: str
    status: str
    task_count: int
    results: int
    message: str | None = None


class LocalnetReport(BaseModel):
    """Everything `vidaio localnet` prints at the end (also written to summary.json)."""

    profile: str
    rounds_requested: int
    rounds: list[RoundRow] = []
    miners: list[MinerRow] = []
    validator_uid: int | None = None
    weights: dict[int, float] = {}
    pool_share: dict[str, float] = {}
    weight_set_attempts: int = 0
    weight_set_successes: int = 0
    tasks_sent: int = 0
    results_recorded: int = 0
    pieapp_random_weights: bool = False
    exit_codes: dict[str, int | None] = {}
    pids: dict[str, int | None] = {}
    stop_signals: dict[str, str | None] = {}
    interrupted: bool = False
    error: str | None = None
    elapsed_s: float = 0.0
    paths: dict[str, str] = {}
    urls: dict[str, str] = {}  # the dashboard and each neuron's Prometheus /metrics

    @property
    def ok(self) -> bool:
        return self.error is None and not self.interrupted and all(c == 0 for c in self.exit_codes.values())

    def miner(self, name: str) -> MinerRow:
        for row in self.miners:
            if row.name == name:
                return row
        raise KeyError(name)


def reason_codes(reason: str | None) -> list[str]:
    """`"wrong_codec: ...; same_as_reference: ..."` -> `["wrong_codec", "same_as_reference"]`."""
    if not reason:
        return []
    codes = []
    for part in reason.split("; "):
        code = part.split(":", 1)[0].strip()
        if code and code.replace("_", "").isalnum():
            codes.append(code)
    return codes


def paths_of(layout: LocalnetLayout) -> dict[str, str]:
    return {
        "dir": str(layout.root),
        "validator_db": str(layout.db),
        "chain": str(layout.chain),
        "logs": str(layout.logs),
        "env_files": str(layout.env),
        "wallets": str(layout.wallets),
        "work": str(layout.work),
        "summary": str(layout.summary),
    }


def _db_facts(
    db: Path,
) -> tuple[list[dict], list[RoundRow], dict[int, Counter[str]], dict[int, int], list[dict]]:
    """(leaderboard rows, rounds, zero-score reasons per uid, results per uid, weight-set log)."""
    from vidaio.db import queries

    engine = queries.open_read_only(db)
    try:
        board = queries.leaderboard(engine)
        rounds = [
            RoundRow(
                round_id=r["round_id"], status=r["status"], task_count=int(r["task_count"] or 0),
                results=0, message=r.get("message"),
            )
            for r in reversed(queries.rounds(engine, last=10_000))
        ]  # fmt: skip
        reasons: dict[int, Counter[str]] = {}
        results: dict[int, int] = {}
        per_round: Counter[str] = Counter()
        for row in board:
            hist = queries.history(engine, int(row["uid"]), limit=100_000)
            results[int(row["uid"])] = len(hist)
            reasons[int(row["uid"])] = Counter(c for h in hist for c in reason_codes(h.get("reason")))
            per_round.update(h["round_id"] for h in hist)
        for r in rounds:
            r.results = per_round.get(r.round_id, 0)
        weight_sets = queries.weight_sets(engine, last=10_000)
    finally:
        engine.dispose()
    return board, rounds, reasons, results, weight_sets


def collect_report(
    layout: LocalnetLayout,
    prepared: list[PreparedNeuron],
    *,
    profile: str,
    rounds_requested: int,
    pieapp_random_weights: bool,
) -> LocalnetReport:
    """Read the validator DB and the chain file into a report (missing DB: an empty leaderboard)."""
    report = LocalnetReport(
        profile=profile,
        rounds_requested=rounds_requested,
        pieapp_random_weights=pieapp_random_weights,
        paths=paths_of(layout),
    )
    validator = next((p for p in prepared if p.spec.role == "validator"), None)
    report.validator_uid = validator.uid if validator else None
    board: list[dict] = []
    reasons: dict[int, Counter[str]] = {}
    results: dict[int, int] = {}
    if layout.db.is_file():
        board, report.rounds, reasons, results, weight_sets = _db_facts(layout.db)
        report.weight_set_attempts = len(weight_sets)
        report.weight_set_successes = sum(1 for w in weight_sets if w.get("success"))
    report.tasks_sent = sum(r.task_count for r in report.rounds)
    report.results_recorded = sum(results.values())
    weights, incentive = _chain_facts(layout, validator)
    report.weights = weights
    by_uid = {int(r["uid"]): r for r in board}
    for p in prepared:
        if p.spec.role != "miner":
            continue
        row = by_uid.get(p.uid, {})
        report.miners.append(
            MinerRow(
                uid=p.uid,
                name=p.spec.name,
                strategy=p.spec.strategy,
                task_type=p.spec.task_type,
                rounds=int(row.get("total_rounds_completed") or 0),
                accumulate_score=float(row.get("accumulate_score") or 0.0),
                total_multiplier=float(row.get("total_multiplier") or 1.0),
                tier=str(row.get("performance_tier") or "-"),
                results=results.get(p.uid, 0),
                reasons=dict(reasons.get(p.uid, {})),
                weight=weights.get(p.uid, 0.0),
                incentive=incentive.get(p.uid, 0.0),
            )
        )
    report.pool_share = {pool: sum(m.weight for m in report.miners if m.task_type == pool) for pool in POOLS}
    return report


def _chain_facts(
    layout: LocalnetLayout, validator: PreparedNeuron | None
) -> tuple[dict[int, float], dict[int, float]]:
    """(the validator's last weights, every uid's simulated incentive) from the chain file."""
    if validator is None or not layout.chain.is_file():
        return {}, {}
    from vidaio.chain.localnet import LocalnetChain

    chain = LocalnetChain(layout.chain, hotkey=validator.hotkey)
    weights = chain.weights_of(validator.uid)
    incentive = {n.uid: n.incentive for n in chain.snapshot().neurons}
    return weights, incentive
