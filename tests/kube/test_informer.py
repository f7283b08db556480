"""The informer against a real kube-apiserver: list, watch, cuts, restarts, 410 and relist.

Connection failures are real ones: the informer's client talks to the API server through a
loopback TCP proxy (`proxy.TcpProxy`) that the test resets or blocks.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest

from carbide_dpf.kube.client import KubeClient, KubeObject
from carbide_dpf.kube.informer import EventType, Informer, InformerEvent, strip_managed_fields
from carbide_dpf.kube.ratelimit import ExponentialBackoff
from carbide_dpf.kube.resource import CONFIG_MAP, NAMESPACE, ResourceKind
from carbide_dpf.sandbox.controlplane import ControlPlane
from tests.kube.proxy import TcpProxy

DPU = ResourceKind("provisioning.dpu.nvidia.com", "v1alpha1", "DPU", "dpus")

# Tests do not wait for production-sized backoffs after a deliberate cut.
FAST_BACKOFF = ExponentialBackoff(0.05, 0.5, 0.5)


class Recorder:
    """A handler that keeps every event and lets the test wait for a condition on them."""

    def __init__(self) -> None:
        self.events: list[InformerEvent] = []

    def __call__(self, event: InformerEvent) -> None:
        self.events.append(event)

    def names(self, type_: EventType) -> list[str]:
        """Return the names of the objects of the events of `type_`, in order."""
        return [e.obj["metadata"]["name"] for e in self.events if e.type is type_]

    def saw(self, type_: EventType, name: str) -> Callable[[], bool]:
        """Return a check: has an event of `type_` for `name` arrived?"""
        return lambda: name in self.names(type_)


async def eventually(check: Callable[[], bool], within: float = 20.0) -> None:
    """Wait until `check()` holds, polling; fail the test after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {within}s")
        await asyncio.sleep(0.05)


def config_map(name: str, **labels: str) -> KubeObject:
    return {"metadata": {"name": name, "labels": labels}, "data": {"v": "0"}}


def dpu(name: str) -> KubeObject:
    spec = {
        "bfb": "bf-bundle",
        "dpuDeviceName": f"dev-{name}",
        "dpuNodeName": "node-1",
        "serialNumber": f"MT{name}",
    }
    return {"metadata": {"name": name}, "spec": spec}


async def server_keys(kube: KubeClient, kind: ResourceKind, namespace: str) -> dict[str, str]:
    """Return what the server holds: key -> resourceVersion."""
    listed = await kube.list(kind, namespace)
    return {
        f"{namespace}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
        for o in listed.items
    }


def store_keys(informer: Informer) -> dict[str, str]:
    return {key: o["metadata"]["resourceVersion"] for key, o in informer.store._items.items()}


@pytest.fixture
async def proxy(control_plane: ControlPlane) -> AsyncIterator[TcpProxy]:
    port = int(control_plane.server.rsplit(":", 1)[1])
    async with TcpProxy("127.0.0.1", port) as running:
        yield running


@pytest.fixture
async def proxied(control_plane: ControlPlane, proxy: TcpProxy) -> AsyncIterator[KubeClient]:
    """A client whose every connection goes through `proxy`."""
    config = dataclasses.replace(control_plane.cluster_config(), server=proxy.url)
    async with KubeClient(config, max_retries=1, timeout=5.0) as client:
        yield client


# --- list, watch, sync ------------------------------------------------------------------------


async def test_initial_list_emits_added_for_each_object_then_has_synced(
    kube: KubeClient, namespace: str
) -> None:
    for n in range(3):
        await kube.create(DPU, dpu(f"dpu-{n}"), namespace)
    informer = Informer(kube, DPU, namespace=namespace)
    synced_during_added: list[bool] = []
    informer.add_handler(lambda e: synced_during_added.append(informer.has_synced()))
    recorder = Recorder()
    informer.add_handler(recorder)

    assert not informer.has_synced()
    async with informer:
        await informer.wait_synced(timeout=10)

        assert informer.has_synced()
        assert sorted(recorder.names(EventType.ADDED)) == ["dpu-0", "dpu-1", "dpu-2"]
        assert synced_during_added == [False, False, False]
        assert sorted(informer.store.keys()) == [f"{namespace}/dpu-{n}" for n in range(3)]


async def test_watch_reports_added_modified_with_old_and_deleted_with_last_state(
    kube: KubeClient, namespace: str
) -> None:
    recorder = Recorder()
    informer = Informer(kube, DPU, namespace=namespace)
    informer.add_handler(recorder)

    async with informer:
        await informer.wait_synced(timeout=10)
        await kube.create(DPU, dpu("a"), namespace)
        await kube.patch_status(DPU, "a", {"status": {"phase": "Pending"}}, namespace)
        await kube.delete(DPU, "a", namespace)
        await eventually(lambda: recorder.names(EventType.DELETED) == ["a"])

    types = [e.type for e in recorder.events]
    assert types == [EventType.ADDED, EventType.MODIFIED, EventType.DELETED]
    modified = recorder.events[1]
    assert modified.obj["status"]["phase"] == "Pending"
    # The CRD defaults status.phase, so the previous state is the defaulted one.
    assert modified.old is not None and modified.old["status"]["phase"] == "Initializing"
    assert recorder.events[2].obj["status"]["phase"] == "Pending"
    assert len(informer.store) == 0
    assert informer.events_seen >= 3


async def test_transform_rewrites_listed_and_watched_objects_before_storing(
    kube: KubeClient, namespace: str
) -> None:
    await kube.apply(CONFIG_MAP, config_map("listed"), namespace)
    informer = Informer(kube, CONFIG_MAP, namespace=namespace, transform=strip_managed_fields)
    seen: list[InformerEvent] = []
    informer.add_handler(seen.append)

    async with informer:
        await informer.wait_synced(timeout=10)
        await kube.apply(CONFIG_MAP, config_map("watched"), namespace)
        await eventually(lambda: len(informer.store) == 2)

    server_side = await kube.get(CONFIG_MAP, "watched", namespace)
    assert server_side["metadata"]["managedFields"]
    for obj in informer.store.list():
        assert "managedFields" not in obj["metadata"]
        assert obj["metadata"]["uid"]
    assert {e.obj["metadata"]["name"] for e in seen} == {"listed", "watched"}
    assert all("managedFields" not in e.obj["metadata"] for e in seen)


async def test_a_list_of_more_than_500_objects_is_read_in_pages(
    control_plane: ControlPlane, namespace: str
) -> None:
    async with control_plane.client(qps=500.0, burst=500) as fast:
        await _create_many(fast, namespace, 510)

        for page_size, pages in [(500, 2), (200, 3)]:
            lists_before = fast.request_counts["LIST"]
            informer = Informer(fast, CONFIG_MAP, namespace=namespace, page_size=page_size)
            async with informer:
                await informer.wait_synced(timeout=60)

            assert len(informer.store) == 510
            assert informer.list_pages == pages
            assert fast.request_counts["LIST"] - lists_before == pages


async def _create_many(kube: KubeClient, namespace: str, count: int) -> None:
    limit = asyncio.Semaphore(32)

    async def create(n: int) -> None:
        async with limit:
            await kube.create(CONFIG_MAP, config_map(f"cm-{n:05d}"), namespace)

    await asyncio.gather(*(create(n) for n in range(count)))


async def test_indexers_follow_changes_seen_by_the_watch(
    kube: KubeClient, namespace: str
) -> None:
    def by_rack(obj: KubeObject) -> list[str]:
        rack = (obj["metadata"].get("labels") or {}).get("rack")
        return [rack] if rack else []

    await kube.create(CONFIG_MAP, config_map("a", rack="r1"), namespace)
    await kube.create(CONFIG_MAP, config_map("b", rack="r1"), namespace)
    informer = Informer(kube, CONFIG_MAP, namespace=namespace, indexers={"rack": by_rack})

    async with informer:
        await informer.wait_synced(timeout=10)
        assert informer.store.index_keys("rack", "r1") == [f"{namespace}/a", f"{namespace}/b"]

        await kube.merge_patch(CONFIG_MAP, "a", {"metadata": {"labels": {"rack": "r2"}}},
                               namespace)
        await kube.delete(CONFIG_MAP, "b", namespace)
        await eventually(lambda: informer.store.index_keys("rack", "r1") == [])

        assert informer.store.index_keys("rack", "r2") == [f"{namespace}/a"]
        assert informer.store.index_values("rack") == ["r2"]


async def test_an_inactive_watch_is_restarted_without_losing_events(
    kube: KubeClient, namespace: str
) -> None:
    recorder = Recorder()
    informer = Informer(kube, CONFIG_MAP, namespace=namespace, inactivity_timeout=0.3,
                        backoff=FAST_BACKOFF)
    informer.add_handler(recorder)

    async with informer:
        await informer.wait_synced(timeout=10)
        await eventually(lambda: informer.reconnects >= 2, within=10)
        await kube.create(CONFIG_MAP, config_map("late"), namespace)
        await eventually(lambda: recorder.names(EventType.ADDED) == ["late"])

    assert informer.relists == 0


# --- failures -------------------------------------------------------------------------------


async def test_objects_deleted_while_the_watch_was_cut_are_reported_deleted(
    kube: KubeClient, proxied: KubeClient, proxy: TcpProxy, namespace: str
) -> None:
    for name in ["keep", "drop-1", "drop-2", "change"]:
        await kube.create(CONFIG_MAP, config_map(name), namespace)
    recorder = Recorder()
    informer = Informer(proxied, CONFIG_MAP, namespace=namespace, backoff=FAST_BACKOFF)
    informer.add_handler(recorder)

    async with informer:
        await informer.wait_synced(timeout=10)
        proxy.block()
        assert proxy.cut() >= 1

        await kube.delete(CONFIG_MAP, "drop-1", namespace)
        await kube.delete(CONFIG_MAP, "drop-2", namespace)
        await kube.merge_patch(CONFIG_MAP, "change", {"data": {"v": "1"}}, namespace)
        await asyncio.sleep(0.5)
        proxy.unblock()

        await eventually(lambda: sorted(recorder.names(EventType.DELETED)) == ["drop-1", "drop-2"])
        await eventually(lambda: recorder.names(EventType.MODIFIED) == ["change"])
        assert store_keys(informer) == await server_keys(kube, CONFIG_MAP, namespace)

    assert informer.reconnects >= 1
    assert proxy.refused >= 1


async def test_informer_rides_out_repeated_connection_cuts(
    kube: KubeClient, proxied: KubeClient, proxy: TcpProxy, namespace: str
) -> None:
    recorder = Recorder()
    informer = Informer(proxied, CONFIG_MAP, namespace=namespace, backoff=FAST_BACKOFF)
    informer.add_handler(recorder)

    async with informer:
        await informer.wait_synced(timeout=10)
        # An event proves the watch streams, so the first cut hits the watch and not an idle
        # connection left from the list.
        await kube.create(CONFIG_MAP, config_map("probe"), namespace)
        await eventually(recorder.saw(EventType.ADDED, "probe"))
        for n in range(5):
            watches = informer.watches
            proxy.cut()
            await eventually(lambda: informer.watches > watches)  # noqa: B023
            await kube.create(CONFIG_MAP, config_map(f"cm-{n}"), namespace)
            await eventually(recorder.saw(EventType.ADDED, f"cm-{n}"))

        assert store_keys(informer) == await server_keys(kube, CONFIG_MAP, namespace)

    assert recorder.names(EventType.ADDED) == ["probe"] + [f"cm-{n}" for n in range(5)]
    assert informer.reconnects >= 5


async def test_informer_rides_out_an_apiserver_restart(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    await kube.create(CONFIG_MAP, config_map("before"), namespace)
    recorder = Recorder()
    async with control_plane.client(max_retries=1, timeout=5.0) as own:
        informer = Informer(own, CONFIG_MAP, namespace=namespace, backoff=FAST_BACKOFF)
        informer.add_handler(recorder)

        async with informer:
            await informer.wait_synced(timeout=10)
            await asyncio.to_thread(control_plane.restart_apiserver)
            await kube.create(CONFIG_MAP, config_map("after"), namespace)
            await kube.delete(CONFIG_MAP, "before", namespace)

            await eventually(lambda: recorder.names(EventType.DELETED) == ["before"], 30)
            assert store_keys(informer) == await server_keys(kube, CONFIG_MAP, namespace)

    assert recorder.names(EventType.ADDED) == ["before", "after"]
    assert informer.reconnects + informer.relists >= 1


async def test_unreachable_server_times_out_the_sync_and_cancellation_leaves_no_task(
    proxied: KubeClient, proxy: TcpProxy, namespace: str
) -> None:
    before = asyncio.all_tasks()
    proxy.block()
    informer = Informer(proxied, CONFIG_MAP, namespace=namespace, backoff=FAST_BACKOFF)

    async with informer:
        with pytest.raises(TimeoutError):
            await informer.wait_synced(timeout=0.5)
        run_task = informer._task

    assert not informer.has_synced()
    assert run_task is not None and run_task.cancelled()
    assert proxy.refused >= 1
    assert asyncio.all_tasks() - before == set()


# --- 410 Gone -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uncached_plane() -> Iterator[ControlPlane]:
    """A control plane whose watches read etcd directly, so compaction forces a 410.

    The shared control plane serves watches from its watch cache, which keeps its own window
    of history and does not learn of etcd compactions: resuming from a compacted version
    there is served from the cache instead of answered with 410.
    """
    with ControlPlane(extra_apiserver_args=["--watch-cache=false"]) as plane:
        yield plane


async def test_a_410_after_compaction_relists_and_diffs_against_the_store(
    uncached_plane: ControlPlane,
) -> None:
    namespace = f"t-{uuid.uuid4().hex[:10]}"
    async with uncached_plane.client() as kube:
        await kube.create(NAMESPACE, {"metadata": {"name": namespace}})
        for name in ["keep", "drop", "change", "again"]:
            await kube.create(CONFIG_MAP, config_map(name), namespace)

        port = int(uncached_plane.server.rsplit(":", 1)[1])
        async with TcpProxy("127.0.0.1", port) as proxy:
            config = dataclasses.replace(uncached_plane.cluster_config(), server=proxy.url)
            async with KubeClient(config, max_retries=1, timeout=5.0) as proxied:
                await _relist_after_compaction(kube, proxied, proxy, namespace, uncached_plane)


async def _relist_after_compaction(
    kube: KubeClient, proxied: KubeClient, proxy: TcpProxy, namespace: str,
    plane: ControlPlane,
) -> None:
    recorder = Recorder()
    informer = Informer(proxied, CONFIG_MAP, namespace=namespace, backoff=FAST_BACKOFF)
    informer.add_handler(recorder)

    async with informer:
        await informer.wait_synced(timeout=10)
        old_uid = informer.store.get(f"{namespace}/again")["metadata"]["uid"]  # type: ignore[index]
        recorder.events.clear()
        proxy.block()
        proxy.cut()

        await kube.delete(CONFIG_MAP, "drop", namespace)
        await kube.merge_patch(CONFIG_MAP, "change", {"data": {"v": "1"}}, namespace)
        await kube.create(CONFIG_MAP, config_map("new"), namespace)
        await kube.delete(CONFIG_MAP, "again", namespace)
        await kube.create(CONFIG_MAP, config_map("again"), namespace)
        await asyncio.to_thread(plane.compact_etcd)
        proxy.unblock()

        await eventually(lambda: informer.relists >= 1)
        await eventually(lambda: len(recorder.events) >= 5)
        assert store_keys(informer) == await server_keys(kube, CONFIG_MAP, namespace)

    assert informer.gones >= 1
    seen = {(e.type, e.obj["metadata"]["name"]) for e in recorder.events}
    assert seen == {
        (EventType.DELETED, "drop"),
        (EventType.MODIFIED, "change"),
        (EventType.ADDED, "new"),
        # Deleted and created again in the gap: two objects, not one that changed.
        (EventType.DELETED, "again"),
        (EventType.ADDED, "again"),
    }
    again = [(e.type, e.obj["metadata"]["uid"] == old_uid) for e in recorder.events
             if e.obj["metadata"]["name"] == "again"]
    assert again == [(EventType.DELETED, True), (EventType.ADDED, False)]
    modified = next(e for e in recorder.events if e.type is EventType.MODIFIED)
    assert modified.old is not None and modified.old["data"] == {"v": "0"}
    assert modified.obj["data"] == {"v": "1"}

