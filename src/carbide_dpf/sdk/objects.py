"""Builders of the desired objects the SDK applies: pure functions of the config and input."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from carbide_dpf.models.registry import (
    BFB,
    DPU_DEPLOYMENT,
    DPU_DEVICE,
    DPU_FLAVOR,
    DPU_NODE,
)
from carbide_dpf.sdk.config import SdkConfig
from carbide_dpf.sdk.labels import OWNED_LABELS_ANNOTATION
from carbide_dpf.sdk.services import ServiceSet, deployment_chains, deployment_services

__all__ = [
    "bfb_object",
    "deployment_object",
    "device_object",
    "flavor_object",
    "node_object",
]


def _metadata(name: str, namespace: str, labels: Mapping[str, str] | None = None
              ) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace}
    if labels:
        metadata["labels"] = dict(labels)
        metadata["annotations"] = {OWNED_LABELS_ANNOTATION: ",".join(sorted(labels))}
    return metadata


def bfb_object(name: str, url: str, namespace: str) -> dict[str, Any]:
    """Build a BFB for `url` (its spec is immutable: a new URL means a new name)."""
    return {"apiVersion": BFB.api_version, "kind": BFB.kind,
            "metadata": _metadata(name, namespace), "spec": {"url": url}}


def flavor_object(name: str, spec: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """Build a DPUFlavor."""
    return {"apiVersion": DPU_FLAVOR.api_version, "kind": DPU_FLAVOR.kind,
            "metadata": _metadata(name, namespace), "spec": dict(spec)}


def deployment_object(config: SdkConfig, *, bfb: str, flavor: str,
                      services: ServiceSet) -> dict[str, Any]:
    """Build the DPUDeployment: one DPUSet selecting the nodes that carry the managed label,
    the node effect (a hold by default), the services and their chains."""
    dpu_set = {
        "nameSuffix": config.dpu_set_suffix,
        "nodeSelector": {"matchLabels": {config.managed_label_key: config.managed_label_value}},
    }
    spec: dict[str, Any] = {
        "dpus": {"bfb": bfb, "flavor": flavor, "nodeEffect": dict(config.node_effect),
                 "dpuSets": [dpu_set]},
        "services": deployment_services(services),
    }
    chains = deployment_chains(services)
    if chains is not None:
        spec["serviceChains"] = chains
    return {"apiVersion": DPU_DEPLOYMENT.api_version, "kind": DPU_DEPLOYMENT.kind,
            "metadata": _metadata(config.deployment_name, config.namespace), "spec": spec}


def device_object(name: str, namespace: str, *, bmc_ip: str, serial_number: str,
                  bmc_port: int | None, labels: Mapping[str, str]) -> dict[str, Any]:
    """Build a DPUDevice (manual discovery)."""
    spec: dict[str, Any] = {"bmcIp": bmc_ip, "serialNumber": serial_number}
    if bmc_port is not None:
        spec["bmcPort"] = bmc_port
    return {"apiVersion": DPU_DEVICE.api_version, "kind": DPU_DEVICE.kind,
            "metadata": _metadata(name, namespace, labels), "spec": spec}


def node_object(name: str, namespace: str, *, device_names: Sequence[str],
                labels: Mapping[str, str]) -> dict[str, Any]:
    """Build a DPUNode listing its devices, rebooted externally (by the caller)."""
    spec = {"nodeRebootMethod": {"external": {}},
            "dpus": [{"name": device} for device in device_names]}
    return {"apiVersion": DPU_NODE.api_version, "kind": DPU_NODE.kind,
            "metadata": _metadata(name, namespace, labels), "spec": spec}
