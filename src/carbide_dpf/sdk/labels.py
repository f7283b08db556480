"""Labels: the keys the SDK and the operator use, the host BMC address label, and the hooks
with which a caller adds its own labels to DPUDevices and DPUNodes.

The operator copies every label of a DPUDevice onto the DPU it creates for it (and never fills
`DPU.spec.bmcIP`), so client data that a DPU event handler needs, the host BMC address first of
all, travels as a DPUDevice label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from carbide_dpf.iplabels import (
    HOST_BMC_IP_LABEL,
    decode_ip_label,
    encode_ip_label,
    host_bmc_ip_from_labels,
)

__all__ = [
    "DPUDEVICE_NAME_LABEL",
    "DPUNODE_NAME_LABEL",
    "DPUSET_NAME_LABEL",
    "OWNED_BY_DEPLOYMENT_LABEL",
    "OWNED_LABELS_ANNOTATION",
    "DeviceInfo",
    "DeviceLabeler",
    "NodeInfo",
    "NodeLabeler",
    "decode_ip_label",
    "encode_ip_label",
    "host_bmc_ip_from_dpu",
    "host_bmc_ip_from_labels",
    "owned_label_keys",
]

# Labels the operator sets (DPF-OPERATOR.md, "Who creates what").
DPUNODE_NAME_LABEL = "provisioning.dpu.nvidia.com/dpunode-name"
DPUDEVICE_NAME_LABEL = "provisioning.dpu.nvidia.com/dpudevice-name"
DPUSET_NAME_LABEL = "provisioning.dpu.nvidia.com/dpuset-name"
OWNED_BY_DEPLOYMENT_LABEL = "svc.dpu.nvidia.com/owned-by-dpudeployment"

# Annotation on each object the SDK labels, listing the label keys it set: a force delete
# removes exactly these, whatever a labeler hook added, and nothing the operator or a person
# put there.
OWNED_LABELS_ANNOTATION = "carbide.nvidia.com/owned-labels"


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What a device labeler hook is told about the DPUDevice being registered."""

    name: str
    bmc_ip: str
    serial_number: str
    host_bmc_ip: str | None


@dataclass(frozen=True, slots=True)
class NodeInfo:
    """What a node labeler hook is told about the DPUNode being registered."""

    name: str
    device_names: tuple[str, ...]


DeviceLabeler = Callable[[DeviceInfo], Mapping[str, str]]
"""Returns extra labels for a DPUDevice; they reach its DPU too."""

NodeLabeler = Callable[[NodeInfo], Mapping[str, str]]
"""Returns extra labels for a DPUNode."""


def host_bmc_ip_from_dpu(dpu: Mapping[str, Any], key: str = HOST_BMC_IP_LABEL) -> str | None:
    """Return the host BMC address the operator copied onto a DPU from its DPUDevice."""
    labels = (dpu.get("metadata") or {}).get("labels") or {}
    return host_bmc_ip_from_labels(labels, key)


def owned_label_keys(obj: Mapping[str, Any], always: Iterable[str] = ()) -> list[str]:
    """Return the label keys of `obj` that the SDK set: those its annotation lists, plus
    `always` (keys that are ours wherever they appear), restricted to those present."""
    metadata = obj.get("metadata") or {}
    labels = metadata.get("labels") or {}
    listed = (metadata.get("annotations") or {}).get(OWNED_LABELS_ANNOTATION, "")
    keys = {key for key in listed.split(",") if key} | set(always)
    return sorted(key for key in keys if key in labels)
