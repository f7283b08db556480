"""Leader election on a coordination.k8s.io/v1 Lease, the way client-go does it.

One Lease names the leader in `spec.holderIdentity`. Candidates read it every `retry_period`;
a candidate takes the Lease when it is free (no holder) or expired, and the leader renews
`spec.renewTime` every `retry_period`. Every write is a PUT carrying the resourceVersion that
was read, so of two candidates racing for an expired Lease exactly one wins (the other gets a
409 Conflict).

Expiry is judged on the local monotonic clock, never by comparing `renewTime` with our own wall
clock: a candidate notes *when it saw the record change* and treats the Lease as expired once
`leaseDurationSeconds` pass without a change (client-go's `observedTime`). Clock skew between
replicas therefore does not matter, only the rate of their clocks.

Safety comes from the ordering of the three durations (defaults from client-go: lease 15 s,
renew deadline 10 s, retry 2 s): a leader that cannot renew for `renew_deadline` steps down,
which is before any other candidate may consider the Lease expired (`lease_duration` after the
last renewal it saw). A leader that stops cleanly releases the Lease (empty holder, duration
1 s) so the next one takes over at its next retry instead of waiting for expiry.

Listeners (`add_listener`) are called with True on gaining and False on losing leadership,
synchronously, in the elector's task; `is_leader` flips before they are called.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from carbide_dpf.kube.client import KubeClient, KubeObject
from carbide_dpf.kube.errors import AlreadyExistsError, ConflictError, KubeError
from carbide_dpf.kube.resource import LEASE

__all__ = ["LeaderElectionConfig", "LeaderElector", "default_identity"]

log = logging.getLogger(__name__)

Listener = Callable[[bool], None]

# client-go waits retryPeriod * (1 + rand * 1.2) between attempts to acquire, so candidates
# that started together do not hit the Lease in lockstep.
_ACQUIRE_JITTER = 1.2


def default_identity() -> str:
    """Return `<hostname>_<random>`: unique per process even for replicas on one host."""
    return f"{socket.gethostname()}_{uuid.uuid4().hex[:12]}"


@dataclass(frozen=True, slots=True)
class LeaderElectionConfig:
    """Where the Lease is and how fast it is renewed (client-go's defaults)."""

    lease_name: str = "carbide-dpf-watcher"
    namespace: str | None = None
    """The Lease's namespace; None means the namespace of whoever uses it (e.g. the watcher)."""
    identity: str = field(default_factory=default_identity)
    lease_duration: float = 15.0
    """How long a Lease that is not renewed stays held (seconds)."""
    renew_deadline: float = 10.0
    """How long a leader keeps trying to renew before it steps down (seconds)."""
    retry_period: float = 2.0
    """The interval between attempts to acquire or renew (seconds)."""

    def __post_init__(self) -> None:
        """Check the durations keep the safety margin client-go requires."""
        if not self.lease_duration > self.renew_deadline:
            raise ValueError("lease_duration must be greater than renew_deadline")
        if not self.renew_deadline > _ACQUIRE_JITTER * self.retry_period:
            raise ValueError("renew_deadline must be greater than 1.2 * retry_period")
        if self.retry_period <= 0:
            raise ValueError("retry_period must be positive")
        if not self.identity:
            raise ValueError("identity must not be empty")


class LeaderElector:
    """Take part in the election on one Lease; `run()` (or `async with`) until cancelled."""

    def __init__(
        self,
        kube: KubeClient,
        config: LeaderElectionConfig,
        *,
        namespace: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Prepare to compete for `config.lease_name` in `config.namespace or namespace`."""
        self._kube = kube
        self.config = config
        self.namespace = config.namespace or namespace or kube.namespace
        self._clock = clock
        self._listeners: list[Listener] = []
        self._leading = False
        self._leading_event = asyncio.Event()
        self._last_renew = 0.0
        # What we last read or wrote, and when (monotonic) we saw it change: the expiry clock.
        self._observed: KubeObject | None = None
        self._observed_spec: dict[str, Any] | None = None
        self._observed_at = 0.0
        self._task: asyncio.Task[None] | None = None

    @property
    def identity(self) -> str:
        """This candidate's holderIdentity."""
        return self.config.identity

    @property
    def is_leader(self) -> bool:
        """Whether this candidate holds the Lease (as of its last successful renewal)."""
        return self._leading

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(True)` on gaining and `listener(False)` on losing leadership."""
        self._listeners.append(listener)

    async def wait_leading(self) -> None:
        """Return once this candidate leads."""
        await self._leading_event.wait()

    async def __aenter__(self) -> LeaderElector:
        self._task = asyncio.create_task(self.run(), name=f"leader-election-{self.identity}")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self.release()

    async def run(self) -> None:
        """Acquire, then renew, until cancelled; step down when renewing fails too long."""
        log.info("leader election started lease=%s ns=%s identity=%s",
                 self.config.lease_name, self.namespace, self.identity)
        while True:
            if self._leading:
                await self._renew_once()
                await asyncio.sleep(self.config.retry_period)
            else:
                if await self._attempt(self.config.retry_period):
                    self._set_leading(True)
                    continue
                jitter = 1.0 + random.random() * _ACQUIRE_JITTER
                await asyncio.sleep(self.config.retry_period * jitter)

    async def release(self) -> None:
        """Give the Lease up if we hold it, so another candidate takes over at once."""
        if not self._leading or self._observed is None:
            self._set_leading(False)
            return

        lease = self._observed
        now = _micro_time()
        lease["spec"] = {**(lease.get("spec") or {}), "holderIdentity": "",
                         "leaseDurationSeconds": 1, "renewTime": now, "acquireTime": now}
        self._set_leading(False)
        try:
            await self._kube.replace(LEASE, lease, self.namespace)
            log.info("released lease=%s ns=%s identity=%s",
                     self.config.lease_name, self.namespace, self.identity)
        except KubeError as exc:
            # Someone else already holds it, or the server is gone: expiry frees it anyway.
            log.info("could not release lease=%s ns=%s reason=%s",
                     self.config.lease_name, self.namespace, exc)

    async def _renew_once(self) -> None:
        remaining = self.config.renew_deadline - (self._clock() - self._last_renew)
        if remaining > 0 and await self._attempt(remaining):
            return

        if self._clock() - self._last_renew >= self.config.renew_deadline or not self._held():
            log.warning("lost leadership lease=%s ns=%s identity=%s",
                        self.config.lease_name, self.namespace, self.identity)
            self._set_leading(False)

    async def _attempt(self, budget: float) -> bool:
        """Try once to acquire or renew, within `budget` seconds; True if we hold the Lease."""
        try:
            async with asyncio.timeout(budget):
                return await self._try_acquire_or_renew()
        except TimeoutError:
            log.debug("lease request timed out lease=%s", self.config.lease_name)
        except KubeError as exc:
            log.debug("lease request failed lease=%s error=%s", self.config.lease_name, exc)
        return False

    async def _try_acquire_or_renew(self) -> bool:
        lease = await self._kube.get_or_none(LEASE, self.config.lease_name, self.namespace)
        now = self._clock()
        if lease is None:
            return await self._create(now)

        spec = lease.get("spec") or {}
        if spec != self._observed_spec:
            self._observed_spec = dict(spec)
            self._observed_at = now
        self._observed = lease

        holder = spec.get("holderIdentity") or ""
        duration = float(spec.get("leaseDurationSeconds") or self.config.lease_duration)
        if holder and holder != self.identity and now < self._observed_at + duration:
            return False

        return await self._write(lease, holder, now)

    async def _create(self, now: float) -> bool:
        stamp = _micro_time()
        body = {
            "apiVersion": LEASE.api_version,
            "kind": LEASE.kind,
            "metadata": {"name": self.config.lease_name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.identity,
                "leaseDurationSeconds": _whole_seconds(self.config.lease_duration),
                "acquireTime": stamp,
                "renewTime": stamp,
                "leaseTransitions": 0,
            },
        }
        try:
            created = await self._kube.create(LEASE, body, self.namespace)
        except AlreadyExistsError:
            return False
        self._observe_own(created, now)
        return True

    async def _write(self, lease: KubeObject, holder: str, now: float) -> bool:
        spec = dict(lease.get("spec") or {})
        stamp = _micro_time()
        if holder != self.identity:
            spec["acquireTime"] = stamp
            spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
            log.info("acquiring lease=%s ns=%s identity=%s previous=%s",
                     self.config.lease_name, self.namespace, self.identity, holder or "-")
        spec["holderIdentity"] = self.identity
        spec["leaseDurationSeconds"] = _whole_seconds(self.config.lease_duration)
        spec["renewTime"] = stamp

        # The resourceVersion read above is the precondition: a concurrent writer wins, we lose.
        body = {**lease, "spec": spec}
        try:
            written = await self._kube.replace(LEASE, body, self.namespace)
        except ConflictError:
            return False
        self._observe_own(written, now)
        return True

    def _observe_own(self, lease: KubeObject, now: float) -> None:
        self._observed = lease
        self._observed_spec = dict(lease.get("spec") or {})
        self._observed_at = now
        self._last_renew = now

    def _held(self) -> bool:
        spec = self._observed_spec or {}
        return spec.get("holderIdentity") == self.identity

    def _set_leading(self, leading: bool) -> None:
        if leading == self._leading:
            return
        self._leading = leading
        if leading:
            self._leading_event.set()
            log.info("became leader lease=%s ns=%s identity=%s",
                     self.config.lease_name, self.namespace, self.identity)
        else:
            self._leading_event.clear()
        for listener in list(self._listeners):
            listener(leading)


def _micro_time() -> str:
    """Now as a Kubernetes MicroTime (RFC 3339 with microseconds, UTC)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _whole_seconds(seconds: float) -> int:
    # leaseDurationSeconds is an integer; never round a short test lease down to 0.
    return max(1, round(seconds))
