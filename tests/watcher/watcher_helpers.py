"""Helpers for the watcher tests: DPU objects, phase driving through real status patches, and a
recorder of callback calls."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from carbide_dpf.kube.client import KubeClient, KubeObject
from carbide_dpf.models.registry import DPU
from carbide_dpf.watcher import DpuWatcher, PhaseChange
from carbide_dpf.watcher.events import HOST_BMC_IP_LABEL, REBOOT_WAIT_REASON, DpuEvent

SCOPE_LABEL = "watcher-test/scope"


def dpu_body(name: str, *, bmc_ip: str = "10.0.0.1", scope: str = "in") -> KubeObject:
    """A DPU as the operator would create it, minus status."""
    return {
        "apiVersion": DPU.api_version,
        "kind": DPU.kind,
        "metadata": {
            "name": name,
            "labels": {
                HOST_BMC_IP_LABEL: bmc_ip,
                SCOPE_LABEL: scope,
                "provisioning.dpu.nvidia.com/dpunode-name": f"node-{name}",
            },
        },
        "spec": {
            "bfb": "bf-bundle",
            "dpuDeviceName": f"dev-{name}",
            "dpuNodeName": f"node-{name}",
            "serialNumber": f"SN{name.upper()}",
            "nodeEffect": {"hold": True},
        },
    }


def cond(type_: str, status: str, reason: str, message: str = "") -> dict[str, Any]:
    """A status condition with every required field."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": type_, "status": status, "reason": reason, "message": message,
            "lastTransitionTime": stamp}


WAITING = cond("Rebooted", "False", REBOOT_WAIT_REASON, "power cycle the host")

# The v25.10.1 zero-trust path as status patches: (phase, conditions).
ZERO_TRUST: list[tuple[str, list[dict[str, Any]]]] = [
    ("Initializing", []),
    ("Pending", [cond("Initialized", "True", "Initialized")]),
    ("Node Effect", [cond("BFBReady", "True", "Ready")]),
    ("Initialize Interface", [cond("NodeEffectReady", "True", "Released")]),
    ("Config FW Parameters", [cond("InterfaceInitialized", "True", "Done")]),
    ("Prepare BFB", [cond("FWConfigured", "True", "Done")]),
    ("OS Installing", [cond("BFBPrepared", "True", "Done")]),
    ("Rebooting", [cond("OSInstalled", "True", "Done")]),
    ("Rebooting", [WAITING]),
    ("DPU Cluster Config", [cond("Rebooted", "True", "Rebooted")]),
    ("Node Effect Removal", [cond("DPUClusterReady", "True", "Done")]),
    ("Ready", [cond("Ready", "True", "Ready")]),
]
PHASES = [p for i, (p, _) in enumerate(ZERO_TRUST) if i == 0 or ZERO_TRUST[i - 1][0] != p]


async def set_status(
    kube: KubeClient, namespace: str, name: str, phase: str,
    conditions: list[dict[str, Any]] | None = None,
) -> KubeObject:
    """Patch the DPU's status as the operator would (real API traffic)."""
    status = {"phase": phase, "conditions": conditions or []}
    return await kube.patch_status(DPU, name, {"status": status}, namespace)


async def eventually(predicate: Callable[[], bool], within: float = 15.0) -> None:
    """Wait until `predicate()` holds; fail the test after `within` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


@dataclass(frozen=True)
class Call:
    """One callback invocation as the recorder saw it."""

    callback: str
    name: str
    uid: str
    phase: str | None
    previous: str | None
    watcher: str
    thread: str


class Recorder:
    """Register on every callback of a watcher and record each call (thread-safe)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._lock = threading.Lock()

    def attach(self, watcher: DpuWatcher, label: str = "w") -> None:
        """Record every callback of `watcher`, tagged with `label`."""
        for name in ("on_dpu_event", "on_phase_change", "on_maintenance_needed",
                     "on_reboot_required", "on_dpu_ready", "on_error"):
            getattr(watcher, name)(self._make(name, label))

    def _make(self, callback: str, label: str) -> Callable[[DpuEvent], Any]:
        async def record(event: DpuEvent) -> None:
            self.add(callback, event, label)

        return record

    def add(self, callback: str, event: DpuEvent, label: str = "w") -> None:
        """Record one call."""
        previous = event.previous_phase if isinstance(event, PhaseChange) else None
        call = Call(callback, event.name, event.uid, event.phase, previous, label,
                    threading.current_thread().name)
        with self._lock:
            self.calls.append(call)

    def of(self, callback: str, name: str | None = None) -> list[Call]:
        """The calls of one callback (for one DPU)."""
        with self._lock:
            return [c for c in self.calls
                    if c.callback == callback and (name is None or c.name == name)]

    def count(self, callback: str, name: str | None = None) -> int:
        """How many calls of `callback` (for one DPU) were recorded."""
        return len(self.of(callback, name))


async def drive(
    kube: KubeClient, namespace: str, name: str, recorder: Recorder,
    *, steps: list[tuple[str, list[dict[str, Any]]]] | None = None, within: float = 30.0,
) -> None:
    """Play the operator for one DPU: walk the zero-trust path, holding in "Node Effect"
    until maintenance was delivered and in "Rebooting" until the reboot was."""
    for phase, conditions in steps or ZERO_TRUST:
        await set_status(kube, namespace, name, phase, conditions)
        if phase == "Node Effect":
            await eventually(lambda: recorder.count("on_maintenance_needed", name) > 0, within)
        if conditions == [WAITING]:
            await eventually(lambda: recorder.count("on_reboot_required", name) > 0, within)
