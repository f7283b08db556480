"""The DPUDevice controller: link each device to the DPUNode that lists it, report status."""

from __future__ import annotations

import logging
from typing import Any

from carbide_dpf.kube.client import KubeObject
from carbide_dpf.sim.base import Controller
from carbide_dpf.sim.conditions import same, set_condition
from carbide_dpf.sim.objects import DPU_DEVICE, DPUNODE_LABEL, conditions_of, is_deleting, labels

__all__ = ["DeviceController"]

log = logging.getLogger(__name__)


class DeviceController(Controller):
    """Labels each DPUDevice `provisioning.dpu.nvidia.com/dpunode-name=<node>` and reports it."""

    name = "dpudevice"

    async def reconcile(self, key: str) -> float | None:
        """Reconcile the DPUDevice at `key`: first the node link, then the status."""
        device = self.ctx.devices.get(key)
        if device is None or is_deleting(device):
            return None

        node = self._listing_node(key)
        if labels(device).get(DPUNODE_LABEL) != node:
            await self._link(device, node)
            return None
        await self._write_status(device, node)
        return None

    def _listing_node(self, key: str) -> str | None:
        # A device listed by two nodes is a client error; the first name wins, deterministically.
        names = sorted(
            n["metadata"]["name"]
            for n in self.ctx.nodes.by_index("device", key)
            if not is_deleting(n)
        )
        return names[0] if names else None

    async def _link(self, device: KubeObject, node: str | None) -> None:
        meta = device["metadata"]
        patch = {
            "metadata": {
                "resourceVersion": meta["resourceVersion"],
                "labels": {DPUNODE_LABEL: node},
            }
        }
        await self.ctx.kube.merge_patch(DPU_DEVICE, meta["name"], patch, meta["namespace"])
        log.info("dpudevice linked dpudevice=%s ns=%s dpunode=%s", meta["name"],
                 meta["namespace"], node)

    async def _write_status(self, device: KubeObject, node: str | None) -> None:
        old = conditions_of(device)
        new = old
        for kind in ("Initialized", "Discovered"):
            new = set_condition(new, kind, True, "Success")
        attached = node is not None
        new = set_condition(new, "NodeAttached", attached,
                            "Success" if attached else "NodeNotFound",
                            "" if attached else "no DPUNode lists this device in spec.dpus")
        new = set_condition(new, "Ready", attached, "Success" if attached else "NodeNotFound")
        if same(old, new):
            return

        meta, spec = device["metadata"], device.get("spec") or {}
        status: dict[str, Any] = {"conditions": new}
        for field in ("serialNumber", "bmcIp", "bmcPort", "opn", "psid", "pf0Name"):
            if field in spec:
                status[field] = spec[field]
        patch = {"metadata": {"resourceVersion": meta["resourceVersion"]}, "status": status}
        await self.ctx.kube.patch_status(DPU_DEVICE, meta["name"], patch, meta["namespace"])
