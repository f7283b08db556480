"""The external reboot of a DPUNode (`spec.nodeRebootMethod.external`).

The protocol, all of it kept in the objects so a restarted simulator picks it up:

1. Once DPUs of the node are Rebooting and no other DPU of it is still on its way there, the
   operator sets the annotation `dpunode-external-reboot-required: "true"` on the DPUNode, the
   node condition `DPUNodeRebootInProgress=True`, and `Rebooted=False`
   (WaitingForManualPowerCycleOrReboot) on each Rebooting DPU.
2. The client power-cycles the host and removes the annotation key. Only presence counts:
   "false" still means "reboot required".
3. Condition True without the key means the reboot happened: every Rebooting DPU of the node
   moves on to DPU Cluster Config with `Rebooted=True`, then the node condition is cleared.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

from carbide_dpf.kube.client import KubeObject
from carbide_dpf.kube.conditions import find_condition, is_condition_true
from carbide_dpf.models.phase import DpuPhase
from carbide_dpf.sim.base import SimContext, bounded_gather
from carbide_dpf.sim.conditions import set_condition
from carbide_dpf.sim.dpu import BEFORE_REBOOT, external_reboot, phase_of, write_step
from carbide_dpf.sim.objects import (
    DPU,
    DPU_NODE,
    EXTERNAL_REBOOT_ANNOTATION,
    annotations_of,
    conditions_of,
    is_deleting,
)

__all__ = ["REBOOT_IN_PROGRESS", "WAITING_FOR_REBOOT", "reconcile_reboot"]

log = logging.getLogger(__name__)

REBOOT_IN_PROGRESS = "DPUNodeRebootInProgress"
WAITING_FOR_REBOOT = "WaitingForManualPowerCycleOrReboot"


async def reconcile_reboot(ctx: SimContext, node: KubeObject, dpus: Sequence[KubeObject]) -> bool:
    """Take the node's next reboot step; return whether anything was written."""
    if not external_reboot(node):
        return False

    asked = EXTERNAL_REBOOT_ANNOTATION in annotations_of(node)
    in_progress = is_condition_true(node, REBOOT_IN_PROGRESS)
    live = [d for d in dpus if not is_deleting(d)]
    rebooting = [
        d for d in live
        if phase_of(d) == DpuPhase.REBOOTING
        and not ctx.faults.stalled(d["metadata"]["name"], DpuPhase.REBOOTING)
    ]

    if in_progress and not asked:
        await _complete(ctx, node, rebooting)
        return True
    if in_progress:
        return await _await_client(ctx, node, rebooting)
    if asked:
        # The annotation went out but the condition did not (a restart in between).
        await _write_node(ctx, node, in_progress=True)
        return True
    if not rebooting or any(phase_of(d) in BEFORE_REBOOT for d in live):
        return False

    await _ask(ctx, node, rebooting)
    return True


async def _ask(ctx: SimContext, node: KubeObject, rebooting: Sequence[KubeObject]) -> None:
    meta = node["metadata"]
    patch = {
        "metadata": {
            "resourceVersion": meta["resourceVersion"],
            "annotations": {EXTERNAL_REBOOT_ANNOTATION: "true"},
        }
    }
    node = await ctx.kube.merge_patch(DPU_NODE, meta["name"], patch, meta["namespace"])
    log.info("external reboot required dpunode=%s ns=%s dpus=%d", meta["name"],
             meta["namespace"], len(rebooting))

    node = await _write_node(ctx, node, in_progress=True)
    await _mark_waiting(ctx, node, rebooting)
    if ctx.config.auto_reboot:
        await _remove_request(ctx, node)


async def _await_client(
    ctx: SimContext, node: KubeObject, rebooting: Sequence[KubeObject]
) -> bool:
    unmarked = [d for d in rebooting if not _waiting(d)]
    await _mark_waiting(ctx, node, unmarked)
    if not ctx.config.auto_reboot:
        return bool(unmarked)

    await _remove_request(ctx, node)
    return True


async def _remove_request(ctx: SimContext, node: KubeObject) -> None:
    # Playing the client (auto_reboot): the host "was power-cycled", so the key goes.
    meta = node["metadata"]
    patch = {
        "metadata": {
            "resourceVersion": meta["resourceVersion"],
            "annotations": {EXTERNAL_REBOOT_ANNOTATION: None},
        }
    }
    await ctx.kube.merge_patch(DPU_NODE, meta["name"], patch, meta["namespace"])


async def _complete(ctx: SimContext, node: KubeObject, rebooting: Sequence[KubeObject]) -> None:
    await bounded_gather(
        functools.partial(write_step, ctx, d, DpuPhase.REBOOTING, DpuPhase.DPU_CLUSTER_CONFIG)
        for d in rebooting
    )
    await _write_node(ctx, node, in_progress=False)
    log.info("external reboot done dpunode=%s ns=%s dpus=%d", node["metadata"]["name"],
             node["metadata"]["namespace"], len(rebooting))


def _waiting(dpu: KubeObject) -> bool:
    condition = find_condition(dpu, "Rebooted")
    return condition is not None and condition.get("reason") == WAITING_FOR_REBOOT


async def _mark_waiting(ctx: SimContext, node: KubeObject, dpus: Sequence[KubeObject]) -> None:
    message = (
        f"power-cycle the host, then remove annotation {EXTERNAL_REBOOT_ANNOTATION} "
        f"from DPUNode {node['metadata']['name']}"
    )

    async def mark(dpu: KubeObject) -> None:
        meta = dpu["metadata"]
        conditions = set_condition(conditions_of(dpu), "Rebooted", False, WAITING_FOR_REBOOT,
                                   message)
        patch = {"metadata": {"resourceVersion": meta["resourceVersion"]},
                 "status": {"conditions": conditions}}
        await ctx.kube.patch_status(DPU, meta["name"], patch, meta["namespace"])

    await bounded_gather(functools.partial(mark, d) for d in dpus)


async def _write_node(ctx: SimContext, node: KubeObject, *, in_progress: bool) -> KubeObject:
    meta = node["metadata"]
    if in_progress:
        conditions = set_condition(conditions_of(node), REBOOT_IN_PROGRESS, True,
                                   "WaitingForExternalReboot",
                                   f"waiting for the removal of {EXTERNAL_REBOOT_ANNOTATION}")
    else:
        conditions = set_condition(conditions_of(node), REBOOT_IN_PROGRESS, False,
                                   "RebootCompleted", "the host was rebooted")
    # No resourceVersion precondition: only the operator writes these conditions, and the
    # client removing the annotation right after the ask must not make this write fail, or
    # a retry on a stale store would ask for a second reboot. A stale reconcile cannot ask
    # twice either: its annotation patch carries the old resourceVersion and is refused.
    patch = {"status": {"conditions": conditions, "rebootInProgress": in_progress}}
    return await ctx.kube.patch_status(DPU_NODE, meta["name"], patch, meta["namespace"])
