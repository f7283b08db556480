"""The watcher under connection cuts, 410 relists and leader handovers (real API server)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import shutil
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.leader import LeaderElectionConfig
from carbide_dpf.kube.ratelimit import ExponentialBackoff
from carbide_dpf.kube.resource import LEASE, NAMESPACE
from carbide_dpf.models.registry import DPU
from carbide_dpf.sandbox.controlplane import ControlPlane
from carbide_dpf.sandbox.crds import install_crds
from carbide_dpf.watcher import DpuWatcher
from tests.kube.proxy import TcpProxy
from tests.watcher.watcher_helpers import PHASES, Recorder, dpu_body, drive, eventually, set_status

FAST_RETRY = ExponentialBackoff(0.02, 0.3, jitter=0.2)
STATES = ("on_maintenance_needed", "on_reboot_required", "on_dpu_ready")


def _watcher(kube: KubeClient, namespace: str, **kw: Any) -> DpuWatcher:
    kw.setdefault("retry_backoff", FAST_RETRY)
    kw.setdefault("max_retries", 100)
    return DpuWatcher(kube, namespace=namespace, registry=CollectorRegistry(), **kw)


def _assert_each_state_once(recorder: Recorder, names: list[str]) -> None:
    for name in names:
        counts = {cb: recorder.count(cb, name) for cb in STATES}
        assert counts == dict.fromkeys(STATES, 1), (name, counts)
        assert recorder.of("on_phase_change", name)[-1].phase == "Ready", name


@contextlib.asynccontextmanager
async def _proxied(plane: ControlPlane) -> AsyncIterator[tuple[KubeClient, TcpProxy]]:
    port = int(plane.server.rsplit(":", 1)[1])
    async with TcpProxy("127.0.0.1", port) as proxy:
        config = dataclasses.replace(plane.cluster_config(), server=proxy.url)
        async with KubeClient(config, max_retries=1, timeout=3.0) as client:
            yield client, proxy


async def _cut_repeatedly(proxy: TcpProxy, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        proxy.cut()


async def test_storm_with_connection_cuts_delivers_every_state_exactly_once(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, recorder: Recorder
) -> None:
    names = [f"d{i}" for i in range(16)]
    for name in names:
        await kube.create(DPU, dpu_body(name), namespace)

    async with _proxied(control_plane) as (client, proxy):
        watcher = _watcher(client, namespace)
        recorder.attach(watcher)
        async with watcher:
            chaos = asyncio.create_task(_cut_repeatedly(proxy, 0.25), name="chaos")
            try:
                await asyncio.gather(*(drive(kube, namespace, n, recorder, within=60)
                                       for n in names))
                await eventually(lambda: recorder.count("on_dpu_ready") >= len(names), 60)
            finally:
                chaos.cancel()
            await watcher.wait_idle(30)
            await asyncio.sleep(0.5)
            assert watcher.informer.reconnects + watcher.informer.relists >= 1

    assert proxy.accepted > 2
    _assert_each_state_once(recorder, names)


# --- 410 Gone in the middle of a storm -------------------------------------------------------


@pytest.fixture(scope="module")
def uncached_plane(crds_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[
        ControlPlane]:
    """A control plane without the watch cache: compacting etcd makes resumed watches 410."""
    only_dpu = tmp_path_factory.mktemp("dpu-crd")
    for path in crds_dir.glob("*_dpus.provisioning.dpu.nvidia.com.yaml"):
        shutil.copy(path, only_dpu)
    with ControlPlane(extra_apiserver_args=["--watch-cache=false"]) as plane:

        async def install() -> None:
            async with plane.client() as kube:
                await install_crds(kube, only_dpu)

        asyncio.run(install())
        yield plane


async def test_a_410_relist_mid_storm_delivers_final_states_once(
    uncached_plane: ControlPlane, recorder: Recorder
) -> None:
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    names = [f"d{i}" for i in range(10)]
    async with uncached_plane.client() as kube:
        await kube.create(NAMESPACE, {"metadata": {"name": namespace}})
        for name in names:
            await kube.create(DPU, dpu_body(name), namespace)
        async with _proxied(uncached_plane) as (client, proxy):
            watcher = _watcher(client, namespace)
            recorder.attach(watcher)
            async with watcher:
                await _storm_across_a_compaction(kube, uncached_plane, proxy, namespace,
                                                 names, recorder)
                assert watcher.informer.relists >= 1
                relists = watcher.metrics.registry.get_sample_value(
                    "carbide_dpf_watcher_relists_total")
                assert relists is not None and relists >= 1

    held, jumped, deleted = names[:5], names[5:9], names[9]
    _assert_each_state_once(recorder, held)
    for name in jumped:
        # The transitions inside the gap arrive as one; entries nobody saw are not invented.
        assert [(c.previous, c.phase) for c in recorder.of("on_phase_change", name)][-1] == (
            "Pending", "Ready")
        assert recorder.count("on_dpu_ready", name) == 1
        assert recorder.count("on_maintenance_needed", name) == 0
    assert recorder.count("on_maintenance_needed", deleted) == 0
    assert any(c.name == deleted for c in recorder.of("on_dpu_event")
               if c.phase == "Pending") and recorder.count("on_dpu_ready", deleted) == 0


async def _storm_across_a_compaction(
    kube: KubeClient, plane: ControlPlane, proxy: TcpProxy, namespace: str,
    names: list[str], recorder: Recorder,
) -> None:
    for name in names:
        await set_status(kube, namespace, name, "Pending")
    await eventually(lambda: len([c for c in recorder.of("on_phase_change")
                                  if c.phase == "Pending"]) == len(names))

    # While the watcher is cut off: five DPUs enter the hold, four go all the way to Ready,
    # one is deleted. Then history is compacted, so resuming the watch answers 410.
    proxy.block()
    proxy.cut()
    held, jumped, deleted = names[:5], names[5:9], names[9]
    for name in held:
        await set_status(kube, namespace, name, "Node Effect")
    for name in jumped:
        for phase in PHASES[2:]:
            await set_status(kube, namespace, name, phase)
    await kube.delete(DPU, deleted, namespace)
    await asyncio.to_thread(plane.compact_etcd)
    proxy.unblock()

    await asyncio.gather(*(drive(kube, namespace, n, recorder, within=60) for n in held))
    await eventually(lambda: recorder.count("on_dpu_ready") >= len(held) + len(jumped), 60)
    await eventually(lambda: any(c.callback == "on_dpu_event" and c.name == deleted
                                 for c in recorder.calls), 30)


# --- leader election -------------------------------------------------------------------------


def _election(identity: str) -> LeaderElectionConfig:
    return LeaderElectionConfig(lease_name="dpu-watcher", identity=identity,
                                lease_duration=2.0, renew_deadline=1.5, retry_period=0.2)


async def test_two_watchers_one_acts_and_the_other_takes_over_on_stop(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, recorder: Recorder
) -> None:
    names = [f"d{i}" for i in range(10)]
    for name in names:
        await kube.create(DPU, dpu_body(name), namespace)

    async with control_plane.client() as kube_a, control_plane.client() as kube_b:
        a = _watcher(kube_a, namespace, leader_election=_election("a"))
        b = _watcher(kube_b, namespace, leader_election=_election("b"))
        recorder.attach(a, "a")
        recorder.attach(b, "b")
        await a.__aenter__()
        try:
            await a.wait_leading(5)
            async with b:
                driving = asyncio.gather(*(drive(kube, namespace, n, recorder, within=60)
                                           for n in names))
                await eventually(lambda: recorder.count("on_maintenance_needed") >= 5, 30)
                assert {c.watcher for c in recorder.calls} == {"a"}
                assert not b.is_leader
                await a.__aexit__(None, None, None)
                stopped_at = len(recorder.calls)
                await b.wait_leading(5)
                await driving
                await eventually(lambda: recorder.count("on_dpu_ready") >= len(names), 60)
                await b.wait_idle(10)
        finally:
            await a.__aexit__(None, None, None)

    assert {c.watcher for c in recorder.calls[:stopped_at]} == {"a"}
    assert {c.watcher for c in recorder.calls[stopped_at:]} == {"b"}
    _assert_each_state_once(recorder, names)


async def test_a_leader_cut_off_from_the_api_hands_over_without_doubling(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, recorder: Recorder
) -> None:
    names = [f"d{i}" for i in range(6)]
    for name in names:
        await kube.create(DPU, dpu_body(name), namespace)

    async with _proxied(control_plane) as (client_a, proxy), control_plane.client() as kube_b:
        a = _watcher(client_a, namespace, leader_election=_election("a"))
        b = _watcher(kube_b, namespace, leader_election=_election("b"))
        recorder.attach(a, "a")
        recorder.attach(b, "b")
        async with a:
            await a.wait_leading(5)
            async with b:
                for name in names[:3]:
                    await drive(kube, namespace, name, recorder, within=30)
                # Phase changes are not in the ledger (docs/watcher.md): let `a` deliver the
                # first DPUs' last ones before cutting it off, so the test checks the handover
                # of state callbacks rather than racing it.
                await eventually(lambda: recorder.count("on_dpu_ready") >= 3, 30)
                await a.wait_idle(10)
                proxy.block()
                proxy.cut()
                await eventually(lambda: not a.is_leader, 5)
                await b.wait_leading(10)
                await asyncio.gather(*(drive(kube, namespace, n, recorder, within=30)
                                       for n in names[3:]))
                await eventually(lambda: recorder.count("on_dpu_ready") >= len(names), 30)
                await b.wait_idle(10)
                await asyncio.sleep(0.5)

    _assert_each_state_once(recorder, names)
    assert {c.watcher for c in recorder.calls if c.name in names[3:]} == {"b"}


async def test_a_stop_with_a_callback_still_running_leaves_the_lease_to_expire(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    await kube.create(DPU, dpu_body("d0"), namespace)
    started, release = threading.Event(), threading.Event()
    spans: list[tuple[str, float, float]] = []

    def slow_on_a(event: Any) -> None:
        begin = time.monotonic()
        started.set()
        release.wait(10)
        spans.append(("a", begin, time.monotonic()))

    def quick_on_b(event: Any) -> None:
        spans.append(("b", time.monotonic(), time.monotonic()))

    async with control_plane.client() as kube_a, control_plane.client() as kube_b:
        a = _watcher(kube_a, namespace, leader_election=_election("a"), shutdown_timeout=0.3)
        b = _watcher(kube_b, namespace, leader_election=_election("b"))
        a.on_dpu_ready(slow_on_a)
        b.on_dpu_ready(quick_on_b)
        await a.__aenter__()
        try:
            await a.wait_leading(5)
            async with b:
                await set_status(kube, namespace, "d0", "Ready")
                await asyncio.to_thread(started.wait, 10)
                await a.__aexit__(None, None, None)

                # a's function still runs in its thread: the Lease stays a's, so b waits.
                lease = await kube.get(LEASE, "dpu-watcher", namespace)
                assert lease["spec"].get("holderIdentity") == "a"
                await asyncio.sleep(0.5)
                assert not b.is_leader
                release.set()
                await b.wait_leading(5)
                await eventually(lambda: len(spans) == 2, 10)
        finally:
            release.set()
            await a.__aexit__(None, None, None)

    (_, _, a_ended), (who, b_began, _) = spans
    # At least once across the handover (no ledger entry was written), never side by side.
    assert who == "b" and b_began > a_ended
