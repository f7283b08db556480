"""What every simulated controller shares: the context, the worker loop, dwell timers.

Each controller owns a work queue of store keys (`namespace/name`) and a few workers. Its
`reconcile(key)` reads the informers' stores, compares with what the operator would want, and
writes the difference (level-triggered: it never relies on which event woke it). The only
memory kept between reconciles is what may be lost on restart: when an object entered its
current phase (dwell timers) and which faults already fired.
"""

from __future__ import annotations

import asyncio
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

from carbide_dpf.kube.client import KubeClient, KubeObject
from carbide_dpf.kube.errors import ConflictError, KubeError, NotFoundError
from carbide_dpf.kube.informer import Store
from carbide_dpf.kube.ratelimit import ItemExponentialRateLimiter
from carbide_dpf.kube.resource import ResourceKind
from carbide_dpf.kube.workqueue import QueueShutDown, WorkQueue
from carbide_dpf.sim import metrics
from carbide_dpf.sim.config import SimConfig
from carbide_dpf.sim.faults import FaultPlan
from carbide_dpf.sim.objects import has_finalizer

__all__ = ["Controller", "Dwell", "SimContext", "bounded_gather"]

log = logging.getLogger(__name__)

# Retries back off per key only: client-go's default adds an overall 10 qps bucket, which
# would throttle a fleet of 2,000 DPUs whose writes conflict now and then.
_RETRY_BASE = 0.005
_RETRY_CAP = 10.0
# Concurrent requests one reconcile may have in flight (DPUSet creates, cascade deletes).
_FAN_OUT = 8


@dataclass(slots=True)
class SimContext:
    """The client, the settings, the faults and the informers' stores every controller reads."""

    kube: KubeClient
    config: SimConfig
    faults: FaultPlan
    bfbs: Store
    flavors: Store
    deployments: Store
    dpusets: Store
    devices: Store
    nodes: Store
    dpus: Store
    maintenances: Store


class Dwell:
    """When each object entered its current phase, to hold it there for the dwell time.

    Kept in memory on purpose: after a restart an object simply dwells again, from zero.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        """Create an empty table; `clock` returns monotonic seconds."""
        self._clock = clock
        self._entered: dict[str, tuple[str, str, float]] = {}

    def remaining(self, key: str, uid: str, phase: str, seconds: float) -> float:
        """Return the seconds `key` must still stay in `phase` (0 when it may move on)."""
        if seconds <= 0:
            return 0.0

        now = self._clock()
        entry = self._entered.get(key)
        if entry is None or entry[0] != uid or entry[1] != phase:
            self._entered[key] = (uid, phase, now)
            return seconds
        return max(0.0, entry[2] + seconds - now)

    def forget(self, key: str) -> None:
        """Drop the timer of an object that is gone."""
        self._entered.pop(key, None)


class Controller(ABC):
    """A work queue, its workers, and the reconcile they run per key."""

    name: ClassVar[str]

    def __init__(self, ctx: SimContext, workers: int) -> None:
        """Create the controller; nothing runs until `start()`."""
        self.ctx = ctx
        self.queue: WorkQueue[str] = WorkQueue(
            rate_limiter=ItemExponentialRateLimiter(_RETRY_BASE, _RETRY_CAP), name=self.name
        )
        self._workers = workers
        self._tasks: list[asyncio.Task[None]] = []

    @abstractmethod
    async def reconcile(self, key: str) -> float | None:
        """Bring the object at `key` one step closer to what the operator wants.

        Returns a delay after which to look again (a dwell time), or None.
        """

    def start(self) -> None:
        """Start the workers."""
        self._tasks = [
            asyncio.create_task(self._work(), name=f"sim-{self.name}-worker-{i}")
            for i in range(self._workers)
        ]

    async def stop(self) -> None:
        """Stop handing out keys and cancel the workers, mid-request if need be."""
        await self.queue.shutdown(drain=False)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def _work(self) -> None:
        while True:
            try:
                key = await self.queue.get()
            except QueueShutDown:
                return

            metrics.RECONCILES.labels(self.name).inc()
            try:
                delay = await self.reconcile(key)
            except KubeError as exc:
                # Mostly conflicts: our store was behind the server; the retry catches up.
                log.debug("retrying controller=%s key=%s error=%s", self.name, key, exc)
                self._retry(key)
            except Exception:
                log.exception("reconcile failed controller=%s key=%s", self.name, key)
                self._retry(key)
            else:
                self.queue.forget(key)
                if delay is not None:
                    self.queue.add_after(key, delay)
            finally:
                self.queue.done(key)

    def _retry(self, key: str) -> None:
        metrics.RECONCILE_ERRORS.labels(self.name).inc()
        self.queue.add_rate_limited(key)

    async def add_finalizer(self, kind: ResourceKind, obj: KubeObject, finalizer: str) -> None:
        """Add `finalizer` to `obj` unless it has it (optimistic: fails on a stale object)."""
        if has_finalizer(obj, finalizer):
            return
        meta = obj["metadata"]
        finalizers = [*(meta.get("finalizers") or []), finalizer]
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}}
        await self.ctx.kube.merge_patch(kind, meta["name"], patch, meta["namespace"])

    async def remove_finalizer(self, kind: ResourceKind, obj: KubeObject, finalizer: str) -> None:
        """Remove `finalizer` from `obj` if present; the API server then finishes the delete."""
        if not has_finalizer(obj, finalizer):
            return
        meta = obj["metadata"]
        finalizers = [f for f in meta.get("finalizers") or [] if f != finalizer]
        patch = {"metadata": {"finalizers": finalizers, "resourceVersion": meta["resourceVersion"]}}
        await self.ctx.kube.merge_patch(kind, meta["name"], patch, meta["namespace"])
        log.info("removed finalizer kind=%s name=%s ns=%s", kind.kind, meta["name"],
                 meta["namespace"])

    async def delete_quietly(self, kind: ResourceKind, obj: KubeObject) -> None:
        """Delete `obj` (this exact uid); an object already gone is fine."""
        meta = obj["metadata"]
        try:
            await self.ctx.kube.delete(kind, meta["name"], meta["namespace"], uid=meta["uid"])
        except (NotFoundError, ConflictError):
            return
        log.info("deleted kind=%s name=%s ns=%s", kind.kind, meta["name"], meta["namespace"])


async def bounded_gather(
    calls: Iterable[Callable[[], Awaitable[Any]]], limit: int = _FAN_OUT
) -> None:
    """Run the calls with at most `limit` in flight; re-raise the first failure at the end."""
    semaphore = asyncio.Semaphore(limit)

    async def run(call: Callable[[], Awaitable[Any]]) -> None:
        async with semaphore:
            await call()

    results = await asyncio.gather(*(run(c) for c in calls), return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
