"""The DPU controller: the v25.10.1 zero-trust phase machine, one status patch per step.

Each reconcile looks at the DPU's phase and, once the phase's dwell time has passed and its
guard allows it (the BFB is Ready, the hold is released, ...), writes the next phase together
with the conditions the finished step sets True. The write carries the resourceVersion it was
computed from, so a stale store makes it fail with a conflict instead of undoing someone
else's change; the worker then retries.

The external reboot of a node is driven by the DPUNode controller (`reboot.py`), which writes
the Rebooting -> DPU Cluster Config step itself: it alone knows when the host was power-cycled.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from carbide_dpf.kube.client import KubeObject
from carbide_dpf.models.phase import ZERO_TRUST_CONDITIONS, ZERO_TRUST_HAPPY_PATH, DpuPhase
from carbide_dpf.sim import maintenance, metrics
from carbide_dpf.sim.base import Controller, Dwell, SimContext
from carbide_dpf.sim.conditions import set_condition
from carbide_dpf.sim.faults import Fault
from carbide_dpf.sim.objects import DPU, DPU_FINALIZER, conditions_of, is_deleting

__all__ = [
    "BEFORE_REBOOT",
    "NEXT_PHASE",
    "DpuController",
    "external_reboot",
    "phase_of",
    "write_step",
]

log = logging.getLogger(__name__)

NEXT_PHASE: Mapping[str, DpuPhase] = dict(itertools.pairwise(ZERO_TRUST_HAPPY_PATH))
"""The zero-trust successor of every phase that has one."""

BEFORE_REBOOT = frozenset(ZERO_TRUST_HAPPY_PATH[: ZERO_TRUST_HAPPY_PATH.index(DpuPhase.REBOOTING)])
"""Phases of a DPU still on its way to Rebooting (Initializing up to OS Installing)."""

_SUCCESS = "Success"
_FAULT_REASON = "SimulatedFault"

Guard = Callable[[KubeObject], Awaitable[dict[str, Any] | None]]


def phase_of(dpu: Mapping[str, Any] | None) -> str:
    """Return the DPU's phase, or "" before the operator wrote one."""
    if not dpu:
        return ""
    return str((dpu.get("status") or {}).get("phase") or "")


async def write_step(
    ctx: SimContext,
    dpu: KubeObject,
    phase: str,
    next_phase: str,
    extra: Mapping[str, Any] | None = None,
) -> None:
    """Move `dpu` from `phase` to `next_phase`, setting the conditions `phase` completes."""
    meta = dpu["metadata"]
    conditions = conditions_of(dpu)
    generation = meta.get("generation")
    done = list(ZERO_TRUST_CONDITIONS.get(DpuPhase(phase), ()))
    if next_phase == DpuPhase.READY:
        done.append("Ready")
    for kind in done:
        conditions = set_condition(conditions, kind, True, _SUCCESS, generation=generation)

    status: dict[str, Any] = {
        "phase": next_phase,
        "conditions": conditions,
        "observedGeneration": generation,
        **(extra or {}),
    }
    patch = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": status}
    await ctx.kube.patch_status(DPU, meta["name"], patch, meta["namespace"])

    metrics.DPU_TRANSITIONS.labels(next_phase).inc()
    log.info("dpu phase dpu=%s ns=%s from=%s to=%s", meta["name"], meta["namespace"], phase,
             next_phase)


class DpuController(Controller):
    """Walks each DPU through the zero-trust phases; moves deleted DPUs to Deleting."""

    name = "dpu"

    def __init__(self, ctx: SimContext, workers: int) -> None:
        """Create the controller with its phase guards."""
        super().__init__(ctx, workers)
        self._dwell = Dwell()
        self._guards: dict[str, Guard] = {
            DpuPhase.INITIALIZING: self._initialized,
            DpuPhase.PENDING: self._bfb_ready,
            DpuPhase.NODE_EFFECT: self._node_effect_applied,
            DpuPhase.REBOOTING: self._rebooted_by_itself,
            DpuPhase.NODE_EFFECT_REMOVAL: self._node_effect_removed,
        }

    async def reconcile(self, key: str) -> float | None:
        """Take one step of the DPU at `key`, or return how long to wait for it."""
        dpu = self.ctx.dpus.get(key)
        if dpu is None:
            self._dwell.forget(key)
            return None
        if is_deleting(dpu):
            return await self._reconcile_deleting(dpu)

        phase = phase_of(dpu)
        if not phase:
            await self._initialize(dpu)
            return None
        if phase not in NEXT_PHASE:
            # Ready, Error (terminal until deleted), or a phase this path never writes.
            return None
        return await self._step(dpu, phase, NEXT_PHASE[phase])

    async def _step(self, dpu: KubeObject, phase: str, next_phase: str) -> float | None:
        name = dpu["metadata"]["name"]
        fault = self.ctx.faults.error_for(name, phase)
        if fault is not None:
            await self._fail(dpu, phase, fault)
            return None
        if self.ctx.faults.stalled(name, phase):
            return None

        wait = self._wait(dpu, phase)
        if wait > 0:
            return wait

        guard = self._guards.get(phase)
        extra = await guard(dpu) if guard is not None else {}
        if extra is None:
            return None
        await write_step(self.ctx, dpu, phase, next_phase, extra)
        return None

    def _wait(self, dpu: KubeObject, phase: str) -> float:
        meta = dpu["metadata"]
        key = f"{meta['namespace']}/{meta['name']}"
        return self._dwell.remaining(key, meta["uid"], phase, self.ctx.config.dwell_for(phase))

    async def _initialize(self, dpu: KubeObject) -> None:
        meta = dpu["metadata"]
        status = {
            "phase": DpuPhase.INITIALIZING,
            "dpfVersion": self.ctx.config.dpf_version,
            "dpuInstallInterface": "redfish",
            "observedGeneration": meta.get("generation"),
            "conditions": [],
        }
        patch = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": status}
        await self.ctx.kube.patch_status(DPU, meta["name"], patch, meta["namespace"])
        metrics.DPU_TRANSITIONS.labels(DpuPhase.INITIALIZING).inc()
        log.info("dpu phase dpu=%s ns=%s to=%s", meta["name"], meta["namespace"],
                 DpuPhase.INITIALIZING)

    async def _fail(self, dpu: KubeObject, phase: str, fault: Fault) -> None:
        meta = dpu["metadata"]
        kinds = ZERO_TRUST_CONDITIONS.get(DpuPhase(phase), ("Ready",))
        message = f"simulated failure in phase {phase}; delete the DPU to provision it again"
        conditions = set_condition(conditions_of(dpu), kinds[0], False, _FAULT_REASON, message)
        status = {"phase": DpuPhase.ERROR, "conditions": conditions}
        patch = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": status}
        await self.ctx.kube.patch_status(DPU, meta["name"], patch, meta["namespace"])
        metrics.DPU_TRANSITIONS.labels(DpuPhase.ERROR).inc()
        log.warning("dpu failed (injected fault) dpu=%s ns=%s phase=%s names=%s",
                    meta["name"], meta["namespace"], phase, fault.names)

    async def _reconcile_deleting(self, dpu: KubeObject) -> float | None:
        phase = phase_of(dpu)
        if phase == DpuPhase.DELETING:
            await maintenance.release(self.ctx, dpu)
            await self.remove_finalizer(DPU, dpu, DPU_FINALIZER)
            return None

        if phase == DpuPhase.OS_INSTALLING and self.ctx.config.quirk_hold_delete_during_install:
            # v25.10.1 does not interrupt an install: the DPU (and its finalizer) stays until
            # OS Installing is over, and only then goes to Deleting.
            if self.ctx.faults.stalled(dpu["metadata"]["name"], phase):
                return None
            wait = self._wait(dpu, phase)
            if wait > 0:
                return wait
            await write_step(self.ctx, dpu, phase, DpuPhase.DELETING)
            return None

        meta = dpu["metadata"]
        patch = {
            "metadata": {"resourceVersion": meta["resourceVersion"]},
            "status": {"phase": DpuPhase.DELETING},
        }
        await self.ctx.kube.patch_status(DPU, meta["name"], patch, meta["namespace"])
        metrics.DPU_TRANSITIONS.labels(DpuPhase.DELETING).inc()
        log.info("dpu phase dpu=%s ns=%s from=%s to=%s", meta["name"], meta["namespace"],
                 phase or "-", DpuPhase.DELETING)
        return None

    async def _initialized(self, dpu: KubeObject) -> dict[str, Any] | None:
        # The CRD defaults status to {phase: Initializing} on create, so the first write the
        # operator makes is the end of Initializing: that is where the version is recorded.
        return {"dpfVersion": self.ctx.config.dpf_version, "dpuInstallInterface": "redfish"}

    async def _bfb_ready(self, dpu: KubeObject) -> dict[str, Any] | None:
        namespace = dpu["metadata"]["namespace"]
        bfb = self.ctx.bfbs.get(f"{namespace}/{dpu['spec'].get('bfb', '')}")
        status = (bfb or {}).get("status") or {}
        if status.get("phase") != "Ready":
            return None
        return {"bfbFile": f"/bfb/{status.get('fileName', '')}"}

    async def _node_effect_applied(self, dpu: KubeObject) -> dict[str, Any] | None:
        if not maintenance.holds(dpu):
            return {}
        return {} if await maintenance.acquire(self.ctx, dpu) else None

    async def _rebooted_by_itself(self, dpu: KubeObject) -> dict[str, Any] | None:
        namespace = dpu["metadata"]["namespace"]
        node = self.ctx.nodes.get(f"{namespace}/{dpu['spec'].get('dpuNodeName', '')}")
        if node is not None and external_reboot(node):
            return None
        return {}

    async def _node_effect_removed(self, dpu: KubeObject) -> dict[str, Any] | None:
        if maintenance.holds(dpu):
            await maintenance.release(self.ctx, dpu)
        return {}


def external_reboot(node: Mapping[str, Any]) -> bool:
    """Return whether the DPUNode is rebooted by an external actor (`nodeRebootMethod.external`)."""
    method = (node.get("spec") or {}).get("nodeRebootMethod") or {}
    return "external" in method
