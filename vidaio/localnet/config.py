"""Settings of the one-machine subnet (`vidaio localnet`, env prefix `VIDAIO_LOCALNET__`).

The localnet runs every neuron as its own process against a SIMULATED chain file and a local
moto S3 endpoint. These settings say where its files go, how many rounds it runs, at which
resolution profile, and how long it waits for each step before giving up with a clear reason.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from vidaio.settings_base import VidaioSettings

LocalnetProfile = Literal["demo", "tiny"]


class LocalnetSettings(BaseModel):
    """How `vidaio localnet` runs (env prefix `VIDAIO_LOCALNET__`)."""

    model_config = ConfigDict(extra="forbid")

    dir: Path = Field(
        Path(".localnet"),
        description="Directory of the localnet: chain file, validator DB, wallets, env files, logs, work dirs.",
    )
    rounds: int = Field(3, ge=1, le=1000, description="Validator rounds to run before stopping.")
    profile: LocalnetProfile = Field(
        "demo",
        description='Resolution profile of the tasks: "demo" (small frames) or "tiny" (CI smoke test).',
    )
    resume: bool = Field(
        False,
        description="Keep the chain, wallets and validator DB of the previous run (default: start clean).",
    )
    seed: int = Field(7, ge=0, description="Seed of the synthetic task content (reproducible demo runs).")
    block_time_s: float = Field(1.0, gt=0, le=60, description="Simulated block time in seconds.")
    tempo: int = Field(30, ge=1, le=100_000, description="Simulated subnet tempo in blocks.")
    validator_stake: float = Field(
        10_000.0,
        ge=0,
        description="Stake (alpha) of the localnet validator (miners admit >= 1000 by default).",
    )
    startup_timeout_s: float = Field(
        180.0,
        gt=0,
        le=3600,
        description="Longest wait for every neuron to be up (imports are slow on 2 cores).",
    )
    round_timeout_s: float = Field(
        600.0,
        gt=0,
        le=24 * 3600,
        description="Longest time one validator round may take before the run fails.",
    )
    stop_timeout_s: float = Field(
        45.0, gt=0, le=600, description="After SIGINT, seconds a process gets to exit before it is killed."
    )
    poll_interval_s: float = Field(0.5, gt=0, le=60, description="Seconds between progress reads of the DB.")
    threads_per_process: int = Field(
        1,
        ge=1,
        le=64,
        description="OMP/MKL/torch/encoder threads of each neuron (6 processes share the CPU).",
    )
    heavy_threads: int | None = Field(
        None,
        ge=1,
        le=256,
        description="torch/OMP threads of the validator's scoring and of the model upscaling miner (the "
        "long poles of a round, mostly running alone); empty = the CPU count, at most 4.",
    )
    pieapp_weights: Path | None = Field(
        None,
        description="Real PIE-APP weights for the validator; empty = the backend cache if present, else "
        "random-initialised weights (demo only, labelled in the output).",
    )
    python: str | None = Field(
        None, description="Python interpreter of the neuron processes (default: this one)."
    )
    executor: Literal["local", "ray"] = Field(
        "local",
        description='Where the daemons run their jobs: "local" (their own pools) or "ray" (a two-node Ray '
        "cluster on this machine, started and stopped with the localnet).",
    )
    keep_running: bool = Field(
        False,
        description="After the last round keep the miners and S3 running until Ctrl-C (inspect, curl, score by hand).",
    )
    dashboard: bool = Field(
        True, description="Start `vidaio dashboard` on the validator's DB (127.0.0.1, free port) and print its URL."
    )
    metrics: bool = Field(True, description="Prometheus /metrics on every neuron (127.0.0.1, free ports).")


def heavy_threads(cfg: LocalnetSettings) -> int:
    return cfg.heavy_threads or max(1, min(4, os.cpu_count() or 1))


class LocalnetConfig(VidaioSettings):
    """The `localnet` section read from env vars and `.env` (`VIDAIO_LOCALNET__*`)."""

    localnet: LocalnetSettings = Field(
        default_factory=LocalnetSettings, description="The one-machine subnet."
    )
