"""The DPUNode controller: finalizer, deletion cascade, the external reboot, node status."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence

from carbide_dpf.kube.client import KubeObject
from carbide_dpf.sim.base import Controller, bounded_gather
from carbide_dpf.sim.conditions import same, set_condition
from carbide_dpf.sim.dpu import phase_of
from carbide_dpf.sim.objects import (
    DPU,
    DPU_DEVICE,
    DPU_NODE,
    DPUNODE_FINALIZER,
    conditions_of,
    has_finalizer,
    is_deleting,
)
from carbide_dpf.sim.reboot import reconcile_reboot

__all__ = ["NodeController"]

log = logging.getLogger(__name__)


class NodeController(Controller):
    """Protects DPUNodes with a finalizer, cascades their deletion, drives their reboots."""

    name = "dpunode"

    async def reconcile(self, key: str) -> float | None:
        """Reconcile the DPUNode at `key`."""
        node = self.ctx.nodes.get(key)
        if node is None:
            return None
        if is_deleting(node):
            await self._cascade(key, node)
            return None
        if not has_finalizer(node, DPUNODE_FINALIZER):
            await self.add_finalizer(DPU_NODE, node, DPUNODE_FINALIZER)
            return None

        dpus = self.ctx.dpus.by_index("node", key)
        if await reconcile_reboot(self.ctx, node, dpus):
            return None
        await self._write_status(node, dpus)
        return None

    async def _cascade(self, key: str, node: KubeObject) -> None:
        # Deleting a DPUNode deletes its DPUDevices and DPUs (the DPUSet no longer selects a
        # node being deleted, so nothing is recreated); the finalizer goes once the DPUs have.
        namespace = node["metadata"]["namespace"]
        listed = {d.get("name") for d in node.get("spec", {}).get("dpus") or []}
        devices = {f"{namespace}/{name}" for name in listed if name}
        devices |= {f"{namespace}/{d['metadata']['name']}"
                    for d in self.ctx.devices.by_index("node", key)}
        doomed = [d for k in devices if (d := self.ctx.devices.get(k)) and not is_deleting(d)]
        await bounded_gather(functools.partial(self.delete_quietly, DPU_DEVICE, d) for d in doomed)

        dpus = self.ctx.dpus.by_index("node", key)
        await bounded_gather(
            functools.partial(self.delete_quietly, DPU, d) for d in dpus if not is_deleting(d)
        )
        if not dpus:
            await self.remove_finalizer(DPU_NODE, node, DPUNODE_FINALIZER)

    async def _write_status(self, node: KubeObject, dpus: Sequence[KubeObject]) -> None:
        live = [d for d in dpus if not is_deleting(d)]
        ready = bool(live) and all(phase_of(d) == "Ready" for d in live)
        old = conditions_of(node)
        if ready:
            new = set_condition(old, "Ready", True, "DPUsReady", "every DPU of the node is Ready")
        else:
            new = set_condition(old, "Ready", False, "DPUsNotReady",
                                "some DPUs of the node are not Ready")
        if same(old, new):
            return

        meta = node["metadata"]
        patch = {"metadata": {"resourceVersion": meta["resourceVersion"]},
                 "status": {"conditions": new}}
        await self.ctx.kube.patch_status(DPU_NODE, meta["name"], patch, meta["namespace"])
        log.info("dpunode ready=%s dpunode=%s ns=%s", ready, meta["name"], meta["namespace"])
