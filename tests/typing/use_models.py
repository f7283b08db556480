"""A small program written against the models, for mypy --strict to check (tests/ is typed).

It builds the objects a client creates, reads what the operator writes, and looks kinds up in
the registry the way the SDK does. tests/models/test_typing_program.py also runs it.
"""

from __future__ import annotations

from carbide_dpf.kube.resource import ResourceKind
from carbide_dpf.models import (
    DPU,
    ZERO_TRUST_HAPPY_PATH,
    Condition,
    DPUDevice,
    DPUNode,
    DpuPhase,
    KubeResource,
    ObjectMeta,
    registry,
)
from carbide_dpf.models.dpu_device import DPUDeviceSpec
from carbide_dpf.models.dpu_node import DPUNodeSpec, DPUNodeSpecDpu, DPUNodeSpecNodeRebootMethod


def build_device(name: str, serial: str, bmc_ip: str) -> DPUDevice:
    """A DPUDevice as manual discovery creates it."""
    return DPUDevice(
        metadata=ObjectMeta(name=name, labels={"carbide.nvidia.com/machine-id": "m-1"}),
        spec=DPUDeviceSpec(serial_number=serial, bmc_ip=bmc_ip, bmc_port=443),
    )


def build_node(name: str, devices: list[str]) -> DPUNode:
    """A DPUNode listing its devices, rebooted by an external actor."""
    return DPUNode(
        metadata=ObjectMeta(name=name),
        spec=DPUNodeSpec(
            dpus=[DPUNodeSpecDpu(name=device) for device in devices],
            node_reboot_method=DPUNodeSpecNodeRebootMethod(external={}),
        ),
    )


def ready_condition(dpu: DPU) -> Condition | None:
    """The DPU's Ready condition, if the operator set one."""
    if dpu.status is None:
        return None
    return next((c for c in dpu.status.conditions or [] if c.type == "Ready"), None)


def progress(dpu: DPU) -> tuple[int, int]:
    """How far along the zero-trust path a DPU is: (steps done, steps in all)."""
    phase: DpuPhase | None = dpu.status.phase if dpu.status else None
    if phase is None or phase not in ZERO_TRUST_HAPPY_PATH:
        return 0, len(ZERO_TRUST_HAPPY_PATH)
    return ZERO_TRUST_HAPPY_PATH.index(phase) + 1, len(ZERO_TRUST_HAPPY_PATH)


def describe(obj: KubeResource) -> str:
    """`Kind namespace/name` of any DPF object."""
    resource: ResourceKind = type(obj).resource
    return f"{resource.kind} {obj.metadata.namespace or '-'}/{obj.metadata.name}"


def main() -> None:
    """Build, serialise and parse a few objects; fail loudly if anything is off."""
    device = build_device("dev-1", "MT2306XZ0001", "10.0.0.10")
    body: dict[str, object] = device.to_dict()
    assert body["kind"] == "DPUDevice"

    node = build_node("host-1", ["dev-1"])
    assert node.spec is not None and node.spec.dpus is not None
    names: list[str] = [dpu.name for dpu in node.spec.dpus]
    assert names == ["dev-1"]

    dpu = DPU.from_dict(
        {
            "metadata": {"name": "host-1-dev-1", "namespace": "dpf"},
            "spec": {
                "bfb": "b",
                "dpuDeviceName": "dev-1",
                "dpuNodeName": "host-1",
                "serialNumber": "s",
            },
            "status": {"phase": "OS Installing"},
        }
    )
    node_name: str = dpu.spec.dpu_node_name
    assert node_name == "host-1"
    assert progress(dpu) == (7, 11)
    assert ready_condition(dpu) is None
    assert describe(dpu) == "DPU dpf/host-1-dev-1"

    kind: ResourceKind = registry.kind_by_name("dpus")
    model: type[KubeResource] = registry.model_for(kind)
    assert model is DPU and kind is registry.DPU


if __name__ == "__main__":
    main()
