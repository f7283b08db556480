"""The provision flow: initialise the deployment, register the host's DPUs and node, monitor.

Every step is an apply of desired state with names derived from the input, so running the
flow again after an interruption (or on a host already provisioned) repeats nothing harmful
and the monitor picks up wherever the DPUs stand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from carbide_dpf.errors import FieldProblem
from carbide_dpf.flows.monitor import Host, MonitorResult, PowerCycler, monitor_host
from carbide_dpf.sdk import DpfSdk, InitResult, SecretStr
from carbide_dpf.sdk import validation as v

__all__ = [
    "DeviceSpec",
    "HostSpec",
    "ProvisionResult",
    "check_provision_input",
    "parse_device_specs",
    "provision_host",
    "register_host",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One DPU of a host as the provisioning system knows it: its DPUDevice name, the
    address of the DPU's own BMC and its serial number."""

    name: str
    bmc_ip: str
    serial_number: str


def parse_device_specs(text: str, field: str = "dpus") -> tuple[DeviceSpec, ...]:
    """Parse `device:bmc_ip:serial[,device:bmc_ip:serial...]` (the Rust harness's format).

    Raises `ValidationError` naming each malformed entry; the values themselves are checked
    by `HostSpec.validate`.
    """
    specs: list[DeviceSpec] = []
    problems: list[FieldProblem] = []
    for index, item in enumerate(part.strip() for part in text.split(",")):
        parts = item.split(":")
        if len(parts) != 3 or not all(parts):
            problems.append(FieldProblem(
                f"{field}[{index}]", "device:bmc_ip:serial",
                f"{item!r} must be DEVICE:BMC_IP:SERIAL, e.g. dpu-a:10.0.0.11:MT2301X00001"))
            continue
        specs.append(DeviceSpec(*parts))
    v.raise_if_any(problems)
    return tuple(specs)


@dataclass(frozen=True, slots=True)
class HostSpec:
    """A host to provision: its DPUNode name, its BMC address and its DPUs."""

    node_name: str
    host_bmc_ip: str
    devices: tuple[DeviceSpec, ...]

    def problems(self) -> list[FieldProblem]:
        """Every rule the spec breaks (empty when it is fine)."""
        problems = v.check_node_name("node", self.node_name)
        problems += v.check_ip("host_bmc_ip", self.host_bmc_ip)
        if not self.devices:
            problems.append(FieldProblem("dpus", "required", "list at least one DPU"))
        names = [d.name for d in self.devices]
        if len(set(names)) != len(names):
            problems.append(FieldProblem("dpus", "unique", "device names repeat"))
        for index, device in enumerate(self.devices):
            field = f"dpus[{index}]"
            problems += v.check_device_name(f"{field}.device", device.name)
            problems += v.check_dpu_name(f"{field}.device", self.node_name, device.name)
            problems += v.check_ip(f"{field}.bmc_ip", device.bmc_ip, version=4)
            problems += v.check_serial_number(f"{field}.serial", device.serial_number)
        return problems

    @property
    def host(self) -> Host:
        """The host the monitor waits for: every DPU of the node."""
        return Host.from_devices(self.node_name, [d.name for d in self.devices])


@dataclass(frozen=True, slots=True)
class ProvisionResult:
    """What `provision_host` applied and how the monitor ended."""

    init: InitResult | None
    monitor: MonitorResult


def check_provision_input(spec: HostSpec, bfb_url: str | None,
                          bmc_password: SecretStr | None) -> None:
    """Raise one `ValidationError` listing every rule the provision input breaks."""
    problems = spec.problems()
    if bfb_url is not None:
        problems += v.check_url("bfb_url", bfb_url)
        if not bmc_password:
            problems.append(FieldProblem("bmc_password", "required", "must not be empty"))
    v.raise_if_any(problems)


async def register_host(sdk: DpfSdk, spec: HostSpec) -> Host:
    """Register the host's DPUDevices (labelled with the host BMC address), then its DPUNode.

    The node comes last: once it exists the operator creates DPUs for the devices it lists.
    """
    v.raise_if_any(spec.problems())
    for device in spec.devices:
        await sdk.register_dpu_device(device.name, bmc_ip=device.bmc_ip,
                                      serial_number=device.serial_number,
                                      host_bmc_ip=spec.host_bmc_ip)
    await sdk.register_dpu_node(spec.node_name, [d.name for d in spec.devices])
    log.info("registered host dpunode=%s dpus=%d ns=%s", spec.node_name, len(spec.devices),
             sdk.namespace)
    return spec.host


async def provision_host(
    sdk: DpfSdk,
    spec: HostSpec,
    power_cycle: PowerCycler,
    *,
    bfb_url: str | None,
    bmc_password: SecretStr | None,
    timeout: float = 1800.0,  # noqa: ASYNC109 - seconds, bounds the monitor
    **watcher_options: object,
) -> ProvisionResult:
    """Provision one host end to end: `create_initialization_objects` (skipped when
    `bfb_url` is None, e.g. when a fleet initialises once), register, monitor.

    All input is checked before anything is written.
    """
    check_provision_input(spec, bfb_url, bmc_password)

    init = None
    if bfb_url is not None and bmc_password is not None:
        init = await sdk.create_initialization_objects(bfb_url, bmc_password)
    host = await register_host(sdk, spec)
    result = await monitor_host(sdk, host, power_cycle, timeout=timeout, **watcher_options)
    return ProvisionResult(init, result)

