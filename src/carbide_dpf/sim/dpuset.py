"""The DPUSet controller: one DPU per selected DPUNode and attached DPUDevice, rolling updates.

For every DPUNode matching `dpuNodeSelector` (and not being deleted) and every DPUDevice
labelled with that node (and matching `dpuSelector`), the set wants a DPU named
`<node>-<device>`. Missing DPUs are created at once, which is also how a deleted DPU comes back
with the same name and a new uid. DPUs no longer wanted are deleted. With the RollingUpdate
strategy, DPUs whose BFB or flavor differs from the template are deleted (and so recreated):
those not Ready at once, Ready ones while no more than `maxUnavailable` DPUs are unavailable.
"""

from __future__ import annotations

import functools
import logging
import math
from collections import Counter
from collections.abc import Mapping
from typing import Any

from carbide_dpf.kube.client import KubeObject
from carbide_dpf.kube.errors import AlreadyExistsError
from carbide_dpf.sim.base import Controller, bounded_gather
from carbide_dpf.sim.dpu import phase_of
from carbide_dpf.sim.objects import (
    DPU,
    DPU_FINALIZER,
    DPU_SET,
    DPUDEVICE_LABEL,
    DPUNODE_LABEL,
    DPUSET_FINALIZER,
    DPUSET_LABEL,
    DPUSET_NAMESPACE_LABEL,
    has_finalizer,
    is_deleting,
    labels,
    matches_selector,
    owner_reference,
)

__all__ = ["DpuSetController", "max_unavailable"]

log = logging.getLogger(__name__)

_READY = "Ready"


def max_unavailable(dpuset: Mapping[str, Any], desired: int) -> int:
    """Return the rolling update's budget: `maxUnavailable` (a count or "N%"), default 1."""
    rolling = ((dpuset.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    value = rolling.get("maxUnavailable", 1)
    if isinstance(value, str) and value.endswith("%"):
        return max(1, math.floor(desired * float(value[:-1]) / 100))
    return max(1, int(value))


def _device_selected(selector: Mapping[str, Any] | None, device: KubeObject) -> bool:
    # DPUSet.spec.dpuSelector is a plain label map; accept a LabelSelector shape too.
    if selector and ("matchLabels" in selector or "matchExpressions" in selector):
        return matches_selector(selector, labels(device))
    return matches_selector({"matchLabels": dict(selector or {})}, labels(device))


class DpuSetController(Controller):
    """Creates, deletes and rolls the DPUs of each DPUSet, and counts them by phase."""

    name = "dpuset"

    async def reconcile(self, key: str) -> float | None:
        """Reconcile the DPUSet at `key`."""
        dpuset = self.ctx.dpusets.get(key)
        if dpuset is None:
            return None
        owned = {d["metadata"]["name"]: d for d in self.ctx.dpus.by_index("dpuset", key)}
        if is_deleting(dpuset):
            await self._cascade(dpuset, owned)
            return None
        if not has_finalizer(dpuset, DPUSET_FINALIZER):
            await self.add_finalizer(DPU_SET, dpuset, DPUSET_FINALIZER)
            return None

        desired = self._desired(dpuset)
        await self._create_missing(dpuset, desired, owned)
        await self._delete_unwanted(desired, owned)
        await self._roll(dpuset, desired, owned)
        await self._write_status(dpuset, owned)
        return None

    def _desired(self, dpuset: KubeObject) -> dict[str, tuple[str, KubeObject]]:
        namespace = dpuset["metadata"]["namespace"]
        spec = dpuset.get("spec") or {}
        result: dict[str, tuple[str, KubeObject]] = {}
        for node in self.ctx.nodes.list():
            meta = node["metadata"]
            if meta["namespace"] != namespace or is_deleting(node):
                continue
            if not matches_selector(spec.get("dpuNodeSelector"), labels(node)):
                continue
            for device in self.ctx.devices.by_index("node", f"{namespace}/{meta['name']}"):
                if is_deleting(device) or not _device_selected(spec.get("dpuSelector"), device):
                    continue
                result[f"{meta['name']}-{device['metadata']['name']}"] = (meta["name"], device)
        return result

    async def _create_missing(
        self,
        dpuset: KubeObject,
        desired: Mapping[str, tuple[str, KubeObject]],
        owned: Mapping[str, KubeObject],
    ) -> None:
        namespace = dpuset["metadata"]["namespace"]
        missing = [
            (name, node, device)
            for name, (node, device) in desired.items()
            if name not in owned and self.ctx.dpus.get(f"{namespace}/{name}") is None
        ]
        await bounded_gather(functools.partial(self._create, dpuset, *m) for m in missing)

    async def _create(self, dpuset: KubeObject, name: str, node: str, device: KubeObject) -> None:
        namespace = dpuset["metadata"]["namespace"]
        try:
            await self.ctx.kube.create(DPU, self._dpu_body(dpuset, name, node, device), namespace)
        except AlreadyExistsError:
            return  # created by an earlier pass whose event has not reached us yet
        log.info("dpu created dpu=%s ns=%s dpuset=%s", name, namespace,
                 dpuset["metadata"]["name"])

    def _dpu_body(
        self, dpuset: KubeObject, name: str, node: str, device: KubeObject
    ) -> dict[str, Any]:
        meta = dpuset["metadata"]
        template = (dpuset.get("spec") or {}).get("dpuTemplate") or {}
        tspec = template.get("spec") or {}
        config = self.ctx.config

        dpu_labels = {
            DPUSET_LABEL: meta["name"],
            DPUSET_NAMESPACE_LABEL: meta["namespace"],
            DPUDEVICE_LABEL: device["metadata"]["name"],
            DPUNODE_LABEL: node,
        }
        dpu_labels |= labels(dpuset)
        dpu_labels |= labels(device)  # device labels win: how client data reaches the DPU

        spec: dict[str, Any] = {
            "dpuNodeName": node,
            "dpuDeviceName": device["metadata"]["name"],
            "bfb": (tspec.get("bfb") or {}).get("name", ""),
            "dpuFlavor": tspec.get("dpuFlavor", ""),
            "serialNumber": (device.get("spec") or {}).get("serialNumber", ""),
            "cluster": {
                "name": config.dpu_cluster_name,
                "namespace": config.dpu_cluster_namespace,
                "nodeLabels": dict((tspec.get("cluster") or {}).get("nodeLabels") or {}),
            },
        }
        if tspec.get("nodeEffect"):
            spec["nodeEffect"] = tspec["nodeEffect"]

        metadata: dict[str, Any] = {
            "name": name,
            "namespace": meta["namespace"],
            "labels": dpu_labels,
            "ownerReferences": [owner_reference(DPU_SET, dpuset)],
            "finalizers": [DPU_FINALIZER],
        }
        if template.get("annotations"):
            metadata["annotations"] = dict(template["annotations"])
        return {"apiVersion": DPU.api_version, "kind": DPU.kind, "metadata": metadata,
                "spec": spec}

    async def _delete_unwanted(
        self, desired: Mapping[str, tuple[str, KubeObject]], owned: Mapping[str, KubeObject]
    ) -> None:
        unwanted = [d for n, d in owned.items() if n not in desired and not is_deleting(d)]
        await bounded_gather(functools.partial(self.delete_quietly, DPU, d) for d in unwanted)

    async def _roll(
        self,
        dpuset: KubeObject,
        desired: Mapping[str, tuple[str, KubeObject]],
        owned: Mapping[str, KubeObject],
    ) -> None:
        spec = dpuset.get("spec") or {}
        if (spec.get("strategy") or {}).get("type") != "RollingUpdate":
            return
        tspec = (spec.get("dpuTemplate") or {}).get("spec") or {}
        want = ((tspec.get("bfb") or {}).get("name", ""), tspec.get("dpuFlavor", ""))

        current = [owned[n] for n in desired if n in owned and not is_deleting(owned[n])]
        outdated = [
            d for d in current if (d["spec"].get("bfb"), d["spec"].get("dpuFlavor")) != want
        ]
        if not outdated:
            return

        ready = [d for d in outdated if phase_of(d) == _READY]
        at_once = [d for d in outdated if phase_of(d) != _READY]
        unavailable = len(desired) - sum(1 for d in current if phase_of(d) == _READY)
        budget = max(0, max_unavailable(dpuset, len(desired)) - unavailable)
        doomed = at_once + ready[:budget]
        if doomed:
            log.info("rolling dpus dpuset=%s ns=%s count=%d waiting=%d",
                     dpuset["metadata"]["name"], dpuset["metadata"]["namespace"], len(doomed),
                     len(ready) - min(budget, len(ready)))
        await bounded_gather(functools.partial(self.delete_quietly, DPU, d) for d in doomed)

    async def _cascade(self, dpuset: KubeObject, owned: Mapping[str, KubeObject]) -> None:
        await bounded_gather(
            functools.partial(self.delete_quietly, DPU, d)
            for d in owned.values()
            if not is_deleting(d)
        )
        if not owned:
            await self.remove_finalizer(DPU_SET, dpuset, DPUSET_FINALIZER)

    async def _write_status(self, dpuset: KubeObject, owned: Mapping[str, KubeObject]) -> None:
        statistics = dict(Counter(phase_of(d) for d in owned.values() if phase_of(d)))
        status = dpuset.get("status") or {}
        generation = dpuset["metadata"].get("generation")
        if status.get("dpuStatistics", {}) == statistics and (
            status.get("observedGeneration") == generation
        ):
            return

        meta = dpuset["metadata"]
        patch = {"status": {"dpuStatistics": statistics or None, "observedGeneration": generation}}
        if status.get("dpuStatistics"):
            # A merge patch merges maps: phases that emptied must be removed explicitly.
            gone = {p: None for p in status["dpuStatistics"] if p not in statistics}
            patch["status"]["dpuStatistics"] = {**gone, **statistics}
        await self.ctx.kube.patch_status(DPU_SET, meta["name"], patch, meta["namespace"])
