"""`vidaio score ...`: explain and compute scores.

`vidaio score formula upscaling|compression` evaluates the docs/scoring.md formulas on given metric values
and prints every term (rich table, or JSON with --json). Clip scoring commands
(`score upscaling|compression REF DIST`) are added to :data:`score_app` by another module.
Importing this module has no side effects beyond building the typer apps.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from scoring.compression import compression_score
from scoring.config import KNOWN_CONTENT_LENGTHS, ScoringConfig
from scoring.quality import pieapp_to_quality
from scoring.upscaling import upscaling_score
from vidaio.protocol import DEFAULT_CONTENT_LENGTH_S
from vidaio.validator.config import ValidatorSettings

score_app = typer.Typer(
    help="Score responses and explain the scoring formulas (docs/scoring.md).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
formula_app = typer.Typer(
    help="Evaluate a scoring formula on given metric values and show every term.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
score_app.add_typer(formula_app, name="formula")

T = TypeVar("T")


def _one_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
    return " ".join(str(exc).split())


def _fail(reason: str) -> typer.Exit:
    typer.echo(f"error: {reason}", err=True)
    return typer.Exit(code=2)


def _guarded(compute: Callable[[], T]) -> T:
    """Run ``compute``; turn bad input (ValueError, config errors) into a one-line exit 2."""
    try:
        return compute()
    except ValueError as exc:  # pydantic.ValidationError is a ValueError too
        raise _fail(_one_line(exc)) from None


def _check_vmaf(vmaf: float) -> None:
    if not math.isfinite(vmaf) or not 0.0 <= vmaf <= 100.0:
        raise _fail(f"--vmaf must be in [0, 100], got {vmaf}")


def _emit(rows: list[tuple[str, str, Any]], title: str, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({key: value for key, _, value in rows}, sort_keys=False))
        return
    table = Table(title=title)
    table.add_column("term")
    table.add_column("meaning")
    table.add_column("value", justify="right")
    for key, meaning, value in rows:
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        table.add_row(key, meaning, shown)
    Console().print(table)


@formula_app.command("upscaling")
def formula_upscaling(
    pieapp: float = typer.Option(..., "--pieapp", help="Raw PIE-APP score: mean(|d_i|), lower is better."),
    vmaf: float = typer.Option(..., "--vmaf", help="VMAF of the response, 0-100."),
    length: int | None = typer.Option(
        None, "--length", help=f"Requested content length in s, one of {', '.join(map(str, KNOWN_CONTENT_LENGTHS))}."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the breakdown as JSON."),
) -> None:
    """S_Q (PIE-APP, VMAF gate), S_L, S_pre and S_F of one upscaling response."""
    cfg = _guarded(ScoringConfig)
    _check_vmaf(vmaf)
    length_s = DEFAULT_CONTENT_LENGTH_S if length is None else length
    if length_s not in KNOWN_CONTENT_LENGTHS:
        raise _fail(f"unknown --length {length_s}; known: {', '.join(map(str, KNOWN_CONTENT_LENGTHS))} (s)")
    s_q_pieapp = _guarded(lambda: pieapp_to_quality(pieapp, cfg))
    b = _guarded(lambda: upscaling_score(pieapp, vmaf, length_s, cfg))
    rows: list[tuple[str, str, Any]] = [
        ("pieapp", "raw PIE-APP (input)", pieapp),
        ("pieapp_capped", f"p = min(raw, {cfg.pieapp_cap})", min(pieapp, cfg.pieapp_cap)),
        ("s_q_pieapp", "normalised PIE-APP quality", s_q_pieapp),
        ("vmaf", "VMAF (input)", vmaf),
        ("vmaf_threshold", "upscaling VMAF gate", cfg.upscaling_vmaf_threshold),
        ("vmaf_passed", "VMAF >= gate (else S_Q = 0)", b.vmaf_passed),
        ("s_q", "quality score S_Q", b.s_q),
        ("length", "content length (s)", length_s),
        ("length_available", "served by validators by default", length_s in ValidatorSettings().content_lengths),
        ("s_l", "length score S_L", b.s_l),
        ("s_pre", f"S_pre = {cfg.quality_weight}*S_Q + {cfg.length_weight}*S_L", b.s_pre),
        ("s_f", "final score S_F", b.s_f),
    ]
    _emit(rows, "Upscaling score", as_json)


@formula_app.command("compression")
def formula_compression(
    vmaf: float = typer.Option(..., "--vmaf", help="VMAF of the response, 0-100."),
    threshold: float = typer.Option(..., "--threshold", help="The task's VMAF threshold, 0-100."),
    rate: float = typer.Option(..., "--rate", help="Compression rate C = compressed size / original size."),
    as_json: bool = typer.Option(False, "--json", help="Print the breakdown as JSON."),
) -> None:
    """Compression term, quality term and S_f of one compression response."""
    cfg = _guarded(ScoringConfig)
    _check_vmaf(vmaf)
    if not math.isfinite(threshold) or not 0.0 <= threshold < 100.0:
        raise _fail(f"--threshold must be in [0, 100), got {threshold}")
    if not math.isfinite(rate) or rate < 0:
        raise _fail(f"--rate must be a number >= 0 (compressed/original size), got {rate}")
    b = _guarded(lambda: compression_score(rate, vmaf, threshold, cfg))
    rows: list[tuple[str, str, Any]] = [
        ("compression_rate", "C = compressed / original size", b.compression_rate),
        ("vmaf", "VMAF (input)", vmaf),
        ("vmaf_threshold", "task VMAF threshold", threshold),
        ("vmaf_passed", "VMAF >= threshold (else S_f = 0)", b.vmaf_passed),
        (
            "compression_term",
            f"{cfg.compression_rate_weight}*(1 - C^{cfg.compression_rate_exponent})",
            b.compression_term,
        ),
        ("quality_term", f"{cfg.compression_vmaf_weight}*(VMAF - thr)/(100 - thr)", b.quality_term),
        ("s_f", "final score S_f", b.s_f),
    ]
    _emit(rows, "Compression score", as_json)
