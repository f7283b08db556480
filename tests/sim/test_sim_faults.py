"""Faults on demand, a restart mid-flight, and the v25.10.1 quirks clients must survive."""

from __future__ import annotations

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.sim import Fault, FaultKind
from tests.sim.conftest import SimFactory
from tests.sim.sim_helpers import World, condition, eventually, phase, stays


async def test_error_fault_sends_chosen_dpus_to_error_which_is_terminal_until_deleted(
    namespace: str, world: World, start_sim: SimFactory
) -> None:
    await world.install(hold=False)
    dpus = await world.add_host("host1")
    failing, healthy = dpus[1], dpus[0]

    fault = Fault(FaultKind.ERROR, "OS Installing", names="*-d1")
    async with start_sim(auto_reboot=True, faults=(fault,)):
        await eventually(lambda: _phase_is(world, failing, "Error"))
        dpu = await world.dpu(failing)
        failed = condition(dpu, "BFBTransferred") or {}
        assert (failed.get("status"), failed.get("reason")) == ("False", "SimulatedFault")
        await eventually(lambda: _phase_is(world, healthy, "Ready"))
        await stays(lambda: _phase_is(world, failing, "Error"), seconds=1.0)

        # Deleting is the way out; the fault fired once per name, so the new DPU provisions.
        await world.delete_dpu(failing)
        await eventually(lambda: _phase_is(world, failing, "Ready"))


async def test_stall_fault_holds_a_phase_until_lifted(
    namespace: str, world: World, start_sim: SimFactory
) -> None:
    await world.install(hold=False)
    dpus = await world.add_host("host1")

    async with start_sim(auto_reboot=True) as sim:
        stall = Fault(FaultKind.STALL, "Prepare BFB")
        sim.faults.add(stall)
        await eventually(lambda: world.all_in(dpus, "Prepare BFB"))
        await stays(lambda: world.all_in(dpus, "Prepare BFB"), seconds=1.5)
        sim.faults.remove(stall)
        await eventually(lambda: world.all_in(dpus, "Ready"))


async def test_restarted_simulator_resumes_from_the_objects(
    namespace: str, world: World, start_sim: SimFactory
) -> None:
    await world.install(hold=True)
    dpus = await world.add_host("host1")

    async with start_sim():
        await eventually(lambda: world.all_in(dpus, "Node Effect"))
        await eventually(lambda: world.hold("host1"))
    # Stopped mid-flight: the client releases the hold while no operator runs.
    await world.release_hold("host1")

    async with start_sim():
        await eventually(lambda: world.all_in(dpus, "Rebooting"))
        await eventually(lambda: world.reboot_requested("host1"))
    await world.reboot("host1")

    async with start_sim():
        await eventually(lambda: world.all_in(dpus, "Ready"))
        await eventually(lambda: _no_hold(world))


async def test_quirk_hold_skipped_when_one_dpu_of_a_node_is_reprovisioned(
    namespace: str, world: World, start_sim: SimFactory
) -> None:
    await world.install(hold=True)
    dpus = await world.add_host("host1")

    async with start_sim():
        await world.release_hold("host1")
        await world.reboot("host1")
        await eventually(lambda: world.all_in(dpus, "Ready"))

        await world.delete_dpu(dpus[0])
        # No hold is created and nobody releases one, yet the DPU goes past Node Effect.
        await eventually(lambda: _phase_is(world, dpus[0], "Rebooting"))
        assert await world.hold("host1") is None
        await world.reboot("host1")
        await eventually(lambda: world.all_in(dpus, "Ready"))


async def test_quirk_dpu_deleted_during_os_installing_is_kept_until_the_phase_ends(
    kube: KubeClient, namespace: str, world: World, start_sim: SimFactory
) -> None:
    await world.install(hold=False)
    dpus = await world.add_host("host1", devices=1)
    name = dpus[0]

    async with start_sim(auto_reboot=True) as sim:
        stall = Fault(FaultKind.STALL, "OS Installing")
        sim.faults.add(stall)
        await eventually(lambda: _phase_is(world, name, "OS Installing"))
        old = await world.dpu(name)
        assert old is not None

        await world.delete_dpu(name)
        await stays(lambda: _held_installing(world, name, old["metadata"]["uid"]), seconds=1.5)

        sim.faults.remove(stall)
        await eventually(lambda: _replaced(world, name, old["metadata"]["uid"]))
        await eventually(lambda: _phase_is(world, name, "Ready"))


def test_fraction_fault_picks_the_same_dpus_for_the_same_seed() -> None:
    names = [f"host{i}-dev0" for i in range(1000)]
    first = [n for n in names if Fault(FaultKind.ERROR, "Pending", fraction=0.1, seed=7).selects(n)]
    again = [n for n in names if Fault(FaultKind.ERROR, "Pending", fraction=0.1, seed=7).selects(n)]
    other = [n for n in names if Fault(FaultKind.ERROR, "Pending", fraction=0.1, seed=8).selects(n)]

    assert first == again
    assert first != other
    assert 60 <= len(first) <= 140


def test_fault_parses_from_the_command_line_form() -> None:
    fault = Fault.parse("error:OS Installing:*-d1:0.25:3")

    assert fault == Fault(FaultKind.ERROR, "OS Installing", "*-d1", 0.25, 3)
    assert Fault.parse("stall:Pending").names == "*"


async def _phase_is(world: World, name: str, wanted: str) -> bool:
    return phase(await world.dpu(name)) == wanted


async def _no_hold(world: World) -> bool:
    return await world.hold("host1") is None


async def _held_installing(world: World, name: str, uid: str) -> bool:
    dpu = await world.dpu(name)
    return (
        dpu is not None
        and dpu["metadata"]["uid"] == uid
        and bool(dpu["metadata"].get("deletionTimestamp"))
        and phase(dpu) == "OS Installing"
        and "provisioning.dpu.nvidia.com/dpu-protection" in dpu["metadata"]["finalizers"]
    )


async def _replaced(world: World, name: str, uid: str) -> bool:
    dpu = await world.dpu(name)
    return dpu is not None and dpu["metadata"]["uid"] != uid
