"""The events the watcher hands to callbacks, and how they are read off a raw DPU object.

Every callback receives a frozen dataclass built from one observed state of a DPU:

- `DpuEvent` (for `on_dpu_event`): identity (name, namespace, uid), placement (device, node),
  the phase as a `DpuPhase` (a phase this release does not know is kept as-is), the phase seen
  before, the host BMC address, the conditions, timestamps and the raw object.
- `PhaseChange` (for `on_phase_change`): a `DpuEvent` whose phase differs from the one seen
  before; `previous_phase` is None when the watcher had not seen the DPU with a phase.
- `MaintenanceNeeded`, `RebootRequired`, `DpuReady`, `DpuFailed`: the state events, one per
  entry of a DPU into "Node Effect", into "Rebooting" awaiting a manual power cycle, into
  "Ready" and into "Error". `RebootRequired` and `DpuFailed` carry the reason and message of
  the condition that explains them.

`DpuState` names those four states; `state_of(obj)` says which one a raw DPU is in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from carbide_dpf.iplabels import HOST_BMC_IP_LABEL, host_bmc_ip_from_labels
from carbide_dpf.models.phase import DpuPhase

__all__ = [
    "HOST_BMC_IP_LABEL",
    "REBOOT_WAIT_REASON",
    "CallbackFailure",
    "Condition",
    "DpuEvent",
    "DpuEventType",
    "DpuFailed",
    "DpuReady",
    "DpuState",
    "MaintenanceNeeded",
    "PhaseChange",
    "RebootRequired",
    "build_event",
    "phase_of",
    "state_of",
]

"""The DPUDevice label (copied by the operator onto the DPU) that carries the host BMC address.

The operator never fills `DPU.spec.bmcIP`; the SDK labels each DPUDevice with this key when it
registers it, and the DPUSet controller copies device labels onto the DPU it creates.
"""

REBOOT_WAIT_REASON = "WaitingForManualPowerCycleOrReboot"
"""The reason of `Rebooted=False` while the operator waits for an external power cycle."""

_DEVICE_LABEL = "provisioning.dpu.nvidia.com/dpudevice-name"
_NODE_LABEL = "provisioning.dpu.nvidia.com/dpunode-name"


class DpuEventType(StrEnum):
    """Why the watcher produced an event."""

    ADDED = "ADDED"
    """The DPU appeared (created, or already there when the watcher started)."""
    MODIFIED = "MODIFIED"
    """The DPU changed (status, spec, labels, annotations other than the ledger's)."""
    DELETED = "DELETED"
    """The DPU is gone; the event holds its last known state."""
    RESYNC = "RESYNC"
    """Not a change: the watcher re-examined a DPU it already knew (a new leader, a resync)."""


class DpuState(StrEnum):
    """The states whose entry triggers a state callback exactly once per DPU uid."""

    MAINTENANCE_NEEDED = "maintenance"
    """Phase "Node Effect": the node effect (a hold) waits for an external actor."""
    REBOOT_REQUIRED = "reboot"
    """Phase "Rebooting" with `Rebooted=False` reason WaitingForManualPowerCycleOrReboot."""
    READY = "ready"
    """Phase "Ready"."""
    ERROR = "error"
    """Phase "Error" (terminal: only deleting the DPU leaves it)."""


@dataclass(frozen=True, slots=True)
class Condition:
    """One entry of `status.conditions`."""

    type: str
    status: str
    reason: str | None = None
    message: str | None = None
    last_transition_time: datetime | None = None

    @property
    def is_true(self) -> bool:
        """Whether the condition's status is "True"."""
        return self.status == "True"


@dataclass(frozen=True, slots=True)
class DpuEvent:
    """One observed state of a DPU, handed to `on_dpu_event` callbacks."""

    type: DpuEventType
    name: str
    namespace: str
    uid: str
    device: str | None
    node: str | None
    phase: DpuPhase | None
    previous_phase: DpuPhase | None
    host_bmc_ip: str | None
    conditions: tuple[Condition, ...]
    created_at: datetime | None
    observed_at: datetime
    deleting: bool
    obj: dict[str, Any] = field(repr=False, compare=False)
    observed_monotonic: float = field(default=0.0, repr=False, compare=False)
    """`time.monotonic()` when the watcher received the change (for latency metrics)."""

    @property
    def key(self) -> str:
        """`namespace/name`, the key under which the watcher orders this DPU's events."""
        return f"{self.namespace}/{self.name}"

    def condition(self, type_: str) -> Condition | None:
        """Return the condition of type `type_`, or None if the DPU has none."""
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None


@dataclass(frozen=True, slots=True)
class PhaseChange(DpuEvent):
    """A DPU whose phase differs from the one the watcher saw before (`on_phase_change`)."""


@dataclass(frozen=True, slots=True)
class MaintenanceNeeded(DpuEvent):
    """A DPU entered "Node Effect" (`on_maintenance_needed`): release the hold when ready."""


@dataclass(frozen=True, slots=True)
class RebootRequired(DpuEvent):
    """A DPU waits for an external power cycle of its host (`on_reboot_required`).

    `reason` and `message` are those of the DPU's `Rebooted` condition.
    """

    reason: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class DpuReady(DpuEvent):
    """A DPU entered "Ready" (`on_dpu_ready`)."""


@dataclass(frozen=True, slots=True)
class DpuFailed(DpuEvent):
    """A DPU entered "Error" (`on_error`).

    `reason` and `message` come from the first False condition that has a message, the best
    explanation the operator leaves on the DPU.
    """

    reason: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class CallbackFailure:
    """A delivery given up after its retries, handed to `on_callback_failed` hooks."""

    callback: str
    """The registration the failing callable came from, e.g. "on_reboot_required"."""
    event: DpuEvent
    error: BaseException
    """The exception of the last attempt."""
    attempts: int


def phase_of(obj: dict[str, Any] | None) -> DpuPhase | None:
    """Return the DPU's `status.phase` as a `DpuPhase`, or None if it has none yet."""
    if obj is None:
        return None
    raw = (obj.get("status") or {}).get("phase")
    return DpuPhase(raw) if isinstance(raw, str) and raw else None


def state_of(obj: dict[str, Any]) -> DpuState | None:
    """Return the state-callback state the raw DPU is in, or None."""
    status = obj.get("status") or {}
    phase = status.get("phase")
    if phase == DpuPhase.NODE_EFFECT:
        return DpuState.MAINTENANCE_NEEDED
    if phase == DpuPhase.READY:
        return DpuState.READY
    if phase == DpuPhase.ERROR:
        return DpuState.ERROR
    if phase == DpuPhase.REBOOTING:
        for cond in status.get("conditions") or ():
            if cond.get("type") == "Rebooted":
                waiting = cond.get("status") == "False" and cond.get("reason") == REBOOT_WAIT_REASON
                return DpuState.REBOOT_REQUIRED if waiting else None
    return None


def build_event(
    type_: DpuEventType,
    obj: dict[str, Any],
    old: dict[str, Any] | None,
    *,
    observed_monotonic: float | None = None,
    bmc_label: str = HOST_BMC_IP_LABEL,
) -> DpuEvent:
    """Build the `DpuEvent` for the DPU `obj`, seen before as `old` (None if unknown); the
    host BMC address is read from the label `bmc_label`."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    spec = obj.get("spec") or {}
    return DpuEvent(
        type=type_,
        name=meta.get("name", ""),
        namespace=meta.get("namespace", ""),
        uid=meta.get("uid", ""),
        device=spec.get("dpuDeviceName") or labels.get(_DEVICE_LABEL),
        node=spec.get("dpuNodeName") or labels.get(_NODE_LABEL),
        phase=phase_of(obj),
        previous_phase=phase_of(old),
        host_bmc_ip=host_bmc_ip_from_labels(labels, bmc_label),
        conditions=_conditions(obj),
        created_at=_parse_time(meta.get("creationTimestamp")),
        observed_at=datetime.now(UTC),
        deleting=bool(meta.get("deletionTimestamp")),
        obj=obj,
        observed_monotonic=time.monotonic() if observed_monotonic is None else observed_monotonic,
    )


def as_phase_change(event: DpuEvent) -> PhaseChange:
    """Return `event` as a `PhaseChange` (same fields)."""
    return PhaseChange(**_fields(event))


def as_state_event(event: DpuEvent, state: DpuState) -> DpuEvent:
    """Return `event` as the dataclass of the state callback for `state`."""
    fields = _fields(event)
    if state is DpuState.MAINTENANCE_NEEDED:
        return MaintenanceNeeded(**fields)
    if state is DpuState.READY:
        return DpuReady(**fields)
    if state is DpuState.REBOOT_REQUIRED:
        rebooted = event.condition("Rebooted")
        return RebootRequired(
            **fields,
            reason=rebooted.reason if rebooted else None,
            message=rebooted.message if rebooted else None,
        )
    failing = next((c for c in event.conditions if c.status == "False" and c.message), None)
    return DpuFailed(
        **fields,
        reason=failing.reason if failing else None,
        message=failing.message if failing else None,
    )


def _fields(event: DpuEvent) -> dict[str, Any]:
    # Not dataclasses.asdict: that deep-copies the raw object.
    return {name: getattr(event, name) for name in DpuEvent.__dataclass_fields__}


def _conditions(obj: dict[str, Any]) -> tuple[Condition, ...]:
    raw = (obj.get("status") or {}).get("conditions") or ()
    return tuple(
        Condition(
            type=c.get("type", ""),
            status=c.get("status", "Unknown"),
            reason=c.get("reason"),
            message=c.get("message"),
            last_transition_time=_parse_time(c.get("lastTransitionTime")),
        )
        for c in raw
        if isinstance(c, dict)
    )


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
