"""The happy path of a two-DPU host, as a watcher sees it, and the objects the operator writes."""

from __future__ import annotations

from collections import defaultdict

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.informer import EventType, Informer, InformerEvent
from carbide_dpf.models import registry
from carbide_dpf.models.phase import ZERO_TRUST_HAPPY_PATH
from tests.sim.conftest import SimFactory
from tests.sim.sim_helpers import HOST_BMC_LABEL, World, condition, eventually, phase

ZERO_TRUST = list(ZERO_TRUST_HAPPY_PATH)


class PhaseRecorder:
    """An informer handler that records each DPU's phase changes, as a watcher would."""

    def __init__(self) -> None:
        self.seen: dict[str, list[str]] = defaultdict(list)

    def __call__(self, event: InformerEvent) -> None:
        if event.type is EventType.DELETED:
            return
        name, current = event.obj["metadata"]["name"], phase(event.obj)
        history = self.seen[name]
        if current and (not history or history[-1] != current):
            history.append(current)


async def test_two_dpu_host_walks_the_exact_zero_trust_sequence(
    kube: KubeClient, namespace: str, world: World, start_sim: SimFactory
) -> None:
    recorder = PhaseRecorder()
    async with Informer(kube, registry.DPU, namespace=namespace) as informer:
        informer.add_handler(recorder)
        await informer.wait_synced(10)
        await world.install(hold=True)
        dpus = await world.add_host("host1")

        async with start_sim():
            await world.release_hold("host1")
            await world.reboot("host1")
            await eventually(lambda: world.all_in(dpus, "Ready"))

        await eventually(lambda: _async(all(recorder.seen[n][-1:] == ["Ready"] for n in dpus)))

    assert sorted(recorder.seen) == sorted(dpus)
    for name in dpus:
        assert recorder.seen[name] == ZERO_TRUST


async def test_ready_dpu_carries_the_operators_names_labels_spec_and_conditions(
    kube: KubeClient, namespace: str, world: World, start_sim: SimFactory
) -> None:
    await world.install(hold=False)
    dpus = await world.add_host("host1", external=False)

    async with start_sim():
        await eventually(lambda: world.all_in(dpus, "Ready"))
        dpuset = await kube.get(registry.DPU_SET, "dep-set", namespace)
        await eventually(lambda: _stats_ready(kube, namespace, 2))
        deployment = await eventually(lambda: _deployment_ready(kube, namespace))

    dpu = await world.dpu("host1-host1-d0")
    assert dpu is not None
    labels = dpu["metadata"]["labels"]
    assert labels["provisioning.dpu.nvidia.com/dpuset-name"] == "dep-set"
    assert labels["provisioning.dpu.nvidia.com/dpuset-namespace"] == namespace
    assert labels["provisioning.dpu.nvidia.com/dpudevice-name"] == "host1-d0"
    assert labels["provisioning.dpu.nvidia.com/dpunode-name"] == "host1"
    assert labels["svc.dpu.nvidia.com/owned-by-dpudeployment"] == f"{namespace}_dep"
    assert labels[HOST_BMC_LABEL] == "10.0.0.9"
    assert dpu["metadata"]["finalizers"] == ["provisioning.dpu.nvidia.com/dpu-protection"]
    owner = dpu["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "DPUSet", "dep-set", dpuset["metadata"]["uid"], True)

    spec = dpu["spec"]
    assert (spec["dpuNodeName"], spec["dpuDeviceName"], spec["bfb"], spec["dpuFlavor"]) == (
        "host1", "host1-d0", "bfb-a", "flavor-a")
    assert spec["serialNumber"] == "SN-host1-0"
    assert spec["nodeEffect"]["noEffect"] is True
    assert "bmcIP" not in spec
    assert spec["cluster"]["name"]

    status = dpu["status"]
    assert status["bfbFile"] == f"/bfb/{namespace}-bfb-a.bfb"
    assert status.get("dpfVersion") == "v25.10.1", status
    assert status["observedGeneration"] == dpu["metadata"]["generation"]
    for kind in ("Initialized", "BFBReady", "NodeEffectReady", "InterfaceInitialized",
                 "FWConfigured", "BFBPrepared", "BFBTransferred", "OSInstalled", "Rebooted",
                 "DPUClusterReady", "NodeEffectRemoved", "Ready"):
        assert (condition(dpu, kind) or {}).get("status") == "True", kind

    assert dpuset["metadata"]["labels"]["svc.dpu.nvidia.com/owned-by-dpudeployment"] == (
        f"{namespace}_dep")
    assert dpuset["metadata"]["ownerReferences"][0]["kind"] == "DPUDeployment"
    assert dpuset["spec"]["dpuTemplate"]["spec"]["bfb"]["name"] == "bfb-a"
    assert dpuset["spec"]["dpuNodeSelector"] == {"matchLabels": {"sim-test": "yes"}}
    assert (condition(deployment, "PrerequisitesReady") or {}).get("status") == "True"

    bfb = await kube.get(registry.BFB, "bfb-a", namespace)
    assert (bfb["status"]["phase"], bfb["status"]["fileName"]) == (
        "Ready", f"{namespace}-bfb-a.bfb")
    device = await kube.get(registry.DPU_DEVICE, "host1-d1", namespace)
    assert device["metadata"]["labels"]["provisioning.dpu.nvidia.com/dpunode-name"] == "host1"
    assert (condition(device, "NodeAttached") or {}).get("status") == "True"
    node = await world.node("host1")
    assert (condition(node, "Ready") or {}).get("status") == "True"


async def test_dpus_wait_in_pending_while_the_bfb_is_not_ready(
    kube: KubeClient, namespace: str, world: World, start_sim: SimFactory
) -> None:
    await world.install(hold=False)
    dpus = await world.add_host("host1", external=False)

    async with start_sim(bfb_download_seconds=3.0):
        await eventually(lambda: world.all_in(dpus, "Pending"))
        deployment = await eventually(lambda: _prerequisites_false(kube, namespace))
        assert (condition(deployment, "PrerequisitesReady") or {}).get("message") == (
            "BFB is not ready yet")
        bfb = await kube.get(registry.BFB, "bfb-a", namespace)
        assert bfb["status"]["phase"] == "Downloading"
        await eventually(lambda: world.all_in(dpus, "Ready"))


async def _async(value: bool) -> bool:
    return value


async def _stats_ready(kube: KubeClient, namespace: str, count: int) -> bool:
    dpuset = await kube.get(registry.DPU_SET, "dep-set", namespace)
    return bool((dpuset.get("status") or {}).get("dpuStatistics") == {"Ready": count})


async def _deployment_ready(kube: KubeClient, namespace: str) -> dict[str, object] | None:
    deployment = await kube.get(registry.DPU_DEPLOYMENT, "dep", namespace)
    ready = (condition(deployment, "Ready") or {}).get("status") == "True"
    return deployment if ready else None


async def _prerequisites_false(kube: KubeClient, namespace: str) -> dict[str, object] | None:
    deployment = await kube.get(registry.DPU_DEPLOYMENT, "dep", namespace)
    found = condition(deployment, "PrerequisitesReady")
    return deployment if found and found["status"] == "False" else None
