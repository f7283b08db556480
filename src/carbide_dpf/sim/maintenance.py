"""The hold: DPUNodeMaintenance `<dpunode>-hold`, its annotation, and its requestors.

With `nodeEffect.hold`, a DPU in Node Effect creates (or joins, as a requestor) the node's
DPUNodeMaintenance and waits until its `NodeEffectApplied` condition is True. This module's
controller keeps the annotation `wait-for-external-nodeeffect` present ("true" unless the
client released the hold with "false") and derives the condition from it. In Node Effect
Removal (or when deleted) each DPU removes itself from the requestors; the last one deletes
the maintenance, so a later reprovision meets a fresh hold.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from carbide_dpf.kube.client import KubeObject
from carbide_dpf.kube.errors import AlreadyExistsError, NotFoundError
from carbide_dpf.sim.base import Controller, SimContext
from carbide_dpf.sim.conditions import same, set_condition
from carbide_dpf.sim.objects import (
    DPU_NODE_MAINTENANCE,
    DPUNODE_LABEL,
    WAIT_NODE_EFFECT_ANNOTATION,
    annotations_of,
    conditions_of,
    is_deleting,
)

__all__ = [
    "NODE_EFFECT_APPLIED",
    "MaintenanceController",
    "acquire",
    "hold_name",
    "holds",
    "release",
]

log = logging.getLogger(__name__)

NODE_EFFECT_APPLIED = "NodeEffectApplied"
_PROCESSING = "NodeEffectIsProcessing"


def hold_name(node: str) -> str:
    """Return the name of the node's hold: `<dpunode>-hold`."""
    return f"{node}-hold"


def holds(dpu: Mapping[str, Any]) -> bool:
    """Return whether the DPU's node effect is `hold`."""
    return bool(((dpu.get("spec") or {}).get("nodeEffect") or {}).get("hold"))


def _sibling_ready(ctx: SimContext, dpu: KubeObject) -> bool:
    namespace, name = dpu["metadata"]["namespace"], dpu["metadata"]["name"]
    node = dpu["spec"].get("dpuNodeName", "")
    for other in ctx.dpus.by_index("node", f"{namespace}/{node}"):
        if other["metadata"]["name"] == name or is_deleting(other):
            continue
        if (other.get("status") or {}).get("phase") == "Ready":
            return True
    return False


async def acquire(ctx: SimContext, dpu: KubeObject) -> bool:
    """Join the node's hold; return True once the client released it.

    Quirk of v25.10.1 (on by default): when another DPU of the node is Ready, that is when a
    single DPU of a multi-DPU node is reprovisioned, the hold is skipped altogether.
    """
    if ctx.config.quirk_skip_hold_on_single_reprovision and _sibling_ready(ctx, dpu):
        log.info("hold skipped, a sibling is Ready dpu=%s ns=%s", dpu["metadata"]["name"],
                 dpu["metadata"]["namespace"])
        return True

    namespace, name = dpu["metadata"]["namespace"], dpu["metadata"]["name"]
    node = dpu["spec"].get("dpuNodeName", "")
    hold = ctx.maintenances.get(f"{namespace}/{hold_name(node)}")
    if hold is None:
        await _create(ctx, namespace, node, name)
        return False
    if is_deleting(hold):
        return False

    requestors = list(hold.get("spec", {}).get("requestor") or [])
    if name not in requestors:
        await _set_requestors(ctx, hold, [*requestors, name])
        return False
    return any(
        c.get("type") == NODE_EFFECT_APPLIED and c.get("status") == "True"
        for c in conditions_of(hold)
    )


async def release(ctx: SimContext, dpu: KubeObject) -> None:
    """Leave the node's hold; delete the maintenance if no requestor is left."""
    namespace, name = dpu["metadata"]["namespace"], dpu["metadata"]["name"]
    node = dpu["spec"].get("dpuNodeName", "")
    hold = ctx.maintenances.get(f"{namespace}/{hold_name(node)}")
    if hold is None or is_deleting(hold):
        return
    requestors = list(hold.get("spec", {}).get("requestor") or [])
    if name not in requestors:
        return

    rest = [r for r in requestors if r != name]
    if rest:
        await _set_requestors(ctx, hold, rest)
        return
    meta = hold["metadata"]
    try:
        await ctx.kube.delete(DPU_NODE_MAINTENANCE, meta["name"], namespace,
                              resource_version=meta["resourceVersion"])
    except NotFoundError:
        return
    log.info("hold removed dpunode=%s ns=%s", node, namespace)


async def _create(ctx: SimContext, namespace: str, node: str, requestor: str) -> None:
    body = {
        "apiVersion": DPU_NODE_MAINTENANCE.api_version,
        "kind": DPU_NODE_MAINTENANCE.kind,
        "metadata": {
            "name": hold_name(node),
            "namespace": namespace,
            "labels": {DPUNODE_LABEL: node},
        },
        "spec": {"dpuNodeName": node, "nodeEffect": {"hold": True}, "requestor": [requestor]},
    }
    try:
        await ctx.kube.create(DPU_NODE_MAINTENANCE, body, namespace)
    except AlreadyExistsError:
        return  # a sibling DPU was faster; its event brings us back to join
    log.info("hold created dpunode=%s ns=%s requestor=%s", node, namespace, requestor)


async def _set_requestors(ctx: SimContext, hold: KubeObject, requestors: list[str]) -> None:
    meta = hold["metadata"]
    patch = {
        "metadata": {"resourceVersion": meta["resourceVersion"]},
        "spec": {"requestor": requestors},
    }
    await ctx.kube.merge_patch(DPU_NODE_MAINTENANCE, meta["name"], patch, meta["namespace"])


class MaintenanceController(Controller):
    """Keeps the hold annotation present and `NodeEffectApplied` in line with it."""

    name = "maintenance"

    async def reconcile(self, key: str) -> float | None:
        """Set the annotation if missing (or release it, in auto mode), then the condition."""
        hold = self.ctx.maintenances.get(key)
        if hold is None or is_deleting(hold):
            return None
        meta = hold["metadata"]
        value = annotations_of(hold).get(WAIT_NODE_EFFECT_ANNOTATION)

        if value is None:
            hold = await self._annotate(hold, "true")
            log.info("hold waiting for release dpunode=%s ns=%s",
                     hold["spec"].get("dpuNodeName"), meta["namespace"])
            value = "true"
        if value == "true" and self.ctx.config.auto_release_hold:
            await self._annotate(hold, "false")
            return None

        await self._write_condition(hold, released=value == "false")
        return None

    async def _annotate(self, hold: KubeObject, value: str) -> KubeObject:
        meta = hold["metadata"]
        patch = {
            "metadata": {
                "resourceVersion": meta["resourceVersion"],
                "annotations": {WAIT_NODE_EFFECT_ANNOTATION: value},
            }
        }
        return await self.ctx.kube.merge_patch(DPU_NODE_MAINTENANCE, meta["name"], patch,
                                               meta["namespace"])

    async def _write_condition(self, hold: KubeObject, *, released: bool) -> None:
        meta = hold["metadata"]
        old = conditions_of(hold)
        if released:
            new = set_condition(old, NODE_EFFECT_APPLIED, True, "NodeEffectApplied",
                                "the external node effect was released")
        else:
            new = set_condition(old, NODE_EFFECT_APPLIED, False, _PROCESSING,
                                f"waiting for {WAIT_NODE_EFFECT_ANNOTATION}=false")
        if same(old, new):
            return

        patch = {"metadata": {"resourceVersion": meta["resourceVersion"]},
                 "status": {"conditions": new}}
        await self.ctx.kube.patch_status(DPU_NODE_MAINTENANCE, meta["name"], patch,
                                         meta["namespace"])
        if released:
            log.info("hold released dpunode=%s ns=%s", hold["spec"].get("dpuNodeName"),
                     meta["namespace"])
