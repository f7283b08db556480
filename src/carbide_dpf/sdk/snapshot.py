"""Typed results of the SDK's queries and deletes, built from raw objects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from carbide_dpf.kube.conditions import is_condition_true
from carbide_dpf.models.phase import DpuPhase
from carbide_dpf.sdk.labels import host_bmc_ip_from_labels

__all__ = [
    "Condition",
    "DeleteResult",
    "DeviceState",
    "DpuState",
    "HostSnapshot",
    "InitResult",
    "NodeState",
    "OutdatedDpu",
    "ReprovisionTicket",
]


@dataclass(frozen=True, slots=True)
class Condition:
    """One entry of `status.conditions`."""

    type: str
    status: str
    reason: str = ""
    message: str = ""

    @property
    def is_true(self) -> bool:
        """Whether the condition's status is "True"."""
        return self.status == "True"


def conditions_of(obj: Mapping[str, Any]) -> tuple[Condition, ...]:
    """Return the conditions of a raw object's status."""
    raw = (obj.get("status") or {}).get("conditions") or []
    return tuple(
        Condition(str(c.get("type", "")), str(c.get("status", "")),
                  str(c.get("reason", "") or ""), str(c.get("message", "") or ""))
        for c in raw
    )


def condition_true(obj: Mapping[str, Any], condition_type: str) -> bool:
    """Return whether the raw object has condition `condition_type` with status True."""
    return is_condition_true(obj, condition_type)


@dataclass(frozen=True, slots=True)
class DpuState:
    """A DPU as a query sees it."""

    name: str
    uid: str
    phase: DpuPhase | None
    conditions: tuple[Condition, ...]
    device_name: str
    node_name: str
    bfb: str
    flavor: str
    host_bmc_ip: str | None
    created: str
    deleting: bool

    @classmethod
    def from_object(cls, obj: Mapping[str, Any], host_bmc_ip_label: str) -> DpuState:
        """Build the state of a raw DPU object."""
        metadata = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        phase = (obj.get("status") or {}).get("phase")
        return cls(
            name=str(metadata.get("name", "")),
            uid=str(metadata.get("uid", "")),
            phase=DpuPhase(phase) if phase else None,
            conditions=conditions_of(obj),
            device_name=str(spec.get("dpuDeviceName", "")),
            node_name=str(spec.get("dpuNodeName", "")),
            bfb=str(spec.get("bfb", "")),
            flavor=str(spec.get("dpuFlavor", "")),
            host_bmc_ip=host_bmc_ip_from_labels(metadata.get("labels") or {},
                                                host_bmc_ip_label),
            created=str(metadata.get("creationTimestamp", "")),
            deleting=bool(metadata.get("deletionTimestamp")),
        )


@dataclass(frozen=True, slots=True)
class DeviceState:
    """A DPUDevice as a query sees it; `exists` False for a device the node lists but which
    is not (or no longer) there."""

    name: str
    exists: bool
    serial_number: str = ""
    bmc_ip: str = ""
    ready: bool = False
    conditions: tuple[Condition, ...] = ()

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> DeviceState:
        """Build the state of a raw DPUDevice object."""
        spec = obj.get("spec") or {}
        return cls(
            name=str((obj.get("metadata") or {}).get("name", "")),
            exists=True,
            serial_number=str(spec.get("serialNumber", "")),
            bmc_ip=str(spec.get("bmcIp", "")),
            ready=condition_true(obj, "Ready"),
            conditions=conditions_of(obj),
        )


@dataclass(frozen=True, slots=True)
class NodeState:
    """A DPUNode as a query sees it."""

    name: str
    device_names: tuple[str, ...]
    reboot_required: bool
    conditions: tuple[Condition, ...]
    labels: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class HostSnapshot:
    """One host: its DPUNode (None when absent), its DPUDevices and their DPUs."""

    node_name: str
    node: NodeState | None
    devices: tuple[DeviceState, ...]
    dpus: tuple[DpuState, ...]

    @property
    def all_ready(self) -> bool:
        """Whether every DPUDevice of the host has its DPU and every DPU is Ready.

        A device without a DPU (not created yet, or being recreated after a reprovision) or a
        DPU being deleted makes the host not ready, however many other DPUs are.
        """
        if not self.dpus or not all(dpu.phase == DpuPhase.READY and not dpu.deleting
                                    for dpu in self.dpus):
            return False
        with_dpu = {dpu.device_name for dpu in self.dpus}
        return all(device.name in with_dpu for device in self.devices)


@dataclass(frozen=True, slots=True)
class OutdatedDpu:
    """A DPU whose BFB or flavor differs from what the DPUDeployment asks for."""

    name: str
    bfb: str
    flavor: str
    wanted_bfb: str
    wanted_flavor: str


@dataclass(frozen=True, slots=True)
class ReprovisionTicket:
    """What `reprovision_dpu` deleted: pass it to `wait_for_dpu` to await the new DPU."""

    dpu_name: str
    old_uid: str | None
    """None when there was no DPU to delete."""
    old_created: str | None
    deleted_at: str
    """UTC time of the delete request, RFC 3339, whole seconds (local clock); when the DPU
    had been replaced before the call (`expected_uid`), the replacement's creation time."""


@dataclass(frozen=True, slots=True)
class InitResult:
    """The names of the objects `create_initialization_objects` applied."""

    bfb: str
    flavor: str
    deployment: str
    services: tuple[str, ...]
    service_interfaces: tuple[str, ...]


@dataclass(slots=True)
class DeleteResult:
    """What a delete or force delete did, object by object (keys are `Kind/name`)."""

    deleted: list[str] = field(default_factory=list)
    already_gone: list[str] = field(default_factory=list)
    labels_removed: dict[str, list[str]] = field(default_factory=dict)
    finalizers_removed: dict[str, list[str]] = field(default_factory=dict)
    pending_finalizers: dict[str, list[str]] = field(default_factory=dict)
    """Objects still held by finalizers after the delete request (the operator's cleanup)."""

    def merge(self, other: DeleteResult) -> None:
        """Add `other`'s entries to this result."""
        self.deleted += other.deleted
        self.already_gone += other.already_gone
        self.labels_removed.update(other.labels_removed)
        self.finalizers_removed.update(other.finalizers_removed)
        self.pending_finalizers.update(other.pending_finalizers)
