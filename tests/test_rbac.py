"""The least-privilege Role shipped in `carbide_dpf/deploy/rbac.yaml` is enough for the whole
provision flow (SDK, watcher with leader election, monitor, Redfish reboot) and the queries
and deletes after it, on an RBAC-enabled API server, and it grants nothing more."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from importlib.resources import files
from typing import Any

import pytest
import yaml

from carbide_dpf.flows import BmcTarget, DeviceSpec, HostSpec, provision_host, redfish_power_cycler
from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.errors import ForbiddenError
from carbide_dpf.kube.leader import LeaderElectionConfig
from carbide_dpf.kube.ratelimit import ExponentialBackoff
from carbide_dpf.kube.resource import LEASE, NAMESPACE, SECRET, ResourceKind
from carbide_dpf.models.registry import DPU, DPU_DEVICE, DPU_NODE, DPU_SET
from carbide_dpf.sandbox.bmc import BmcEmulator
from carbide_dpf.sandbox.controlplane import ControlPlane
from carbide_dpf.sdk import DpfSdk, SdkConfig, SecretStr
from carbide_dpf.sim import SimConfig, Simulator

ROLE = ResourceKind("rbac.authorization.k8s.io", "v1", "Role", "roles", has_status=False)
ROLE_BINDING = ResourceKind(
    "rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", has_status=False
)
BFB_URL = "https://bfb.example.com/images/bf-bundle-2.9.1.bfb"
PASSWORD = "Rbac-Test-pa55word!"
DEVICES = (DeviceSpec("dpu-a", "10.0.0.11", "MT2301X00001"),
           DeviceSpec("dpu-b", "10.0.0.12", "MT2301X00002"))


def shipped_rbac() -> list[dict[str, Any]]:
    """The documents of the packaged rbac.yaml, read as package data (as an install would)."""
    text = files("carbide_dpf").joinpath("deploy/rbac.yaml").read_text()
    return [doc for doc in yaml.safe_load_all(text) if doc]


@pytest.fixture
async def restricted(control_plane: ControlPlane, kube: KubeClient,
                     namespace: str) -> AsyncIterator[KubeClient]:
    """A client for a fresh user bound to the shipped Role in the test's namespace, only."""
    (role,) = shipped_rbac()
    role["metadata"]["namespace"] = namespace
    await kube.create(ROLE, role, namespace)
    user = control_plane.user(f"carbide-{uuid.uuid4().hex[:8]}")
    await kube.create(ROLE_BINDING, {
        "metadata": {"name": "carbide-dpf"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                    "name": role["metadata"]["name"]},
        "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User",
                      "name": user.user}],
    }, namespace)
    async with KubeClient(user.cluster_config()) as client:
        yield client


@pytest.fixture
async def simulator(control_plane: ControlPlane, namespace: str) -> AsyncIterator[Simulator]:
    """The operator simulator on the test's namespace, with admin rights (it is the operator)."""
    async with (control_plane.client(qps=2000.0, burst=2000) as sim_kube,
                Simulator(sim_kube, SimConfig(namespace=namespace)) as sim):
        yield sim


@pytest.fixture
def host_bmc() -> Iterator[BmcEmulator]:
    """The host's BMC: a Redfish emulator with one system."""
    with BmcEmulator(systems=["host-1"]) as emulator:
        yield emulator


def test_the_shipped_rbac_is_one_namespaced_role() -> None:
    documents = shipped_rbac()

    assert [doc["kind"] for doc in documents] == ["Role"]
    assert documents[0]["metadata"]["namespace"] == "dpf-operator-system"
    verbs = {verb for rule in documents[0]["rules"] for verb in rule["verbs"]}
    assert "*" not in verbs and not verbs & {"deletecollection", "escalate", "bind"}


async def test_the_full_provision_flow_runs_under_the_role(
        restricted: KubeClient, kube: KubeClient, namespace: str, simulator: Simulator,
        host_bmc: BmcEmulator) -> None:
    sdk = DpfSdk(restricted, SdkConfig(namespace=namespace, poll_interval=0.05))
    spec = HostSpec("host-rbac", "127.0.0.1", DEVICES)
    target = BmcTarget(host_bmc.url, host_bmc.username, SecretStr(host_bmc.password))
    election = LeaderElectionConfig(namespace=namespace, lease_duration=6.0,
                                    renew_deadline=4.0, retry_period=1.0)

    result = await provision_host(
        sdk, spec, redfish_power_cycler(target, poll_interval=0.5), bfb_url=BFB_URL,
        bmc_password=SecretStr(PASSWORD), timeout=120, leader_election=election,
        retry_backoff=ExponentialBackoff(0.1, 1.0, jitter=0.0))

    assert [d.name for d in result.monitor.dpus] == ["host-rbac-dpu-a", "host-rbac-dpu-b"]
    assert {str(d.phase) for d in result.monitor.dpus} == {"Ready"}
    assert result.monitor.holds_released >= 1 and result.monitor.power_cycles >= 1
    assert host_bmc.reset_history("host-1")
    assert (await kube.get(LEASE, election.lease_name, namespace))["spec"]
    await _queries_and_cleanup_run_under_the_role(sdk, restricted, kube, namespace)


async def _queries_and_cleanup_run_under_the_role(
        sdk: DpfSdk, restricted: KubeClient, kube: KubeClient, namespace: str) -> None:
    snapshot = await sdk.snapshot_host("host-rbac")
    assert snapshot.all_ready and len(snapshot.dpus) == 2
    assert await sdk.is_dpu_device_ready("dpu-a")
    assert not await sdk.is_reboot_required("host-rbac")
    assert await sdk.find_outdated_dpus() == []
    assert [n["metadata"]["name"] for n in (await restricted.list(DPU_NODE, namespace)).items] == [
        "host-rbac"]

    deleted = await sdk.force_delete_host("host-rbac", remove_finalizers=True)

    assert "DPUNode/host-rbac" in deleted.deleted
    await _until_empty(kube, namespace, (DPU, DPU_DEVICE, DPU_NODE))


async def _until_empty(kube: KubeClient, namespace: str, kinds: tuple[ResourceKind, ...],
                       within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while True:
        left = {k.kind: len((await kube.list(k, namespace)).items) for k in kinds}
        if not any(left.values()):
            return
        assert time.monotonic() < deadline, f"objects left after the force delete: {left}"
        await asyncio.sleep(0.1)


async def test_the_role_refuses_what_it_does_not_grant(
        restricted: KubeClient, kube: KubeClient, namespace: str) -> None:
    sdk = DpfSdk(restricted, SdkConfig(namespace=namespace))
    await sdk.create_initialization_objects(BFB_URL, PASSWORD)
    other = f"{namespace}-other"
    await kube.create(NAMESPACE, {"metadata": {"name": other}})

    refused = [
        restricted.delete(NAMESPACE, namespace),
        restricted.get(SECRET, "bmc-shared-password", namespace),  # write-only, even ours
        restricted.list(SECRET, namespace),
        restricted.list(SECRET, other),
        restricted.list(DPU, other),
        restricted.create(SECRET, {"metadata": {"name": "another"}, "stringData": {"a": "b"}},
                          namespace),
        restricted.create(DPU_SET, {"metadata": {"name": "mine"}, "spec": {}}, namespace),
        restricted.list(ROLE, namespace),
    ]
    try:
        for call in refused:
            with pytest.raises(ForbiddenError):
                await call
    finally:
        for call in refused:
            call.close()  # those not awaited after a failure
        await kube.delete(NAMESPACE, other)

    assert (await kube.get(NAMESPACE, namespace))["metadata"]["name"] == namespace
