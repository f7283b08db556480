"""Every SDK operation against a real API server, each run twice to show it is idempotent.

The operator's side (DPUs, holds, annotations, status) is written by the test itself here;
test_flows_sim.py runs the flows against the simulator.
"""

from __future__ import annotations

import asyncio
import base64

import pytest

from carbide_dpf.errors import FlowTimeoutError, ValidationError
from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.errors import NotFoundError
from carbide_dpf.kube.resource import SECRET
from carbide_dpf.models.phase import DpuPhase
from carbide_dpf.models.registry import (
    BFB,
    DPU,
    DPU_DEPLOYMENT,
    DPU_DEVICE,
    DPU_FLAVOR,
    DPU_NODE,
    DPU_NODE_MAINTENANCE,
    DPU_SERVICE_CONFIGURATION,
    DPU_SERVICE_INTERFACE,
    DPU_SERVICE_TEMPLATE,
)
from carbide_dpf.sdk import (
    HOLD_ANNOTATION,
    REBOOT_REQUIRED_ANNOTATION,
    DeploymentMissingError,
    DeviceInfo,
    DpfSdk,
    NodeInfo,
    SdkConfig,
    host_bmc_ip_from_dpu,
)
from carbide_dpf.sdk.labels import OWNED_LABELS_ANNOTATION
from carbide_dpf.watcher import DpuWatcher
from tests.sdk.sdk_helpers import BFB_URL, PASSWORD, everything, make_dpu, make_hold

MANAGED = "carbide.nvidia.com/dpf-managed"
HOST_IP = "carbide.nvidia.com/host-bmc-ip"


async def _register_host(sdk: DpfSdk, node: str = "host1",
                         devices: tuple[str, ...] = ("dpu0", "dpu1")) -> None:
    for index, device in enumerate(devices):
        await sdk.register_dpu_device(device, bmc_ip=f"10.0.0.{index + 1}",
                                      serial_number=f"MT00{index}", host_bmc_ip="10.9.9.9")
    await sdk.register_dpu_node(node, list(devices))


async def test_initialization_creates_every_object_once(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    first = await sdk.create_initialization_objects(BFB_URL, PASSWORD)
    before = await everything(kube, namespace)
    second = await sdk.create_initialization_objects(BFB_URL, PASSWORD)

    assert first == second
    assert await everything(kube, namespace) == before
    assert before[BFB.kind] == [first.bfb]
    assert before[DPU_FLAVOR.kind] == [first.flavor]
    assert before[DPU_SERVICE_TEMPLATE.kind] == ["doca-hbn", "dts"]
    assert before[DPU_SERVICE_CONFIGURATION.kind] == ["doca-hbn", "dts"]
    assert before[DPU_SERVICE_INTERFACE.kind] == ["p0", "p1", "pf0hpf"]
    secret = await kube.get(SECRET, "bmc-shared-password", namespace)
    assert base64.b64decode(secret["data"]["password"]).decode() == PASSWORD


async def test_deployment_selects_managed_nodes_and_holds(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    result = await sdk.create_initialization_objects(BFB_URL, PASSWORD)

    spec = (await kube.get(DPU_DEPLOYMENT, result.deployment, namespace))["spec"]
    assert spec["dpus"]["bfb"] == result.bfb
    assert spec["dpus"]["flavor"] == result.flavor
    assert spec["dpus"]["nodeEffect"] == {"hold": True, "force": False}
    assert spec["dpus"]["dpuSets"][0]["nodeSelector"] == {"matchLabels": {MANAGED: "true"}}
    assert set(spec["services"]) == {"dts", "doca-hbn"}
    assert len(spec["serviceChains"]["switches"]) == 3


async def test_password_change_updates_the_secret(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    await sdk.create_initialization_objects(BFB_URL, PASSWORD)
    await sdk.set_bmc_password("other-password")

    secret = await kube.get(SECRET, "bmc-shared-password", namespace)
    assert base64.b64decode(secret["data"]["password"]).decode() == "other-password"


async def test_register_device_labels_it_and_is_idempotent(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    for _ in range(2):
        await sdk.register_dpu_device("dpu0", bmc_ip="10.0.0.1", serial_number="MT0001",
                                      host_bmc_ip="2001:db8::5", labels={"rack": "r7"})

    devices = (await kube.list(DPU_DEVICE, namespace)).items
    assert len(devices) == 1
    labels = devices[0]["metadata"]["labels"]
    assert labels[MANAGED] == "true" and labels["rack"] == "r7"
    assert host_bmc_ip_from_dpu(devices[0]) == "2001:db8::5"
    assert devices[0]["spec"]["bmcIp"] == "10.0.0.1"
    assert devices[0]["spec"]["serialNumber"] == "MT0001"
    owned = devices[0]["metadata"]["annotations"][OWNED_LABELS_ANNOTATION].split(",")
    assert sorted(owned) == sorted([MANAGED, HOST_IP, "rack"])


async def test_device_labeler_hook_adds_labels(
        kube: KubeClient, namespace: str) -> None:
    seen: list[DeviceInfo] = []

    def labeler(info: DeviceInfo) -> dict[str, str]:
        seen.append(info)
        return {"example.com/serial": info.serial_number}

    sdk = DpfSdk(kube, SdkConfig(namespace=namespace, device_labeler=labeler))
    await sdk.register_dpu_device("dpu0", bmc_ip="10.0.0.1", serial_number="MT7")

    device = await kube.get(DPU_DEVICE, "dpu0", namespace)
    assert device["metadata"]["labels"]["example.com/serial"] == "MT7"
    assert seen == [DeviceInfo("dpu0", "10.0.0.1", "MT7", None)]


async def test_register_node_lists_devices_with_external_reboot(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    for _ in range(2):
        await sdk.register_dpu_node("host1", ["dpu0", "dpu1"], labels={"zone": "a"})

    node = await kube.get(DPU_NODE, "host1", namespace)
    assert node["spec"]["nodeRebootMethod"] == {"external": {}}
    assert node["spec"]["dpus"] == [{"name": "dpu0"}, {"name": "dpu1"}]
    assert node["metadata"]["labels"] == {MANAGED: "true", "zone": "a"}


async def test_node_labeler_hook_adds_labels(kube: KubeClient, namespace: str) -> None:
    def labeler(info: NodeInfo) -> dict[str, str]:
        return {"example.com/dpus": str(len(info.device_names))}

    sdk = DpfSdk(kube, SdkConfig(namespace=namespace, node_labeler=labeler))
    await sdk.register_dpu_node("host1", ["dpu0", "dpu1"])

    node = await kube.get(DPU_NODE, "host1", namespace)
    assert node["metadata"]["labels"]["example.com/dpus"] == "2"


async def test_watcher_is_built_for_the_sdk_namespace_and_dpus(sdk: DpfSdk) -> None:
    watcher = sdk.watcher(concurrency=2)

    assert isinstance(watcher, DpuWatcher)
    assert watcher.namespace == sdk.namespace
    assert watcher.label_selector == "carbide.nvidia.com/dpf-managed=true"


async def test_reregistering_a_node_with_fewer_devices_replaces_the_list(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    await sdk.register_dpu_node("host1", ["dpu0", "dpu1"])
    await sdk.register_dpu_node("host1", ["dpu1"])

    node = await kube.get(DPU_NODE, "host1", namespace)
    assert node["spec"]["dpus"] == [{"name": "dpu1"}]


async def test_release_hold_sets_the_annotation_false(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    assert await sdk.release_maintenance_hold("host1") is False
    await make_hold(kube, namespace, "host1")

    assert await sdk.release_maintenance_hold("host1") is True
    assert await sdk.release_maintenance_hold("host1") is True
    hold = await kube.get(DPU_NODE_MAINTENANCE, "host1-hold", namespace)
    assert hold["metadata"]["annotations"][HOLD_ANNOTATION] == "false"


async def test_reboot_required_and_complete(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    await _register_host(sdk)
    assert await sdk.is_reboot_required("host1") is False
    patch = {"metadata": {"annotations": {REBOOT_REQUIRED_ANNOTATION: "true"}}}
    await kube.merge_patch(DPU_NODE, "host1", patch, namespace)
    assert await sdk.is_reboot_required("host1") is True

    await sdk.reboot_complete("host1")
    await sdk.reboot_complete("host1")

    assert await sdk.is_reboot_required("host1") is False
    node = await kube.get(DPU_NODE, "host1", namespace)
    assert REBOOT_REQUIRED_ANNOTATION not in node["metadata"].get("annotations", {})


async def test_reboot_required_on_a_missing_node_raises(sdk: DpfSdk) -> None:
    with pytest.raises(NotFoundError):
        await sdk.is_reboot_required("nohost")


async def test_dpu_phase_and_device_readiness(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    await _register_host(sdk)
    await make_dpu(kube, namespace, "host1", "dpu0", phase=DpuPhase.OS_INSTALLING)
    await make_dpu(kube, namespace, "host1", "dpu1", phase=None)

    assert await sdk.get_dpu_phase("host1-dpu0") == DpuPhase.OS_INSTALLING
    # The CRD defaults status.phase, so a DPU the operator has not touched is Initializing.
    assert await sdk.get_dpu_phase("host1-dpu1") == DpuPhase.INITIALIZING
    assert await sdk.is_dpu_device_ready("dpu0") is False
    ready = {"status": {"conditions": [{
        "type": "Ready", "status": "True", "reason": "Ready", "message": "",
        "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}
    await kube.patch_status(DPU_DEVICE, "dpu0", ready, namespace)
    assert await sdk.is_dpu_device_ready("dpu0") is True


async def test_reprovision_deletes_and_wait_finds_the_new_dpu(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    old = await make_dpu(kube, namespace, "host1", "dpu0")
    ticket = await sdk.reprovision_dpu("host1-dpu0")
    assert ticket.old_uid == old["metadata"]["uid"]
    assert await kube.get_or_none(DPU, "host1-dpu0", namespace) is None

    async def recreate() -> None:
        await asyncio.sleep(0.3)
        await make_dpu(kube, namespace, "host1", "dpu0")

    task = asyncio.create_task(recreate(), name="recreate-dpu")
    new = await sdk.wait_for_dpu(ticket.dpu_name, not_uid=ticket.old_uid,
                                 created_after=ticket.old_created, timeout=10)
    await task
    assert new.uid != ticket.old_uid
    assert new.phase == DpuPhase.INITIALIZING


async def test_reprovision_with_the_expected_uid_deletes_only_that_dpu(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    old = await make_dpu(kube, namespace, "host1", "dpu0")
    old_uid = old["metadata"]["uid"]
    first = await sdk.reprovision_dpu("host1-dpu0", expected_uid=old_uid)
    assert first.old_uid == old_uid
    assert await kube.get_or_none(DPU, "host1-dpu0", namespace) is None
    replacement = await make_dpu(kube, namespace, "host1", "dpu0")

    # The same call again (a rerun after an interruption) leaves the replacement alone.
    again = await sdk.reprovision_dpu("host1-dpu0", expected_uid=old_uid)

    live = await kube.get(DPU, "host1-dpu0", namespace)
    assert live["metadata"]["uid"] == replacement["metadata"]["uid"] != old_uid
    assert again.old_uid == old_uid and again.old_created is None
    assert again.deleted_at == replacement["metadata"]["creationTimestamp"]
    found = await sdk.wait_for_dpu("host1-dpu0", not_uid=again.old_uid,
                                   created_after=again.deleted_at, timeout=5)
    assert found.uid == replacement["metadata"]["uid"]


async def test_reprovision_with_an_empty_expected_uid_is_refused(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    await make_dpu(kube, namespace, "host1", "dpu0")

    with pytest.raises(ValidationError) as caught:
        await sdk.reprovision_dpu("host1-dpu0", expected_uid="")

    assert [(p.field, p.rule) for p in caught.value.problems] == [("expected_uid", "required")]
    assert await kube.get_or_none(DPU, "host1-dpu0", namespace) is not None


async def test_reprovision_of_a_missing_dpu_returns_an_empty_ticket(sdk: DpfSdk) -> None:
    ticket = await sdk.reprovision_dpu("host1-dpu0")
    assert ticket.old_uid is None and ticket.dpu_name == "host1-dpu0"


async def test_wait_ignores_a_terminating_dpu_and_times_out(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    await make_dpu(kube, namespace, "host1", "dpu0", finalizers=["example.com/hold"])
    ticket = await sdk.reprovision_dpu("host1-dpu0")

    with pytest.raises(FlowTimeoutError, match="not recreated"):
        await sdk.wait_for_dpu("host1-dpu0", timeout=0.5)
    assert ticket.old_uid is not None


async def test_update_bfb_creates_the_bfb_and_points_the_deployment_at_it(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    init = await sdk.create_initialization_objects(BFB_URL, PASSWORD)
    new_url = "https://bfb.example.com/images/bf-bundle-3.0.0.bfb"

    name = await sdk.update_deployment_bfb(new_url)
    assert await sdk.update_deployment_bfb(new_url) == name

    assert name != init.bfb
    bfbs = sorted(b["metadata"]["name"] for b in (await kube.list(BFB, namespace)).items)
    assert bfbs == sorted([init.bfb, name])
    deployment = await kube.get(DPU_DEPLOYMENT, init.deployment, namespace)
    assert deployment["spec"]["dpus"]["bfb"] == name


async def test_reinitialising_after_an_update_takes_the_bfb_back(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    init = await sdk.create_initialization_objects(BFB_URL, PASSWORD)
    await sdk.update_deployment_bfb("https://bfb.example.com/new.bfb")
    await sdk.create_initialization_objects(BFB_URL, PASSWORD)

    deployment = await kube.get(DPU_DEPLOYMENT, init.deployment, namespace)
    assert deployment["spec"]["dpus"]["bfb"] == init.bfb


async def test_update_bfb_without_a_deployment_says_to_initialise(sdk: DpfSdk) -> None:
    with pytest.raises(DeploymentMissingError, match="create_initialization_objects"):
        await sdk.update_deployment_bfb("https://bfb.example.com/new.bfb")


async def test_find_outdated_dpus_compares_with_the_deployment(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    init = await sdk.create_initialization_objects(BFB_URL, PASSWORD)
    managed = {MANAGED: "true"}
    await make_dpu(kube, namespace, "h", "current", device_labels=managed, bfb=init.bfb,
                   flavor=init.flavor)
    await make_dpu(kube, namespace, "h", "old", device_labels=managed, bfb="old-bfb",
                   flavor=init.flavor)
    await make_dpu(kube, namespace, "h", "foreign", bfb="old-bfb")

    outdated = await sdk.find_outdated_dpus()

    assert [dpu.name for dpu in outdated] == ["h-old"]
    assert outdated[0].bfb == "old-bfb" and outdated[0].wanted_bfb == init.bfb


async def test_delete_device_and_node_tolerate_gone_objects(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    await _register_host(sdk)

    first = await sdk.delete_dpu_device("dpu0")
    second = await sdk.delete_dpu_device("dpu0")
    node_first = await sdk.delete_dpu_node("host1")
    node_second = await sdk.delete_dpu_node("host1")

    assert first.deleted == ["DPUDevice/dpu0"] and second.already_gone == ["DPUDevice/dpu0"]
    assert node_first.deleted == ["DPUNode/host1"]
    assert node_second.already_gone == ["DPUNode/host1"]
    assert await everything(kube, namespace) == {DPU_DEVICE.kind: ["dpu1"]}


async def test_force_delete_dpu_keeps_operator_finalizers_unless_asked(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    finalizer = "provisioning.dpu.nvidia.com/dpu-protection"
    await make_dpu(kube, namespace, "host1", "dpu0", finalizers=[finalizer],
                   device_labels={MANAGED: "true", HOST_IP: "10.9.9.9"})

    polite = await sdk.force_delete_dpu("host1-dpu0")
    assert polite.labels_removed == {"DPU/host1-dpu0": [MANAGED, HOST_IP]}
    assert polite.pending_finalizers == {"DPU/host1-dpu0": [finalizer]}
    assert polite.finalizers_removed == {}
    assert await kube.get_or_none(DPU, "host1-dpu0", namespace) is not None

    forced = await sdk.force_delete_dpu("host1-dpu0", remove_finalizers=True)
    assert forced.finalizers_removed == {"DPU/host1-dpu0": [finalizer]}
    assert await kube.get_or_none(DPU, "host1-dpu0", namespace) is None
    again = await sdk.force_delete_dpu("host1-dpu0", remove_finalizers=True)
    assert again.already_gone == ["DPU/host1-dpu0"]


async def test_force_delete_node_removes_our_labels_first(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    await sdk.register_dpu_node("host1", ["dpu0"], labels={"zone": "a"})
    await kube.merge_patch(DPU_NODE, "host1", {"metadata": {
        "labels": {"someone-else": "x"}, "finalizers": ["example.com/keep"]}}, namespace)

    result = await sdk.force_delete_dpu_node("host1")

    assert result.labels_removed == {"DPUNode/host1": [MANAGED, "zone"]}
    node = await kube.get(DPU_NODE, "host1", namespace)
    assert node["metadata"]["labels"] == {"someone-else": "x"}
    assert node["metadata"]["deletionTimestamp"]
    await sdk.force_delete_dpu_node("host1", remove_finalizers=True)
    assert await kube.get_or_none(DPU_NODE, "host1", namespace) is None


async def test_force_delete_host_removes_node_devices_and_dpus(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    await _register_host(sdk)
    await sdk.register_dpu_device("extra", bmc_ip="10.0.0.9", serial_number="MT9")
    for device in ("dpu0", "dpu1"):
        await make_dpu(kube, namespace, "host1", device,
                       finalizers=["provisioning.dpu.nvidia.com/dpu-protection"])

    result = await sdk.force_delete_host("host1", device_names=["extra"],
                                         remove_finalizers=True)

    assert sorted(result.deleted) == sorted([
        "DPU/host1-dpu0", "DPU/host1-dpu1", "DPUDevice/dpu0", "DPUDevice/dpu1",
        "DPUDevice/extra", "DPUNode/host1"])
    assert result.labels_removed["DPUNode/host1"] == [MANAGED]
    assert set(result.finalizers_removed) == {"DPU/host1-dpu0", "DPU/host1-dpu1"}
    assert await everything(kube, namespace) == {}
    again = await sdk.force_delete_host("host1")
    assert again.deleted == [] and again.already_gone == ["DPUNode/host1"]


async def test_snapshot_host_shows_node_devices_and_dpus(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    await sdk.register_dpu_device("dpu0", bmc_ip="10.0.0.1", serial_number="MT0",
                                  host_bmc_ip="10.9.9.9")
    await sdk.register_dpu_node("host1", ["dpu0", "missing"])
    device = await kube.get(DPU_DEVICE, "dpu0", namespace)
    await make_dpu(kube, namespace, "host1", "dpu0", phase=DpuPhase.READY,
                   device_labels=device["metadata"]["labels"])

    snapshot = await sdk.snapshot_host("host1")

    assert snapshot.node is not None
    assert snapshot.node.device_names == ("dpu0", "missing")
    assert [(d.name, d.exists) for d in snapshot.devices] == [("dpu0", True), ("missing", False)]
    assert [(d.name, d.phase, d.host_bmc_ip) for d in snapshot.dpus] == [
        ("host1-dpu0", DpuPhase.READY, "10.9.9.9")]
    # Its one DPU is Ready, but the node lists a device that has none: not ready.
    assert not snapshot.all_ready

    await sdk.register_dpu_node("host1", ["dpu0"])
    again = await sdk.snapshot_host("host1")
    assert again.all_ready and [d.name for d in again.devices] == ["dpu0"]


async def test_snapshot_hosts_lists_every_host_in_three_requests_and_filters_by_bmc(
        sdk: DpfSdk, kube: KubeClient, namespace: str) -> None:
    await sdk.register_dpu_device("dpu0", bmc_ip="10.0.0.1", serial_number="MT0",
                                  host_bmc_ip="10.9.9.9")
    await sdk.register_dpu_device("dpu1", bmc_ip="10.0.0.2", serial_number="MT1",
                                  host_bmc_ip="2001:db8::5")
    await sdk.register_dpu_node("host1", ["dpu0"])
    await sdk.register_dpu_node("host2", ["dpu1"])
    device = await kube.get(DPU_DEVICE, "dpu0", namespace)
    await make_dpu(kube, namespace, "host1", "dpu0", phase=DpuPhase.READY,
                   device_labels=device["metadata"]["labels"])
    # A DPU whose node is gone still shows, under the node its label names.
    await make_dpu(kube, namespace, "gone", "dpu9")
    # One without labels is found by the name the operator gives it.
    await kube.create(DPU, {"metadata": {"name": "host2-dpu1"}, "spec": {
        "dpuNodeName": "host2", "dpuDeviceName": "dpu1", "bfb": "bfb", "dpuFlavor": "flavor",
        "serialNumber": "MT1"}}, namespace)
    before = sum(sdk.kube.request_counts.values())

    hosts = await sdk.snapshot_hosts()

    assert sum(sdk.kube.request_counts.values()) - before == 3
    assert [h.node_name for h in hosts] == ["gone", "host1", "host2"]
    for host in hosts:
        assert host == await sdk.snapshot_host(host.node_name)
    assert hosts[1].all_ready and not hosts[2].all_ready and hosts[0].node is None
    assert [d.name for d in hosts[2].dpus] == ["host2-dpu1"]

    by_ip = {ip: [h.node_name for h in await sdk.snapshot_hosts(host_bmc_ip=ip)]
             for ip in ("10.9.9.9", "2001:db8:0::5", "10.1.1.1")}
    assert by_ip == {"10.9.9.9": ["host1"], "2001:db8:0::5": ["host2"], "10.1.1.1": []}
    with pytest.raises(ValidationError) as caught:
        await sdk.snapshot_hosts(host_bmc_ip="10.9.9")
    assert caught.value.fields == ["host_bmc_ip"]


async def test_snapshot_of_an_unknown_host_is_empty(sdk: DpfSdk) -> None:
    snapshot = await sdk.snapshot_host("nohost")
    assert snapshot.node is None and snapshot.devices == () and snapshot.dpus == ()
