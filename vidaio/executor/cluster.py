"""Shared Ray plumbing of both daemons: joining the cluster, the nodes that take jobs, actor slots.

Imports `ray`: only `vidaio.executor.factory` imports this module, and only for `executor=ray`.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

import ray
from loguru import logger
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from vidaio.executor.config import RaySettings

# What a lost node or worker process looks like to the caller of an actor method.
LOST_WORKER_ERRORS: tuple[type[BaseException], ...] = (
    ray.exceptions.RayActorError,  # ActorDiedError, ActorUnavailableError
    ray.exceptions.NodeDiedError,
    ray.exceptions.WorkerCrashedError,
    ray.exceptions.ObjectLostError,
    ray.exceptions.OwnerDiedError,
)


class ClusterError(RuntimeError):
    """The Ray cluster cannot be used; the message says why."""


def connect(settings: RaySettings) -> bool:
    """Join the cluster (once per process); True if this call made the connection."""
    if ray.is_initialized():
        return False
    try:
        ray.init(
            address=settings.address, namespace=settings.namespace, log_to_driver=True,
            include_dashboard=False, configure_logging=False,
        )  # fmt: skip
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"cannot join the Ray cluster at {settings.address!r}: {exc}") from None
    return True


@dataclass(frozen=True)
class WorkerNode:
    node_id: str
    address: str
    cpus: float
    gpus: float


def worker_nodes(settings: RaySettings) -> list[WorkerNode]:
    """Alive nodes that take jobs (those offering `worker_resource`, or every node if it is empty)."""
    nodes = []
    for n in ray.nodes():
        res = n.get("Resources", {})
        if not n.get("Alive") or (settings.worker_resource and res.get(settings.worker_resource, 0) <= 0):
            continue
        nodes.append(WorkerNode(n["NodeID"], n.get("NodeManagerAddress", "?"), res.get("CPU", 0.0), res.get("GPU", 0.0)))
    return nodes


def pinned(node_id: str) -> NodeAffinitySchedulingStrategy:
    """Schedule on exactly this node (an actor per node; no silent move to the head)."""
    return NodeAffinitySchedulingStrategy(node_id=node_id, soft=False)


def current_node_id() -> str:
    return str(ray.get_runtime_context().get_node_id())


@dataclass
class Slot:
    """One actor on one node (one per node, or one per GPU) and the jobs it runs now."""

    actor: Any
    node_id: str
    index: int
    gpu: bool
    inflight: int = 0
    ready: Any = None  # ObjectRef of its ready() call


@dataclass
class ActorFleet:
    """The actors of one daemon across the worker nodes: created per node, dropped with their node.

    `make(node, index, gpu)` creates one actor; `actors_per_node(node)` -> [(index, gpu), ...].
    A node whose actor died is never used again (a node that comes back has a new node id).
    """

    settings: RaySettings
    make: Any
    actors_per_node: Any
    slots: dict[tuple[str, int], Slot] = field(default_factory=dict)
    dead_nodes: set[str] = field(default_factory=set)
    _refreshed: float = field(default=float("-inf"))
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def inflight(self) -> int:
        return sum(s.inflight for s in self.slots.values())

    def nodes(self) -> set[str]:
        return {s.node_id for s in self.slots.values()}

    async def refresh(self, force: bool = False) -> None:
        """Create actors on new worker nodes, drop those of nodes gone (at most every node_refresh_s)."""
        async with self._lock:
            if not force and time.monotonic() - self._refreshed < self.settings.node_refresh_s:
                return
            nodes = await asyncio.to_thread(worker_nodes, self.settings)
            self._refreshed = time.monotonic()
            alive = {n.node_id for n in nodes}
            for slot in list(self.slots.values()):
                if slot.node_id not in alive:
                    logger.warning("Ray node {} left the cluster: its actor is dropped", slot.node_id[:12])
                    self.drop(slot)
            for node in nodes:
                if node.node_id in self.dead_nodes:
                    continue
                for index, gpu in self.actors_per_node(node):
                    if (node.node_id, index) not in self.slots:
                        actor = self.make(node, index, gpu)
                        self.slots[(node.node_id, index)] = Slot(actor, node.node_id, index, gpu, ready=actor.ready.remote())
                        logger.info("Ray node {} ({}): actor {} started{}", node.node_id[:12], node.address, index,
                                    " (GPU)" if gpu else "")  # fmt: skip

    def drop(self, slot: Slot, *, dead: bool = False) -> None:
        """Forget `slot` (and, if `dead`, its whole node)."""
        if dead:
            self.dead_nodes.add(slot.node_id)
            for key, other in list(self.slots.items()):
                if other.node_id == slot.node_id:
                    self.slots.pop(key, None)
        else:
            self.slots.pop((slot.node_id, slot.index), None)
        try:
            ray.kill(slot.actor, no_restart=True)
        except Exception as exc:  # already gone with its node
            logger.debug("killing the actor on {}: {}", slot.node_id[:12], exc)

    def pick(self, *, gpu: bool | None = None, avoid: set[str] | None = None) -> Slot | None:
        """The least busy slot (GPU ones if `gpu`), preferring nodes not in `avoid`."""
        pool = [s for s in self.slots.values() if gpu is None or s.gpu == gpu] or list(self.slots.values())
        if not pool:
            return None
        fresh = [s for s in pool if s.node_id not in (avoid or set())] or pool
        return min(fresh, key=lambda s: (s.inflight, s.node_id, s.index))

    async def wait_ready(self, timeout_s: float) -> int:
        """Wait until at least one actor answered ready(); raise ClusterError with the reason if none can."""
        deadline = time.monotonic() + timeout_s
        last: str = "no worker node"
        while time.monotonic() < deadline:
            await self.refresh(force=True)
            for slot in list(self.slots.values()):
                try:
                    await asyncio.wait_for(asyncio.wrap_future(slot.ready.future()), timeout=1.0)
                    return len(self.slots)
                except TimeoutError:
                    last = "actors still starting"
                except ray.exceptions.RayError as exc:
                    last = f"actor on node {slot.node_id[:12]} failed to start: {exc}"
                    self.drop(slot, dead=False)
            await asyncio.sleep(0.5)
        hint = f"resource {self.settings.worker_resource!r}" if self.settings.worker_resource else "any resource"
        raise ClusterError(f"no Ray worker node ready after {timeout_s:g}s (nodes must offer {hint}): {last}")

    def kill_all(self) -> None:
        for slot in list(self.slots.values()):
            self.drop(slot)
