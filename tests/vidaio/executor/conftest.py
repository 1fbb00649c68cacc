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


def _children(pid: int) -> list[int]:
    """Direct children of `pid`, from /proc (the raylet's worker processes)."""
    out = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
        except OSError:
            continue
        if fields.get("PPid", "").strip() == str(pid):
            out.append(int(status.parent.name))
    return out


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
        """SIGKILL the node's raylet and, at the same instant, the worker processes it started (a machine lost
        mid-job: nothing on it survives), then reap the rest of its processes. Killing the raylet alone leaves
        its workers alive for a moment, and a worker can still finish the job and answer through the driver's
        direct connection (seen in CI: the 'lost node' answered ok)."""
        (raylet,) = node.all_processes["raylet"]
        workers = _children(raylet.process.pid)
        assert workers, "the node to kill runs no worker process (its job was not running there)"
        os.kill(raylet.process.pid, signal.SIGKILL)
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        raylet.process.wait(10)
        self.workers.remove(node)
        self.cluster.remove_node(node, allow_graceful=False)


    def wait_settled(self, timeout_s: float = 60.0) -> None:
        """Until Ray's control store reports alive exactly the nodes this cluster still runs: a node killed by an
        earlier test stays 'Alive' there for a few health-check periods, and an actor placed on it meanwhile dies
        at once (seen in CI as 'worker node ... was lost mid-task' in the next test)."""
        import ray

        live = {self.head_id, *(n.node_id for n in self.workers)}
        give_up = time.monotonic() + timeout_s
        while {n["NodeID"] for n in ray.nodes() if n.get("Alive")} != live:
            assert time.monotonic() < give_up, f"Ray still reports dead nodes alive after {timeout_s:.0f}s"
            time.sleep(0.25)


@pytest.fixture(scope="session")
def _ray_cluster_session() -> Iterator[RayTestCluster]:
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


@pytest.fixture
def ray_cluster(_ray_cluster_session: RayTestCluster) -> RayTestCluster:
    """The session's cluster, with every node killed by an earlier test already known dead."""
    _ray_cluster_session.wait_settled()
    return _ray_cluster_session
