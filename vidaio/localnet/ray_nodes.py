"""`vidaio localnet --executor ray`: a two-node Ray cluster on this machine for both daemons.

The head node (`ray start --head --block`) takes no jobs (no `vidaio_worker` resource), like the
head of a real cluster that runs the axon and the validator loop; the worker node
(`ray start --block --address ...`) runs every miner's job actor and the validator's scoring
actor. Both are children of the localnet like its S3 endpoint: started after S3, stopped after
the miners (SIGINT: `ray start --block` stops its node's processes), never `ray stop` (which
would stop every Ray node of the machine). Actors reserve no CPUs (`ray.job_num_cpus=0`): the
roster's six actors share the machine's cores as the local pools do.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from vidaio.localnet.procs import Child
from vidaio.localnet.roster import NeuronSpec
from vidaio.storage.local import free_port

RAY_HEAD, RAY_WORKER = "ray-head", "ray-worker"
RAY_CHILDREN = (RAY_WORKER, RAY_HEAD)  # stop order
START_TIMEOUT_S = 90.0
OBJECT_STORE_MB = 200  # per node: scoring inputs travel through it; small enough for a laptop
MIB = 1024 * 1024


def ray_cli(python: str | None = None) -> str:
    """The `ray` script of the interpreter's environment."""
    exe = Path(python or sys.executable).parent / "ray"
    if not exe.is_file():
        raise FileNotFoundError(f"{exe} not found: install the ray extra (pip install -e '.[ray]')")
    return str(exe)


STARTED = "Ray runtime started"
START_ATTEMPTS = 2  # a node can time out registering while the machine is saturated: one more try


def wait_started(child: Child, timeout_s: float, port: int | None = None) -> None:
    """Until `ray start` logged that its node runs (and, for the head, its GCS port accepts TCP)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.running():
            raise RuntimeError(f"{child.name} exited during start-up; last log lines:\n{child.tail()}")
        if STARTED in child.tail(40):
            if port is None:
                return
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1.0).close()
                return
            except OSError:
                pass
        time.sleep(0.2)
    raise RuntimeError(f"{child.name} not started after {timeout_s:.0f}s; last log lines:\n{child.tail()}")


def start_node(children: dict[str, Child], name: str, cmd: list[str], env: dict[str, str], log_path: Path,
               port: int | None) -> Child:  # fmt: skip
    last: RuntimeError | None = None
    for _ in range(START_ATTEMPTS):
        child = Child(name, cmd, env=env, log_path=log_path).start()
        children[name] = child
        try:
            wait_started(child, START_TIMEOUT_S, port)
            return child
        except RuntimeError as exc:
            last = exc
            child.stop(10.0)
    assert last is not None
    raise last


def node_command(ray: str, *, head_port: int, head: bool, object_store_mb: int, num_cpus: int) -> list[str]:
    """`ray start --block` of one node on 127.0.0.1 (every port that would clash between two nodes given)."""
    cmd = [ray, "start", "--block", "--disable-usage-stats", "--node-ip-address=127.0.0.1",
           f"--num-cpus={num_cpus}", f"--object-store-memory={object_store_mb * MIB}",
           f"--dashboard-agent-listen-port={free_port()}", f"--metrics-export-port={free_port()}"]  # fmt: skip
    if head:
        cmd += ["--head", f"--port={head_port}", "--include-dashboard=false",
                f"--ray-client-server-port={free_port()}", "--resources", json.dumps({"vidaio_head": 1})]  # fmt: skip
    else:
        cmd += [f"--address=127.0.0.1:{head_port}", "--resources", json.dumps({"vidaio_worker": 1})]
    return cmd


def start_ray_nodes(children: dict[str, Child], log_file: Any, env: dict[str, str], python: str | None = None,
                    object_store_mb: int = OBJECT_STORE_MB) -> str:  # fmt: skip
    """Start the head, wait for its GCS port, start the worker; the cluster address."""
    ray = ray_cli(python)
    port = free_port()
    head = node_command(ray, head_port=port, head=True, object_store_mb=object_store_mb, num_cpus=1)
    start_node(children, RAY_HEAD, head, env, log_file(RAY_HEAD), port)
    cpus = max(2, os.cpu_count() or 2)
    worker = node_command(ray, head_port=port, head=False, object_store_mb=object_store_mb, num_cpus=cpus)
    start_node(children, RAY_WORKER, worker, env, log_file(RAY_WORKER), None)
    return f"127.0.0.1:{port}"


def on_ray(roster: list[NeuronSpec], address: str) -> list[NeuronSpec]:
    """The roster with every daemon's jobs on the cluster at `address` (the specs' own settings win)."""
    out = []
    for spec in roster:
        section = "miner" if spec.role == "miner" else "validator"
        extra = {f"{section}.executor": "ray", "ray.address": address, "ray.job_num_cpus": 0,
                 "ray.connect_timeout_s": START_TIMEOUT_S}  # fmt: skip
        out.append(spec.model_copy(update={"settings": {**extra, **spec.settings}}))
    return out
