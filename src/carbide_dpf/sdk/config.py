"""`SdkConfig`: the names, labels, flavor and services the SDK's operations use."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from carbide_dpf.errors import FieldProblem
from carbide_dpf.iplabels import HOST_BMC_IP_LABEL
from carbide_dpf.sdk import defaults
from carbide_dpf.sdk.labels import DeviceLabeler, NodeLabeler
from carbide_dpf.sdk.services import RegistryOverrides, ServiceSet
from carbide_dpf.sdk.validation import (
    check_dns_label,
    check_label_key,
    check_label_value,
    raise_if_any,
)

__all__ = ["DEFAULT_NAMESPACE", "SdkConfig"]

DEFAULT_NAMESPACE = "dpf-operator-system"
_NAME_SUFFIX_MAX = 24


@dataclass(frozen=True, slots=True, kw_only=True)
class SdkConfig:
    """What the operations need besides the kube client. Every field has a working default.

    The configuration is checked when it is made: a bad label key or name raises
    `ValidationError` here rather than halfway through a flow.
    """

    namespace: str = DEFAULT_NAMESPACE
    deployment_name: str = "carbide-dpf"
    dpu_set_suffix: str = "carbide"
    """`nameSuffix` of the deployment's one DPUSet (the DPUSet is `<deployment>-<suffix>`)."""
    flavor_base_name: str = defaults.DEFAULT_FLAVOR_NAME
    """The DPUFlavor is named `<base>-<hash of its spec>`: its spec is immutable."""
    flavor_spec: Mapping[str, Any] | None = None
    """None means `defaults.default_flavor_spec(dpu_mode)`."""
    dpu_mode: defaults.DpuMode = "zero-trust"
    services: ServiceSet | None = None
    """None means `defaults.default_services()`."""
    registry_overrides: RegistryOverrides | None = None
    node_effect: Mapping[str, Any] = field(
        default_factory=lambda: MappingProxyType({"hold": True}))
    """The DPUDeployment's `nodeEffect`; the flows rely on the default hold."""

    managed_label_key: str = "carbide.nvidia.com/dpf-managed"
    managed_label_value: str = "true"
    """Put on every DPUNode and DPUDevice the SDK registers. On nodes it is the DPUSet's node
    selector; devices pass it on to their DPUs, where it is the DPU selector of queries."""
    host_bmc_ip_label: str = HOST_BMC_IP_LABEL
    device_labeler: DeviceLabeler | None = None
    node_labeler: NodeLabeler | None = None
    dpu_label_selector: str | None = None
    """Label selector of the DPUs queries look at; None means `<managed key>=<value>`."""

    poll_interval: float = 1.0
    """Seconds between reads while `wait_for_dpu` waits."""

    def __post_init__(self) -> None:
        problems: list[FieldProblem] = []
        problems += check_dns_label("config.namespace", self.namespace, "namespace")
        dpu_set = f"{self.deployment_name}-{self.dpu_set_suffix}"
        problems += check_dns_label("config.deployment_name", self.deployment_name,
                                    "DPUDeployment")
        problems += check_dns_label("config.dpu_set_suffix", dpu_set, "DPUSet")
        problems += check_label_key("config.managed_label_key", self.managed_label_key)
        problems += check_label_value("config.managed_label_value", self.managed_label_value)
        problems += check_label_key("config.host_bmc_ip_label", self.host_bmc_ip_label)
        if not 0 < len(self.dpu_set_suffix) <= _NAME_SUFFIX_MAX:
            problems.append(FieldProblem("config.dpu_set_suffix", "max-length",
                                         f"must have 1 to {_NAME_SUFFIX_MAX} characters"))
        problems += check_dns_label("config.flavor_base_name", self.flavor_base_name, "flavor")
        if self.poll_interval <= 0:
            problems.append(FieldProblem("config.poll_interval", "positive",
                                         "must be greater than zero"))
        raise_if_any(problems)

    def resolved_flavor_spec(self) -> dict[str, Any]:
        """Return the DPUFlavor spec in effect."""
        if self.flavor_spec is not None:
            return dict(self.flavor_spec)
        return defaults.default_flavor_spec(self.dpu_mode)

    def resolved_services(self) -> ServiceSet:
        """Return the services in effect, registry overrides applied."""
        services = self.services if self.services is not None else defaults.default_services()
        if self.registry_overrides is not None:
            services = self.registry_overrides.apply(services)
        return services

    @property
    def managed_selector(self) -> str:
        """The label selector `<managed key>=<managed value>`."""
        return f"{self.managed_label_key}={self.managed_label_value}"

    @property
    def dpu_selector(self) -> str:
        """The label selector of the DPUs queries consider."""
        return self.dpu_label_selector or self.managed_selector
