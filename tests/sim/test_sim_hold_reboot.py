"""The hold and the external reboot wait for the client, and only for the right signal."""

from __future__ import annotations

import functools

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.models import registry
from carbide_dpf.sim import Fault, FaultKind
from tests.sim.conftest import SimFactory
from tests.sim.sim_helpers import REBOOT_KEY, WAIT_KEY, World, condition, eventually, phase, stays


async def test_hold_keeps_dpus_in_node_effect_until_released(
    kube: KubeClient, namespace: str, world: World, start_sim: SimFactory
) -> None:
    await world.install(hold=True)
    dpus = await world.add_host("host1")

    async with start_sim(auto_reboot=True):
        await eventually(lambda: world.all_in(dpus, "Node Effect"))
        await eventually(lambda: _annotated(world, "true"))
        # The second DPU joins the hold the first one created.
        hold = await eventually(lambda: _requested_by(world, dpus))
        assert hold["metadata"]["labels"]["provisioning.dpu.nvidia.com/dpunode-name"] == "host1"
        assert hold["spec"]["dpuNodeName"] == "host1"
        applied = await eventually(lambda: _applied(world, "False"))
        assert applied["reason"] == "NodeEffectIsProcessing"

        await stays(lambda: world.all_in(dpus, "Node Effect"), seconds=2.0)

        # Deleting the key is not a release: the operator puts "true" back.
        await kube.merge_patch(registry.DPU_NODE_MAINTENANCE, "host1-hold",
                               {"metadata": {"annotations": {WAIT_KEY: None}}}, namespace)
        await eventually(lambda: _annotated(world, "true"))
        await stays(lambda: world.all_in(dpus, "Node Effect"), seconds=1.0)

        await world.release_hold("host1")
        await eventually(lambda: _applied(world, "True"))
        await eventually(lambda: world.all_in(dpus, "Ready"))
        # Node Effect Removal took both requestors off and deleted the maintenance.
        await eventually(lambda: _gone(world))


async def test_reboot_waits_for_the_annotation_key_to_be_removed(
    kube: KubeClient, namespace: str, world: World, start_sim: SimFactory
) -> None:
    await world.install(hold=False)
    dpus = await world.add_host("host1")

    async with start_sim():
        await eventually(lambda: world.all_in(dpus, "Rebooting"))
        await eventually(lambda: world.reboot_requested("host1"))
        node = await world.node("host1")
        assert node["metadata"]["annotations"][REBOOT_KEY] == "true"
        assert (condition(node, "DPUNodeRebootInProgress") or {}).get("status") == "True"
        for name in dpus:
            rebooted = await eventually(functools.partial(_waiting, world, name))
            assert rebooted["status"] == "False"

        # "false" is still a present key: the operator keeps waiting.
        await kube.merge_patch(registry.DPU_NODE, "host1",
                               {"metadata": {"annotations": {REBOOT_KEY: "false"}}}, namespace)
        await stays(lambda: world.all_in(dpus, "Rebooting"), seconds=2.0)

        await world.reboot("host1")
        await eventually(lambda: world.all_in(dpus, "Ready"))
        node = await world.node("host1")
        assert (condition(node, "DPUNodeRebootInProgress") or {}).get("status") == "False"
        dpu = await world.dpu(dpus[0])
        assert (condition(dpu, "Rebooted") or {}).get("status") == "True"


async def test_reboot_is_asked_only_once_every_dpu_of_the_node_is_rebooting(
    namespace: str, world: World, start_sim: SimFactory
) -> None:
    await world.install(hold=False)
    dpus = await world.add_host("host1")

    # The second DPU is held in OS Installing: the first reaches Rebooting and must wait.
    async with start_sim(dwell={"OS Installing": 0.0}) as sim:
        stall = Fault(FaultKind.STALL, "OS Installing", names=dpus[1])
        sim.faults.add(stall)
        await eventually(lambda: _phase_is(world, dpus[0], "Rebooting"))
        await eventually(lambda: _phase_is(world, dpus[1], "OS Installing"))
        await stays(lambda: _not_requested(world), seconds=1.5)

        sim.faults.remove(stall)
        await world.reboot("host1")
        await eventually(lambda: world.all_in(dpus, "Ready"))


async def _annotated(world: World, value: str) -> dict[str, object] | None:
    hold = await world.hold("host1")
    annotations = (hold or {}).get("metadata", {}).get("annotations") or {}
    return hold if annotations.get(WAIT_KEY) == value else None


async def _requested_by(world: World, dpus: list[str]) -> dict[str, object] | None:
    hold = await world.hold("host1")
    requestors = sorted((hold or {}).get("spec", {}).get("requestor") or [])
    return hold if requestors == sorted(dpus) else None


async def _applied(world: World, status: str) -> dict[str, object] | None:
    found = condition(await world.hold("host1"), "NodeEffectApplied")
    return found if found and found["status"] == status else None


async def _gone(world: World) -> bool:
    return await world.hold("host1") is None


async def _waiting(world: World, name: str) -> dict[str, object] | None:
    found = condition(await world.dpu(name), "Rebooted")
    return found if found and found["reason"] == "WaitingForManualPowerCycleOrReboot" else None


async def _phase_is(world: World, name: str, wanted: str) -> bool:
    return phase(await world.dpu(name)) == wanted


async def _not_requested(world: World) -> bool:
    return not await world.reboot_requested("host1")
