"""One two-node Ray cluster for every Ray test of the session (starting one takes seconds on 2 cores).

The head offers no `vidaio_worker` resource, so jobs land on a worker node, and the tests can tell
where a job ran. Tests that kill a worker node add a replacement first (`RayTestCluster.add_worker`),
so the tests after them still find one. Memory stays small: 1 CPU + 2 CPUs, 80 MB object stores.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

# helpers of the miner and validator tests, imported by module name like their own tests do
for _sub in ("miner", "validator"):
    _dir = str(Path(__file__).resolve().parents[1] / _sub)
    if _dir not in sys.path:
        sys.path.append(_dir)

from validator_support import _home, s3, wallet_dir  # noqa: E402, F401  (the validator tests' fixtures)

WORKER_RESOURCE = "vidaio_worker"
OBJECT_STORE = 80 * 1024 * 1024
# notice a dead node within seconds (defaults: ~30 s)
# (generous enough that a busy 2-core CI machine does not declare a live node dead)
SYSTEM_CONFIG = {"health_check_period_ms": 2000, "health_check_failure_threshold": 5, "health_check_timeout_ms": 2000}
START_ATTEMPTS = 2  # a node start can time out while the machine is saturated; one more try


@dataclass
class RayTestCluster:
    cluster: Any
    head_id: str
    workers: list[Any] = field(default_factory=list)

    @property
    def address(self) -> str:
        return str(self.cluster.address)

    @property
    def worker(self) -> Any:
        """The live worker node (the newest)."""
        return self.workers[-1]

    def add_worker(self) -> Any:
        for attempt in range(START_ATTEMPTS):
            try:
                node = self.cluster.add_node(
                    num_cpus=2, object_store_memory=OBJECT_STORE, resources={WORKER_RESOURCE: 1},
                    include_dashboard=False,
                )  # fmt: skip
                break
            except Exception:
                if attempt + 1 == START_ATTEMPTS:
                    raise
        self.cluster.wait_for_nodes()
        self.workers.append(node)
        return node

    def kill_raylet(self, node: Any) -> None:
        """SIGKILL the node's raylet (a machine lost mid-job), then reap the rest of its processes."""
        (raylet,) = node.all_processes["raylet"]
        os.kill(raylet.process.pid, signal.SIGKILL)
        raylet.process.wait(10)
        self.workers.remove(node)
        self.cluster.remove_node(node, allow_graceful=False)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayTestCluster]:
    ray = pytest.importorskip("ray")
    from ray.cluster_utils import Cluster

    started = time.monotonic()
    head_args = {
        "num_cpus": 1, "object_store_memory": OBJECT_STORE, "include_dashboard": False,
        "resources": {"vidaio_head": 1}, "_system_config": SYSTEM_CONFIG,
    }  # fmt: skip
    for attempt in range(START_ATTEMPTS):
        try:
            cluster = Cluster(initialize_head=True, head_node_args=head_args)
            break
        except Exception:
            if attempt + 1 == START_ATTEMPTS:
                raise
    rc = RayTestCluster(cluster, cluster.head_node.node_id)
    rc.add_worker()
    ray.init(address=cluster.address, namespace="vidaio-tests", log_to_driver=True, include_dashboard=False)
    print(f"two-node Ray cluster up in {time.monotonic() - started:.1f}s", file=sys.stderr)
    try:
        yield rc
    finally:
        ray.shutdown()
        cluster.shutdown()

