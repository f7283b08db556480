"""Helpers of the SDK tests: list a namespace, and play the operator's side by writing the
objects the operator would write."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from carbide_dpf.kube.client import KubeClient, KubeObject
from carbide_dpf.kube.resource import SECRET
from carbide_dpf.models.phase import DpuPhase
from carbide_dpf.models.registry import ALL_KINDS, DPU, DPU_NODE_MAINTENANCE
from carbide_dpf.sdk.labels import DPUDEVICE_NAME_LABEL, DPUNODE_NAME_LABEL

BFB_URL = "https://bfb.example.com/images/bf-bundle-2.9.1.bfb"
PASSWORD = "S3cret-BMC-pa55word!"


async def everything(kube: KubeClient, namespace: str) -> dict[str, list[str]]:
    """Names of every DPF object and Secret in `namespace`, by kind (empty kinds left out).

    Cluster-scoped kinds are left out: the SDK writes none, and other tests' objects of those
    kinds would show up here.
    """
    found: dict[str, list[str]] = {}
    for kind in (*(k for k in ALL_KINDS if k.namespaced), SECRET):
        items = (await kube.list(kind, namespace)).items
        if items:
            found[kind.kind] = sorted(item["metadata"]["name"] for item in items)
    return found


async def make_dpu(kube: KubeClient, namespace: str, node: str, device: str, *,
                   device_labels: Mapping[str, str] | None = None, bfb: str = "bfb",
                   flavor: str = "flavor", phase: str | None = DpuPhase.INITIALIZING,
                   finalizers: list[str] | None = None) -> KubeObject:
    """Create the DPU the operator would create for (node, device), labels copied."""
    labels = {**(device_labels or {}), DPUNODE_NAME_LABEL: node, DPUDEVICE_NAME_LABEL: device}
    metadata: dict[str, Any] = {"name": f"{node}-{device}", "labels": labels}
    if finalizers:
        metadata["finalizers"] = finalizers
    dpu = await kube.create(DPU, {
        "metadata": metadata,
        "spec": {"dpuNodeName": node, "dpuDeviceName": device, "bfb": bfb,
                 "dpuFlavor": flavor, "serialNumber": "SN1"},
    }, namespace)
    if phase is not None:
        dpu = await kube.patch_status(DPU, dpu["metadata"]["name"],
                                      {"status": {"phase": str(phase)}}, namespace)
    return dpu


async def make_hold(kube: KubeClient, namespace: str, node: str) -> KubeObject:
    """Create the DPUNodeMaintenance `<node>-hold` the operator creates in Node Effect."""
    return await kube.create(DPU_NODE_MAINTENANCE, {
        "metadata": {
            "name": f"{node}-hold",
            "labels": {DPUNODE_NAME_LABEL: node},
            "annotations": {
                "provisioning.dpu.nvidia.com/wait-for-external-nodeeffect": "true"},
        },
        "spec": {"dpuNodeName": node, "nodeEffect": {"hold": True}, "requestor": []},
    }, namespace)
