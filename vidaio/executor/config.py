"""Executor choice and the Ray section (`VIDAIO_RAY__*`), shared by the miner and the validator."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

ExecutorName = Literal["local", "ray"]

EXECUTOR_DESCRIPTION = (
    '"local": worker pools inside this daemon (the default; Ray is never imported); '
    '"ray": jobs run on the nodes of the Ray cluster of the `ray` section.'
)


class RaySettings(BaseModel):
    """The Ray cluster the daemons' jobs run on when `executor=ray` (env prefix `VIDAIO_RAY__`)."""

    model_config = ConfigDict(extra="forbid")

    address: str = Field(
        "auto",
        description='Cluster to join: "auto" (the cluster started on this host by `ray start --head`), '
        '"host:port" of the head\'s GCS, or "ray://host:10001".',
    )
    namespace: str = Field("vidaio", min_length=1, max_length=64, description="Ray namespace of this daemon's actors.")
    worker_resource: str = Field(
        "vidaio_worker",
        max_length=64,
        description="Custom resource that marks the nodes taking jobs (`ray start --resources "
        "'{\"vidaio_worker\": 1}'`); empty = every node, the head included.",
    )
    max_in_flight_per_node: int = Field(
        2, ge=1, le=256, description="Jobs one node (one actor per node, or per GPU) runs at the same time."
    )
    job_num_cpus: float = Field(
        1.0, ge=0, le=256, description="CPUs each node's actor reserves from Ray (its jobs' ffmpeg/VMAF threads)."
    )
    num_gpus_per_actor: float = Field(
        1.0,
        ge=0,
        le=8,
        description="GPUs each GPU actor asks for (upscaling model, PIE-APP) on nodes that have GPUs; "
        "one actor per GPU. 0 = never ask for GPUs.",
    )
    node_refresh_s: float = Field(
        10.0, gt=0, le=3600, description="Seconds between re-reads of the cluster's nodes (new nodes, drained ones)."
    )
    retry_min_s: float = Field(
        5.0,
        ge=0,
        le=3600,
        description="A miner job lost with its node is retried on another node only if at least this many "
        "seconds of its deadline remain; else the validator gets an error answer.",
    )
    scoring_attempts: int = Field(
        3, ge=1, le=10, description="Attempts of one scoring job when worker nodes die under it."
    )
    connect_timeout_s: float = Field(
        60.0, gt=0, le=600, description="Longest wait for the cluster (and for its first worker node) at start-up."
    )
    reference_cache: int = Field(
        16, ge=0, le=1024, description="Validator: reference clips kept in the object store for reuse across miners."
    )
