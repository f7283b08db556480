"""The DPUDeployment controller: one DPUSet per `spec.dpus.dpuSets[]` entry, and status.

The DPUSet is named `<deployment>-<nameSuffix>`, labelled
`svc.dpu.nvidia.com/owned-by-dpudeployment=<namespace>_<deployment>`, owned by the deployment,
and carries its BFB, flavor, node effect and node selector; a change of any of them on the
deployment is applied to the DPUSet, whose rolling update does the rest. DPU services are not
simulated: `DPUServicesReady` is reported True.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from carbide_dpf.kube.client import KubeObject
from carbide_dpf.sim.base import Controller, bounded_gather
from carbide_dpf.sim.conditions import same, set_condition
from carbide_dpf.sim.dpu import phase_of
from carbide_dpf.sim.objects import (
    DEPLOYMENT_FINALIZER,
    DPU_DEPLOYMENT,
    DPU_SET,
    OWNED_BY_DEPLOYMENT_LABEL,
    conditions_of,
    has_finalizer,
    is_deleting,
    key_of,
    owner_reference,
)

__all__ = ["FIELD_MANAGER", "DeploymentController", "owner_label_value"]

log = logging.getLogger(__name__)

FIELD_MANAGER = "dpf-operator-sim"
"""The server-side apply field manager of the DPUSets the simulator writes."""


def owner_label_value(namespace: str, name: str) -> str:
    """Return the owned-by-dpudeployment label value: `<namespace>_<deployment>`."""
    return f"{namespace}_{name}"


def _contains(have: Any, want: Any) -> bool:
    # Whether `have` (from the server, with defaults filled in) already holds all of `want`.
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(
            k in have and _contains(have[k], v) for k, v in want.items()
        )
    return bool(have == want)


class DeploymentController(Controller):
    """Turns each DPUDeployment into its DPUSets and reports the deployment's conditions."""

    name = "dpudeployment"

    async def reconcile(self, key: str) -> float | None:
        """Reconcile the DPUDeployment at `key`."""
        deployment = self.ctx.deployments.get(key)
        if deployment is None:
            return None
        meta = deployment["metadata"]
        owned = self.ctx.dpusets.by_index(
            "deployment", owner_label_value(meta["namespace"], meta["name"])
        )
        if is_deleting(deployment):
            await self._cascade(deployment, owned)
            return None
        if not has_finalizer(deployment, DEPLOYMENT_FINALIZER):
            await self.add_finalizer(DPU_DEPLOYMENT, deployment, DEPLOYMENT_FINALIZER)
            return None

        desired = self._desired(deployment)
        for body in desired.values():
            existing = self.ctx.dpusets.get(key_of(body))
            if existing is None or not _contains(existing, body):
                await self.ctx.kube.apply(DPU_SET, body, field_manager=FIELD_MANAGER)
                log.info("dpuset applied dpuset=%s ns=%s", body["metadata"]["name"],
                         meta["namespace"])
        unwanted = [s for s in owned if s["metadata"]["name"] not in desired and not is_deleting(s)]
        await bounded_gather(functools.partial(self.delete_quietly, DPU_SET, s) for s in unwanted)
        await self._write_status(deployment, owned)
        return None

    def _desired(self, deployment: KubeObject) -> dict[str, dict[str, Any]]:
        meta = deployment["metadata"]
        dpus = (deployment.get("spec") or {}).get("dpus") or {}
        template_spec: dict[str, Any] = {
            "bfb": {"name": dpus.get("bfb", "")},
            "dpuFlavor": dpus.get("flavor", ""),
        }
        if dpus.get("nodeEffect"):
            template_spec["nodeEffect"] = dpus["nodeEffect"]

        owner = owner_label_value(meta["namespace"], meta["name"])
        result: dict[str, dict[str, Any]] = {}
        for entry in dpus.get("dpuSets") or []:
            name = f"{meta['name']}-{entry['nameSuffix']}"
            template: dict[str, Any] = {"spec": template_spec}
            if entry.get("dpuAnnotations"):
                template["annotations"] = entry["dpuAnnotations"]
            spec: dict[str, Any] = {
                "strategy": {"type": "RollingUpdate"},
                "dpuTemplate": template,
            }
            if entry.get("nodeSelector"):
                spec["dpuNodeSelector"] = entry["nodeSelector"]
            if entry.get("dpuSelector"):
                spec["dpuSelector"] = entry["dpuSelector"]
            result[name] = {
                "apiVersion": DPU_SET.api_version,
                "kind": DPU_SET.kind,
                "metadata": {
                    "name": name,
                    "namespace": meta["namespace"],
                    "labels": {OWNED_BY_DEPLOYMENT_LABEL: owner},
                    "ownerReferences": [owner_reference(DPU_DEPLOYMENT, deployment)],
                },
                "spec": spec,
            }
        return result

    async def _cascade(self, deployment: KubeObject, owned: list[KubeObject]) -> None:
        # No garbage collector may be running (a bare API server), so the owner deletes.
        await bounded_gather(
            functools.partial(self.delete_quietly, DPU_SET, s)
            for s in owned
            if not is_deleting(s)
        )
        if not owned:
            await self.remove_finalizer(DPU_DEPLOYMENT, deployment, DEPLOYMENT_FINALIZER)

    def _prerequisites(self, deployment: KubeObject) -> str | None:
        namespace = deployment["metadata"]["namespace"]
        dpus = (deployment.get("spec") or {}).get("dpus") or {}
        bfb = self.ctx.bfbs.get(f"{namespace}/{dpus.get('bfb', '')}")
        if bfb is None or (bfb.get("status") or {}).get("phase") != "Ready":
            return "BFB is not ready yet"
        if self.ctx.flavors.get(f"{namespace}/{dpus.get('flavor', '')}") is None:
            return f"DPUFlavor {dpus.get('flavor', '')} not found"
        return None

    async def _write_status(self, deployment: KubeObject, owned: list[KubeObject]) -> None:
        problem = self._prerequisites(deployment)
        dpus = [d for s in owned for d in self.ctx.dpus.by_index("dpuset", key_of(s))]
        sets_ready = bool(dpus) and all(phase_of(d) == "Ready" for d in dpus)
        generation = deployment["metadata"].get("generation")

        old = conditions_of(deployment)
        new = set_condition(old, "PrerequisitesReady", problem is None,
                            "Success" if problem is None else "PrerequisitesNotReady",
                            problem or "", generation=generation)
        new = set_condition(new, "DPUSetsReady", sets_ready,
                            "Success" if sets_ready else "DPUsNotReady",
                            "" if sets_ready else "not every DPU of the DPUSets is Ready",
                            generation=generation)
        new = set_condition(new, "DPUServicesReady", True, "Success",
                            "DPU services are not simulated", generation=generation)
        ready = problem is None and sets_ready
        new = set_condition(new, "Ready", ready, "Success" if ready else "Pending",
                            generation=generation)
        status = deployment.get("status") or {}
        if same(old, new) and status.get("observedGeneration") == generation:
            return

        meta = deployment["metadata"]
        patch = {"metadata": {"resourceVersion": meta["resourceVersion"]},
                 "status": {"conditions": new, "observedGeneration": generation}}
        await self.ctx.kube.patch_status(DPU_DEPLOYMENT, meta["name"], patch, meta["namespace"])
        log.info("dpudeployment status dpudeployment=%s ns=%s ready=%s", meta["name"],
                 meta["namespace"], ready)
