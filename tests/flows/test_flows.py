"""The flows against the real API server and the operator simulator."""

from __future__ import annotations

import asyncio

import pytest

from carbide_dpf.errors import FlowTimeoutError, ValidationError
from carbide_dpf.flows import (
    DeviceSpec,
    DpuFailedError,
    Host,
    HostSpec,
    cleanup_host,
    monitor_host,
    parse_device_specs,
    provision_host,
    reprovision_dpu,
    resolve_node_name,
)
from carbide_dpf.models.phase import DpuPhase
from carbide_dpf.models.registry import DPU, DPU_DEVICE, DPU_NODE
from carbide_dpf.sdk import DpfSdk, SecretStr, node_name_for_host
from carbide_dpf.sim import Fault, FaultKind, Simulator
from tests.flows.flow_helpers import BFB_URL, FAST_RETRY, PASSWORD, CountingCycler

DEVICES = (DeviceSpec("dpu-a", "10.0.0.11", "MT2301X00001"),
           DeviceSpec("dpu-b", "10.0.0.12", "MT2301X00002"))


def two_dpu_host(node: str = "host-0042") -> HostSpec:
    return HostSpec(node, "192.0.2.10", DEVICES)


async def provision(sdk: DpfSdk, spec: HostSpec, cycler: CountingCycler) -> None:
    await provision_host(sdk, spec, cycler, bfb_url=BFB_URL, bmc_password=SecretStr(PASSWORD),
                         timeout=60.0, retry_backoff=FAST_RETRY)


async def test_provision_drives_every_dpu_of_a_two_dpu_host_to_ready_with_one_reboot(
        sdk: DpfSdk, simulator: Simulator, cycler: CountingCycler) -> None:
    spec = two_dpu_host()
    result = await provision_host(sdk, spec, cycler, bfb_url=BFB_URL,
                                  bmc_password=SecretStr(PASSWORD), timeout=60.0,
                                  retry_backoff=FAST_RETRY)

    assert [d.name for d in result.monitor.dpus] == ["host-0042-dpu-a", "host-0042-dpu-b"]
    assert all(d.phase == DpuPhase.READY for d in result.monitor.dpus)
    assert cycler.calls == ["power-cycle"]
    assert result.monitor.power_cycles == 1
    assert result.monitor.holds_released >= 1
    node = await sdk.kube.get(DPU_NODE, "host-0042", sdk.namespace)
    assert "provisioning.dpu.nvidia.com/dpunode-external-reboot-required" not in (
        node["metadata"].get("annotations") or {})


async def test_monitor_returns_at_once_when_every_dpu_is_already_ready(
        sdk: DpfSdk, simulator: Simulator, cycler: CountingCycler) -> None:
    spec = two_dpu_host()
    await provision(sdk, spec, cycler)

    again = CountingCycler()
    result = await monitor_host(sdk, spec.host, again, timeout=10.0)

    assert result.seconds < 5.0
    assert again.calls == []
    assert result.power_cycles == 0


async def test_an_interrupted_provision_finishes_when_run_again(
        sdk: DpfSdk, simulator: Simulator, cycler: CountingCycler) -> None:
    spec = two_dpu_host()
    first = asyncio.create_task(provision(sdk, spec, cycler))
    # Cancel once the operator has created the DPUs: mid-flight, before they are Ready.
    while not (await sdk.kube.list(DPU, sdk.namespace)).items:  # noqa: ASYNC110 - polls
        await asyncio.sleep(0.02)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first

    await provision(sdk, spec, cycler)

    snapshot = await sdk.snapshot_host(spec.node_name)
    assert snapshot.all_ready and len(snapshot.dpus) == 2
    assert len(cycler.calls) == 1


async def test_reprovision_waits_for_the_new_dpu_and_drives_it_to_ready(
        sdk: DpfSdk, simulator: Simulator, cycler: CountingCycler) -> None:
    spec = two_dpu_host()
    await provision(sdk, spec, cycler)
    old = await sdk.kube.get(DPU, "host-0042-dpu-a", sdk.namespace)

    result = await reprovision_dpu(sdk, "host-0042", "host-0042-dpu-a", cycler, timeout=60.0,
                                   retry_backoff=FAST_RETRY)

    assert result.ticket.old_uid == old["metadata"]["uid"]
    assert result.new_uid != old["metadata"]["uid"]
    assert [d.uid for d in result.monitor.dpus] == [result.new_uid]
    assert result.monitor.dpus[0].phase == DpuPhase.READY
    assert len(cycler.calls) == 2  # one per reboot request: provision, then reprovision


async def test_an_interrupted_reprovision_run_again_with_the_uid_deletes_nothing_more(
        sdk: DpfSdk, simulator: Simulator, cycler: CountingCycler) -> None:
    spec = two_dpu_host()
    await provision(sdk, spec, cycler)
    old_uid = (await sdk.kube.get(DPU, "host-0042-dpu-a", sdk.namespace))["metadata"]["uid"]
    first = asyncio.create_task(reprovision_dpu(
        sdk, "host-0042", "host-0042-dpu-a", cycler, expected_uid=old_uid, timeout=60.0,
        retry_backoff=FAST_RETRY))
    # Cancel once the replacement exists: the delete is done, the monitor is not.
    replacement_uid = old_uid
    while replacement_uid == old_uid:
        live = await sdk.kube.get_or_none(DPU, "host-0042-dpu-a", sdk.namespace)
        replacement_uid = old_uid if live is None else live["metadata"]["uid"]
        await asyncio.sleep(0.02)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first

    result = await reprovision_dpu(sdk, "host-0042", "host-0042-dpu-a", cycler,
                                   expected_uid=old_uid, timeout=60.0, retry_backoff=FAST_RETRY)

    assert result.new_uid == replacement_uid
    assert result.monitor.dpus[0].phase == DpuPhase.READY
    assert (await sdk.snapshot_host("host-0042")).all_ready


async def test_a_dpu_in_error_fails_the_monitor_naming_the_dpu(
        sdk: DpfSdk, simulator: Simulator, cycler: CountingCycler) -> None:
    simulator.faults.add(Fault(FaultKind.ERROR, DpuPhase.OS_INSTALLING, "*-dpu-b"))

    with pytest.raises(DpuFailedError) as caught:
        await provision(sdk, two_dpu_host(), cycler)

    assert caught.value.dpu_name == "host-0042-dpu-b"
    assert "host-0042-dpu-b" in str(caught.value)


async def test_the_monitor_times_out_with_each_dpu_phase_in_the_message(
        sdk: DpfSdk, cycler: CountingCycler) -> None:
    # No simulator: nothing ever creates the DPUs.
    with pytest.raises(FlowTimeoutError) as caught:
        await monitor_host(sdk, Host.from_devices("host-7", ["dpu-a"]), cycler, timeout=0.5)

    assert "host-7-dpu-a: not created" in str(caught.value)


async def test_cleanup_removes_node_devices_and_dpus(
        sdk: DpfSdk, simulator: Simulator, cycler: CountingCycler) -> None:
    spec = two_dpu_host()
    await provision(sdk, spec, cycler)

    result = await cleanup_host(sdk, "host-0042")

    assert "DPUNode/host-0042" in result.deleted
    for _ in range(100):
        left = [len((await sdk.kube.list(kind, sdk.namespace)).items)
                for kind in (DPU, DPU_DEVICE, DPU_NODE)]
        if left == [0, 0, 0]:
            break
        await asyncio.sleep(0.05)
    assert left == [0, 0, 0]


def test_the_node_name_comes_from_the_host_identity_as_the_sdk_derives_it() -> None:
    assert resolve_node_name(None, "chassis SN 4711/rack 9") == node_name_for_host(
        "chassis SN 4711/rack 9")
    assert resolve_node_name("host-1", None) == "host-1"
    with pytest.raises(ValidationError):
        resolve_node_name("host-1", "chassis")


def test_device_specs_parse_and_report_each_bad_entry() -> None:
    assert parse_device_specs("a:10.0.0.1:SN1,b:10.0.0.2:SN2") == (
        DeviceSpec("a", "10.0.0.1", "SN1"), DeviceSpec("b", "10.0.0.2", "SN2"))
    with pytest.raises(ValidationError) as caught:
        parse_device_specs("a:10.0.0.1,b::SN2")
    assert caught.value.fields == ["dpus[0]", "dpus[1]"]


async def test_provision_checks_all_input_before_writing(
        sdk: DpfSdk, cycler: CountingCycler) -> None:
    spec = HostSpec("Bad_Node", "not-an-ip", (DeviceSpec("dpu-a", "10.0.0.300", "SN1"),))

    with pytest.raises(ValidationError) as caught:
        await provision_host(sdk, spec, cycler, bfb_url="ftp://x", bmc_password=SecretStr(""))

    assert {"node", "host_bmc_ip", "dpus[0].bmc_ip", "bfb_url", "bmc_password"} <= set(
        caught.value.fields)
    assert (await sdk.kube.list(DPU_DEVICE, sdk.namespace)).items == []
