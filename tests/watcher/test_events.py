"""Reading events and states off raw DPU objects (pure logic, no server)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from carbide_dpf.models.phase import DpuPhase
from carbide_dpf.watcher.core import DpuWatcher
from carbide_dpf.watcher.events import (
    HOST_BMC_IP_LABEL,
    REBOOT_WAIT_REASON,
    DpuEventType,
    DpuFailed,
    DpuState,
    RebootRequired,
    as_state_event,
    build_event,
    state_of,
)
from carbide_dpf.watcher.ledger import LEDGER_ANNOTATION


def _dpu(phase: str | None = None, conditions: list[dict[str, Any]] | None = None) -> Any:
    obj: dict[str, Any] = {
        "metadata": {
            "name": "node-a-dev-0",
            "namespace": "dpf",
            "uid": "u-1",
            "resourceVersion": "7",
            "creationTimestamp": "2026-01-02T03:04:05Z",
            "labels": {HOST_BMC_IP_LABEL: "10.0.0.9"},
        },
        "spec": {"dpuDeviceName": "dev-0", "dpuNodeName": "node-a"},
    }
    if phase is not None:
        obj["status"] = {"phase": phase, "conditions": conditions or []}
    return obj


def _cond(type_: str, status: str, reason: str, message: str = "m") -> dict[str, Any]:
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": "2026-01-02T03:05:00Z"}


def test_event_carries_identity_placement_bmc_and_phases() -> None:
    event = build_event(DpuEventType.MODIFIED, _dpu("Pending"), _dpu("Initializing"))

    assert (event.name, event.namespace, event.uid) == ("node-a-dev-0", "dpf", "u-1")
    assert (event.device, event.node) == ("dev-0", "node-a")
    assert event.host_bmc_ip == "10.0.0.9"
    assert event.phase == DpuPhase.PENDING and isinstance(event.phase, DpuPhase)
    assert event.previous_phase == DpuPhase.INITIALIZING
    assert event.created_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert event.key == "dpf/node-a-dev-0"


def test_unknown_phase_is_kept_as_is() -> None:
    event = build_event(DpuEventType.ADDED, _dpu("DPU Config"), None)

    assert event.phase == "DPU Config"
    assert event.phase is not None and not event.phase.is_known
    assert event.previous_phase is None


def test_states_follow_the_operator_contract() -> None:
    waiting = [_cond("Rebooted", "False", REBOOT_WAIT_REASON)]

    assert state_of(_dpu("Node Effect")) is DpuState.MAINTENANCE_NEEDED
    assert state_of(_dpu("Rebooting", waiting)) is DpuState.REBOOT_REQUIRED
    assert state_of(_dpu("Ready")) is DpuState.READY
    assert state_of(_dpu("Error")) is DpuState.ERROR


def test_rebooting_without_the_manual_wait_is_not_a_reboot_request() -> None:
    assert state_of(_dpu("Rebooting")) is None
    assert state_of(_dpu("Rebooting", [_cond("Rebooted", "False", "Other")])) is None
    assert state_of(_dpu("Rebooting", [_cond("Rebooted", "True", "Done")])) is None
    assert state_of(_dpu("OS Installing")) is None
    assert state_of(_dpu()) is None


def test_reboot_event_carries_the_rebooted_condition() -> None:
    obj = _dpu("Rebooting", [_cond("Rebooted", "False", REBOOT_WAIT_REASON, "power cycle me")])
    base = build_event(DpuEventType.MODIFIED, obj, None)

    event = as_state_event(base, DpuState.REBOOT_REQUIRED)

    assert isinstance(event, RebootRequired)
    assert (event.reason, event.message) == (REBOOT_WAIT_REASON, "power cycle me")
    assert event.obj is obj


def test_error_event_explains_itself_with_the_failing_condition() -> None:
    obj = _dpu("Error", [_cond("Initialized", "True", "Ok", ""),
                         _cond("OSInstalled", "False", "InstallFailed", "bfb push failed")])

    event = as_state_event(build_event(DpuEventType.MODIFIED, obj, None), DpuState.ERROR)

    assert isinstance(event, DpuFailed)
    assert (event.reason, event.message) == ("InstallFailed", "bfb push failed")


def test_ledger_only_change_is_not_a_change() -> None:
    watcher = DpuWatcher(None, namespace="dpf")  # type: ignore[arg-type]  # never started
    old = _dpu("Ready")
    new = _dpu("Ready")
    new["metadata"]["resourceVersion"] = "8"
    new["metadata"]["annotations"] = {LEDGER_ANNOTATION: '{"uid":"u-1","states":["ready"]}'}
    relabelled = _dpu("Ready")
    relabelled["metadata"]["labels"]["x"] = "y"

    assert not watcher._changed(old, new)
    assert watcher._changed(old, relabelled)
    assert watcher._changed(old, _dpu("Error"))
