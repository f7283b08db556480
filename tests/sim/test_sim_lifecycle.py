"""Reprovisioning, rolling updates, and deleting devices and nodes."""

from __future__ import annotations

import functools

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.informer import Informer
from carbide_dpf.models import registry
from tests.sim.conftest import SimFactory
from tests.sim.sim_helpers import World, eventually, phase


async def test_deleted_dpu_comes_back_with_same_name_new_uid_and_repeats_hold_and_reboot(
    kube: KubeClient, namespace: str, world: World, start_sim: SimFactory
) -> None:
    await world.install(hold=True)
    dpus = await world.add_host("host1", devices=1)
    name = dpus[0]

    async with start_sim():
        await world.release_hold("host1")
        await world.reboot("host1")
        await eventually(lambda: world.all_in(dpus, "Ready"))
        old = await world.dpu(name)
        assert old is not None

        await world.delete_dpu(name)
        new = await eventually(lambda: _recreated(world, name, old["metadata"]["uid"]))
        assert phase(new) in ("Initializing", "Pending", "Node Effect")

        # The new DPU meets a fresh hold and a fresh reboot request.
        await eventually(lambda: world.all_in(dpus, "Node Effect"))
        await world.release_hold("host1")
        await eventually(lambda: world.all_in(dpus, "Rebooting"))
        await world.reboot("host1")
        await eventually(lambda: world.all_in(dpus, "Ready"))


async def test_bfb_change_on_the_deployment_rolls_every_dpu_to_the_new_bfb(
    kube: KubeClient, namespace: str, world: World, start_sim: SimFactory
) -> None:
    await world.install(hold=False, bfbs=("bfb-a", "bfb-b"))
    dpus = await world.add_host("host1") + await world.add_host("host2")

    async with start_sim(auto_reboot=True):
        await eventually(lambda: world.all_in(dpus, "Ready"))
        uids = {n: (await world.dpu(n) or {})["metadata"]["uid"] for n in dpus}

        await kube.merge_patch(registry.DPU_DEPLOYMENT, "dep",
                               {"spec": {"dpus": {"bfb": "bfb-b"}}}, namespace)
        dpuset = await eventually(lambda: _template_bfb(kube, namespace, "bfb-b"))
        assert dpuset["spec"]["strategy"]["type"] == "RollingUpdate"

        await eventually(lambda: _all_on(world, dpus, "bfb-b"), within=40.0)
        for name in dpus:
            dpu = await world.dpu(name)
            assert dpu is not None and dpu["metadata"]["uid"] != uids[name]


async def test_bfb_rollout_never_takes_more_than_one_dpu_out_of_service(
    kube: KubeClient, namespace: str, world: World, start_sim: SimFactory
) -> None:
    await world.install(hold=False, bfbs=("bfb-a", "bfb-b"))
    dpus = [n for host in ("host1", "host2", "host3") for n in await world.add_host(host)]
    worst: list[int] = []

    def count_out_of_service(informer: Informer) -> None:
        # Every state the server went through, in its order: a DPU is in service when it
        # exists, is not being deleted and is Ready.
        in_service = sum(
            1 for name in dpus
            if (dpu := informer.store.get(f"{namespace}/{name}")) is not None
            and not dpu["metadata"].get("deletionTimestamp") and phase(dpu) == "Ready"
        )
        worst.append(len(dpus) - in_service)

    async with start_sim(auto_reboot=True):
        await eventually(lambda: world.all_in(dpus, "Ready"))
        async with Informer(kube, registry.DPU, namespace=namespace) as informer:
            await informer.wait_synced(10.0)
            informer.add_handler(lambda _: count_out_of_service(informer))
            await kube.merge_patch(registry.DPU_DEPLOYMENT, "dep",
                                   {"spec": {"dpus": {"bfb": "bfb-b"}}}, namespace)
            await eventually(lambda: _all_on(world, dpus, "bfb-b"), within=60.0)
            await eventually(lambda: _settled(worst), within=10.0)

    # The default budget (maxUnavailable 1) was used and never exceeded.
    assert max(worst) == 1
    assert worst[-1] == 0


async def test_deleting_a_device_deletes_its_dpu(
    kube: KubeClient, namespace: str, world: World, start_sim: SimFactory
) -> None:
    await world.install(hold=False)
    dpus = await world.add_host("host1")

    async with start_sim(auto_reboot=True):
        await eventually(lambda: world.all_in(dpus, "Ready"))
        await kube.delete(registry.DPU_DEVICE, "host1-d1", namespace)
        await eventually(lambda: _missing(world, dpus[1]))
        still = await world.dpu(dpus[0])
        assert phase(still) == "Ready"


async def test_deleting_a_node_deletes_its_dpus_and_devices(
    kube: KubeClient, namespace: str, world: World, start_sim: SimFactory
) -> None:
    await world.install(hold=False)
    dpus = await world.add_host("host1")
    others = await world.add_host("host2")

    async with start_sim(auto_reboot=True):
        await eventually(lambda: world.all_in(dpus + others, "Ready"))
        await kube.delete(registry.DPU_NODE, "host1", namespace)
        for name in dpus:
            await eventually(functools.partial(_missing, world, name))
        for device in ("host1-d0", "host1-d1"):
            await eventually(functools.partial(_device_gone, kube, namespace, device))
        await eventually(lambda: _node_gone(kube, namespace))
        assert await world.all_in(others, "Ready")


async def _recreated(world: World, name: str, old_uid: str) -> dict[str, object] | None:
    dpu = await world.dpu(name)
    return dpu if dpu is not None and dpu["metadata"]["uid"] != old_uid else None


async def _template_bfb(kube: KubeClient, namespace: str, bfb: str) -> dict[str, object] | None:
    dpuset = await kube.get(registry.DPU_SET, "dep-set", namespace)
    return dpuset if dpuset["spec"]["dpuTemplate"]["spec"]["bfb"]["name"] == bfb else None


async def _all_on(world: World, names: list[str], bfb: str) -> bool:
    for name in names:
        dpu = await world.dpu(name)
        if dpu is None or dpu["spec"]["bfb"] != bfb or phase(dpu) != "Ready":
            return False
    return True


async def _missing(world: World, name: str) -> bool:
    return await world.dpu(name) is None


async def _device_gone(kube: KubeClient, namespace: str, name: str) -> bool:
    return await kube.get_or_none(registry.DPU_DEVICE, name, namespace) is None


async def _node_gone(kube: KubeClient, namespace: str) -> bool:
    return await kube.get_or_none(registry.DPU_NODE, "host1", namespace) is None


async def _settled(worst: list[int]) -> bool:
    return bool(worst) and worst[-1] == 0
