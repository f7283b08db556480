"""The operator's names (labels, annotations, finalizers), the kinds, and raw-object helpers.

Names are exact copies of DPF v25.10.1's (see DPF-OPERATOR.md); they are spelled out here
rather than imported from the SDK because `sim/` may import only `kube/` and `models/`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from carbide_dpf.kube.client import KubeObject
from carbide_dpf.kube.resource import ResourceKind
from carbide_dpf.models import registry

__all__ = [
    "BFB",
    "BFB_FINALIZER",
    "DEPLOYMENT_FINALIZER",
    "DPU",
    "DPUDEVICE_LABEL",
    "DPUNODE_FINALIZER",
    "DPUNODE_LABEL",
    "DPUSET_FINALIZER",
    "DPUSET_LABEL",
    "DPUSET_NAMESPACE_LABEL",
    "DPU_DEPLOYMENT",
    "DPU_DEVICE",
    "DPU_FINALIZER",
    "DPU_FLAVOR",
    "DPU_NODE",
    "DPU_NODE_MAINTENANCE",
    "DPU_SET",
    "EXTERNAL_REBOOT_ANNOTATION",
    "OWNED_BY_DEPLOYMENT_LABEL",
    "WAIT_NODE_EFFECT_ANNOTATION",
    "annotations_of",
    "conditions_of",
    "has_finalizer",
    "is_deleting",
    "key_of",
    "labels",
    "matches_selector",
    "owner_reference",
    "split_key",
]

BFB = registry.BFB
DPU = registry.DPU
DPU_DEPLOYMENT = registry.DPU_DEPLOYMENT
DPU_DEVICE = registry.DPU_DEVICE
DPU_FLAVOR = registry.DPU_FLAVOR
DPU_NODE = registry.DPU_NODE
DPU_NODE_MAINTENANCE = registry.DPU_NODE_MAINTENANCE
DPU_SET = registry.DPU_SET

_PROVISIONING = "provisioning.dpu.nvidia.com"
DPUNODE_LABEL = f"{_PROVISIONING}/dpunode-name"
DPUDEVICE_LABEL = f"{_PROVISIONING}/dpudevice-name"
DPUSET_LABEL = f"{_PROVISIONING}/dpuset-name"
DPUSET_NAMESPACE_LABEL = f"{_PROVISIONING}/dpuset-namespace"
OWNED_BY_DEPLOYMENT_LABEL = "svc.dpu.nvidia.com/owned-by-dpudeployment"

WAIT_NODE_EFFECT_ANNOTATION = f"{_PROVISIONING}/wait-for-external-nodeeffect"
EXTERNAL_REBOOT_ANNOTATION = f"{_PROVISIONING}/dpunode-external-reboot-required"

DPU_FINALIZER = f"{_PROVISIONING}/dpu-protection"
DPUNODE_FINALIZER = f"{_PROVISIONING}/dpunode-protection"
DPUSET_FINALIZER = f"{_PROVISIONING}/dpuset-protection"
BFB_FINALIZER = f"{_PROVISIONING}/bfb-protection"
DEPLOYMENT_FINALIZER = "dpu.nvidia.com/dpudeployment"


def key_of(obj: Mapping[str, Any]) -> str:
    """Return the store key of an object: `namespace/name`."""
    meta = obj["metadata"]
    return f"{meta.get('namespace', '')}/{meta['name']}"


def split_key(key: str) -> tuple[str, str]:
    """Split a store key into (namespace, name)."""
    namespace, _, name = key.rpartition("/")
    return namespace, name


def labels(obj: Mapping[str, Any]) -> dict[str, str]:
    """Return the object's labels (empty if none)."""
    return dict(obj.get("metadata", {}).get("labels") or {})


def annotations_of(obj: Mapping[str, Any]) -> dict[str, str]:
    """Return the object's annotations (empty if none)."""
    return dict(obj.get("metadata", {}).get("annotations") or {})


def conditions_of(obj: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Return the object's status conditions (empty if none)."""
    return list((obj.get("status") or {}).get("conditions") or [])


def is_deleting(obj: Mapping[str, Any]) -> bool:
    """Return whether the object carries a deletionTimestamp."""
    return bool(obj.get("metadata", {}).get("deletionTimestamp"))


def has_finalizer(obj: Mapping[str, Any], finalizer: str) -> bool:
    """Return whether `finalizer` is among the object's finalizers."""
    return finalizer in (obj.get("metadata", {}).get("finalizers") or ())


def owner_reference(kind: ResourceKind, owner: KubeObject) -> dict[str, Any]:
    """Return a controller ownerReference to `owner`, as the operator writes it."""
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def matches_selector(selector: Mapping[str, Any] | None, object_labels: Mapping[str, str]) -> bool:
    """Return whether labels match a LabelSelector (matchLabels and matchExpressions).

    An absent selector matches everything, as the DPUSet's `dpuNodeSelector` does.
    """
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if object_labels.get(key) != value:
            return False
    return all(_expression_holds(e, object_labels) for e in selector.get("matchExpressions") or ())


def _expression_holds(expression: Mapping[str, Any], object_labels: Mapping[str, str]) -> bool:
    key, operator = expression["key"], expression["operator"]
    values = expression.get("values") or ()
    if operator == "In":
        return object_labels.get(key) in values
    if operator == "NotIn":
        return object_labels.get(key) not in values
    if operator == "Exists":
        return key in object_labels
    if operator == "DoesNotExist":
        return key not in object_labels
    return False
