"""The blocking facade: the same operations as DpfSdk, run on its own loop thread."""

from __future__ import annotations

import asyncio
import inspect
import time

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.models.phase import DpuPhase
from carbide_dpf.models.registry import DPU_DEVICE, DPU_NODE
from carbide_dpf.sandbox.controlplane import ControlPlane
from carbide_dpf.sdk import DpfSdk, SdkConfig, SyncDpfSdk
from carbide_dpf.sdk.sync import _Blocking
from tests.sdk.sdk_helpers import BFB_URL, PASSWORD, make_dpu

# Not a coroutine: the facade's twin binds the watcher to its loop instead (tested below).
NOT_COROUTINES = {"watcher"}


def test_every_public_async_operation_has_a_blocking_twin() -> None:
    operations = {name for name, member in inspect.getmembers(DpfSdk)
                  if inspect.iscoroutinefunction(member) and not name.startswith("_")}
    twins = {name for name, member in vars(SyncDpfSdk).items()
             if isinstance(member, _Blocking)}
    assert operations == twins
    public = {name for name in dir(DpfSdk) if not name.startswith("_")}
    assert public - operations - {"config", "namespace", "kube"} == NOT_COROUTINES
    assert all(callable(getattr(SyncDpfSdk, name)) for name in NOT_COROUTINES)


def test_a_twin_wraps_the_coroutine_method_itself() -> None:
    for name, member in vars(SyncDpfSdk).items():
        if isinstance(member, _Blocking):
            assert member.method is getattr(DpfSdk, name)
            assert member.__doc__ == getattr(DpfSdk, name).__doc__


def _sync_flow(control_plane: ControlPlane, namespace: str) -> list[object]:
    config = SdkConfig(namespace=namespace)
    with SyncDpfSdk(control_plane.client, config) as sdk:
        init = sdk.create_initialization_objects(BFB_URL, PASSWORD)
        sdk.register_dpu_device("dpu0", bmc_ip="10.0.0.1", serial_number="MT1")
        sdk.register_dpu_node("host1", ["dpu0"])
        snapshot = sdk.snapshot_host("host1")
        held = sdk.release_maintenance_hold("host1")
        deleted = sdk.delete_dpu_device("dpu0")
    return [init.deployment, snapshot.node is not None, held, deleted.deleted]


async def test_sync_facade_runs_operations_against_the_server(
        control_plane: ControlPlane, kube: KubeClient, namespace: str) -> None:
    result = await asyncio.to_thread(_sync_flow, control_plane, namespace)

    assert result == ["carbide-dpf", True, False, ["DPUDevice/dpu0"]]
    assert await kube.get_or_none(DPU_NODE, "host1", namespace) is not None
    assert await kube.get_or_none(DPU_DEVICE, "dpu0", namespace) is None


def _sync_watch(control_plane: ControlPlane, namespace: str) -> tuple[list[str], bool]:
    seen: list[str] = []
    with SyncDpfSdk(control_plane.client, SdkConfig(namespace=namespace)) as sdk:
        watcher = sdk.watcher(label_selector=None)
        # A plain function runs in the watcher's threads and may block on the facade.
        watcher.on_dpu_event(lambda event: seen.append(
            f"{event.name}:{sdk.get_dpu_phase(event.name)}"))
        sdk.run(make_dpu(sdk.sdk.kube, namespace, "host1", "dpu0", phase=DpuPhase.PENDING))
        with watcher:
            deadline = time.monotonic() + 20.0
            while not seen and time.monotonic() < deadline:
                time.sleep(0.05)
            running = watcher.is_leader
    return seen, running


async def test_sync_facade_watcher_runs_on_the_facade_loop(
        control_plane: ControlPlane, namespace: str) -> None:
    seen, running = await asyncio.to_thread(_sync_watch, control_plane, namespace)

    assert running
    assert seen == ["host1-dpu0:Pending"]


def test_close_is_idempotent(control_plane: ControlPlane) -> None:
    sdk = SyncDpfSdk(control_plane.client)
    sdk.close()
    sdk.close()
    assert not sdk._thread.is_alive()
