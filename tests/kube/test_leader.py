"""Lease leader election against a real kube-apiserver."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncIterator
from datetime import datetime

import pytest

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.leader import LeaderElectionConfig, LeaderElector
from carbide_dpf.kube.resource import LEASE
from carbide_dpf.sandbox.controlplane import ControlPlane
from tests.kube.proxy import TcpProxy


def _config(identity: str) -> LeaderElectionConfig:
    return LeaderElectionConfig(lease_name="test-lease", identity=identity,
                                lease_duration=2.0, renew_deadline=1.5, retry_period=0.2)


async def _wait(predicate: object, within: float = 10.0) -> float:
    """Wait until `predicate()` is true; return the seconds it took."""
    start = time.monotonic()
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() - start < within, "condition not met in time"
        await asyncio.sleep(0.02)
    return time.monotonic() - start


@contextlib.asynccontextmanager
async def _running(elector: LeaderElector) -> AsyncIterator[asyncio.Task[None]]:
    """Run the election loop without releasing on exit (as if the process died)."""
    task = asyncio.create_task(elector.run(), name=f"elector-{elector.identity}")
    try:
        yield task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_durations_must_leave_the_client_go_safety_margin() -> None:
    with pytest.raises(ValueError, match="renew_deadline"):
        LeaderElectionConfig(lease_duration=10, renew_deadline=10, retry_period=2)
    with pytest.raises(ValueError, match="retry_period"):
        LeaderElectionConfig(lease_duration=15, renew_deadline=2, retry_period=2)
    assert LeaderElectionConfig().lease_duration == 15.0


async def test_first_candidate_creates_the_lease_and_keeps_renewing(
    kube: KubeClient, namespace: str
) -> None:
    elector = LeaderElector(kube, _config("a"), namespace=namespace)
    async with elector:
        await asyncio.wait_for(elector.wait_leading(), 5)
        first = await kube.get(LEASE, "test-lease", namespace)
        await asyncio.sleep(0.5)
        later = await kube.get(LEASE, "test-lease", namespace)

    spec = first["spec"]
    assert spec["holderIdentity"] == "a"
    assert spec["leaseDurationSeconds"] == 2
    assert spec["leaseTransitions"] == 0
    assert spec["acquireTime"] == later["spec"]["acquireTime"]
    assert _ts(later["spec"]["renewTime"]) > _ts(spec["renewTime"])


async def test_a_second_candidate_waits_then_takes_over_at_once_after_release(
    kube: KubeClient, namespace: str
) -> None:
    a = LeaderElector(kube, _config("a"), namespace=namespace)
    b = LeaderElector(kube, _config("b"), namespace=namespace)
    changes: list[tuple[str, bool]] = []
    a.add_listener(lambda leading: changes.append(("a", leading)))
    b.add_listener(lambda leading: changes.append(("b", leading)))

    async with a:
        await asyncio.wait_for(a.wait_leading(), 5)
        async with b:
            await asyncio.sleep(2.5)  # longer than the lease: a renews, b must not win
            assert a.is_leader and not b.is_leader
            await a.__aexit__(None, None, None)  # clean stop: releases the Lease
            took = await _wait(lambda: b.is_leader)
            lease = await kube.get(LEASE, "test-lease", namespace)

    assert took < 1.0  # a retry period or so, not a lease duration
    assert changes == [("a", True), ("a", False), ("b", True), ("b", False)]
    assert lease["spec"]["holderIdentity"] == "b"
    assert lease["spec"]["leaseTransitions"] == 1


async def test_a_dead_leaders_lease_is_taken_only_after_it_expires(
    kube: KubeClient, namespace: str
) -> None:
    a = LeaderElector(kube, _config("a"), namespace=namespace)
    b = LeaderElector(kube, _config("b"), namespace=namespace)

    async with _running(a):
        await asyncio.wait_for(a.wait_leading(), 5)
    async with _running(b):
        took = await _wait(lambda: b.is_leader)

    # b first sees the record at some point, then needs a full lease without a renewal.
    assert 1.8 <= took <= 4.0


async def test_candidates_racing_for_a_free_lease_elect_exactly_one(
    kube: KubeClient, namespace: str
) -> None:
    electors = [LeaderElector(kube, _config(f"c{i}"), namespace=namespace) for i in range(4)]
    async with contextlib.AsyncExitStack() as stack:
        for elector in electors:
            await stack.enter_async_context(_running(elector))
        await _wait(lambda: any(e.is_leader for e in electors))
        for _ in range(20):
            assert sum(e.is_leader for e in electors) == 1
            await asyncio.sleep(0.1)
        leader = next(e for e in electors if e.is_leader)
        lease = await kube.get(LEASE, "test-lease", namespace)

    assert lease["spec"]["holderIdentity"] == leader.identity


@pytest.fixture
async def proxied(control_plane: ControlPlane) -> AsyncIterator[tuple[KubeClient, TcpProxy]]:
    port = int(control_plane.server.rsplit(":", 1)[1])
    async with TcpProxy("127.0.0.1", port) as proxy:
        config = dataclasses.replace(control_plane.cluster_config(), server=proxy.url)
        async with KubeClient(config, max_retries=0, timeout=1.0) as client:
            yield client, proxy


async def test_a_leader_cut_off_steps_down_before_another_can_take_over(
    kube: KubeClient, namespace: str, proxied: tuple[KubeClient, TcpProxy]
) -> None:
    client, proxy = proxied
    a = LeaderElector(client, _config("a"), namespace=namespace)
    b = LeaderElector(kube, _config("b"), namespace=namespace)
    lost_at: list[float] = []
    a.add_listener(lambda leading: None if leading else lost_at.append(time.monotonic()))

    async with _running(a):
        await asyncio.wait_for(a.wait_leading(), 5)
        proxy.block()
        proxy.cut()
        cut_at = time.monotonic()
        async with _running(b):
            await _wait(lambda: b.is_leader)
            won_at = time.monotonic()

    assert lost_at, "the cut-off leader never stepped down"
    assert lost_at[0] - cut_at <= 1.5 + 0.5  # renew deadline, plus one attempt's timeout
    assert lost_at[0] < won_at  # never two leaders at once


def _ts(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))
