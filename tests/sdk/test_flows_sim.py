"""The four flows through the SDK against the operator simulator: provision a two-DPU host,
reprovision one DPU, roll a new BFB, delete the host. The test plays Carbide's part (release
the hold, "reboot" the host and clear the annotation); the simulator plays the operator."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator

import pytest

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.models.registry import DPU, DPU_DEPLOYMENT, DPU_DEVICE, DPU_NODE
from carbide_dpf.sandbox.controlplane import ControlPlane
from carbide_dpf.sdk import DpfSdk, HostSnapshot, SdkConfig, node_name_for_host
from carbide_dpf.sim import SimConfig, Simulator
from tests.sdk.sdk_helpers import BFB_URL, PASSWORD, everything

HOST_BMC = "2001:db8::42"
DEVICES = {"dpu-a": ("10.0.0.11", "MT2301X00001"), "dpu-b": ("10.0.0.12", "MT2301X00002")}
NEW_BFB_URL = "https://bfb.example.com/images/bf-bundle-3.0.0.bfb"


@pytest.fixture
async def simulator(control_plane: ControlPlane, namespace: str) -> AsyncIterator[Simulator]:
    """The operator simulator on the test's namespace, on its own unthrottled client."""
    async with (control_plane.client(qps=2000.0, burst=2000) as sim_kube,
                Simulator(sim_kube, SimConfig(namespace=namespace)) as sim):
        yield sim


async def drive_until_ready(sdk: DpfSdk, node: str, count: int, within: float = 60.0,
                            actions: Counter[str] | None = None) -> HostSnapshot:
    """Carbide's monitor loop: release the hold, reboot on request, until `count` DPUs of
    `node` are Ready (and none is being replaced); `actions` counts what it did."""
    actions = Counter() if actions is None else actions
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await sdk.release_maintenance_hold(node):
            actions["hold"] += 1
        if await sdk.is_reboot_required(node):
            await sdk.reboot_complete(node)  # the Redfish power cycle would happen first
            actions["reboot"] += 1
        snapshot = await sdk.snapshot_host(node)
        if len(snapshot.dpus) == count and snapshot.all_ready and not any(
                dpu.deleting for dpu in snapshot.dpus):
            return snapshot
        await asyncio.sleep(0.05)
    raise AssertionError(f"DPUs of {node} not Ready within {within}s: "
                         f"{[(d.name, d.phase) for d in snapshot.dpus]}")


async def _provision(sdk: DpfSdk, node: str, actions: Counter[str]) -> HostSnapshot:
    await sdk.create_initialization_objects(BFB_URL, PASSWORD)
    for device, (bmc_ip, serial) in DEVICES.items():
        await sdk.register_dpu_device(device, bmc_ip=bmc_ip, serial_number=serial,
                                      host_bmc_ip=HOST_BMC)
    await sdk.register_dpu_node(node, list(DEVICES))
    return await drive_until_ready(sdk, node, len(DEVICES), actions=actions)


async def test_provision_reprovision_update_and_delete_a_host(
        kube: KubeClient, namespace: str, simulator: Simulator,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sdk = DpfSdk(kube, SdkConfig(namespace=namespace, poll_interval=0.05))
    node = node_name_for_host("chassis SN 4711/rack 9")

    actions: Counter[str] = Counter()
    provisioned = await _provision(sdk, node, actions)
    assert actions["hold"] >= 1 and actions["reboot"] >= 1
    init = await sdk.create_initialization_objects(BFB_URL, PASSWORD)
    assert [d.name for d in provisioned.dpus] == [f"{node}-dpu-a", f"{node}-dpu-b"]
    assert all(d.host_bmc_ip == HOST_BMC for d in provisioned.dpus)
    assert all(d.bfb == init.bfb and d.flavor == init.flavor for d in provisioned.dpus)
    assert await sdk.is_dpu_device_ready("dpu-a")

    ticket = await sdk.reprovision_dpu(f"{node}-dpu-a")
    new = await sdk.wait_for_dpu(ticket.dpu_name, not_uid=ticket.old_uid,
                                 created_after=ticket.old_created, timeout=30)
    assert new.uid != ticket.old_uid
    reprovisioned = await drive_until_ready(sdk, node, len(DEVICES))
    assert {d.uid for d in reprovisioned.dpus} >= {new.uid}

    new_bfb = await sdk.update_deployment_bfb(NEW_BFB_URL)
    deadline = time.monotonic() + 60
    while await sdk.find_outdated_dpus() and time.monotonic() < deadline:
        await drive_until_ready(sdk, node, len(DEVICES))
    updated = await drive_until_ready(sdk, node, len(DEVICES))
    assert {d.bfb for d in updated.dpus} == {new_bfb}
    assert await sdk.find_outdated_dpus() == []

    deleted = await sdk.force_delete_host(node)
    assert f"DPUNode/{node}" in deleted.deleted
    assert deleted.finalizers_removed == {}
    await _until_gone(kube, namespace)
    assert (await everything(kube, namespace))[DPU_DEPLOYMENT.kind] == [init.deployment]

    _assert_no_password(caplog.text)


async def _until_gone(kube: KubeClient, namespace: str, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await everything(kube, namespace)
        if not any(k in found for k in (DPU.kind, DPU_DEVICE.kind, DPU_NODE.kind)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"host objects left: {await everything(kube, namespace)}")


def _assert_no_password(text: str) -> None:
    assert text, "the flow logged nothing: the capture is not working"
    assert PASSWORD not in text
    assert base64.b64encode(PASSWORD.encode()).decode() not in text


async def test_a_full_flow_logs_no_password_even_when_it_fails(
        kube: KubeClient, namespace: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sdk = DpfSdk(kube, SdkConfig(namespace=namespace))
    await sdk.create_initialization_objects(BFB_URL, PASSWORD)
    await sdk.set_bmc_password(PASSWORD)
    other = DpfSdk(kube, SdkConfig(namespace=f"{namespace}-missing"))

    with pytest.raises(Exception) as caught:
        await other.create_initialization_objects(BFB_URL, PASSWORD)

    _assert_no_password(caplog.text)
    assert PASSWORD not in str(caught.value) and PASSWORD not in repr(caught.value)
    assert PASSWORD not in repr(sdk.config) + repr(vars(caught.value))
