"""DPU service definitions: the DPUServiceTemplate/Configuration pairs, the DPUServiceInterfaces
and the service chains a DPUDeployment runs, loaded from Python, JSON or YAML and validated.

A definition file (JSON or YAML) looks like:

```yaml
services:
  - name: doca-hbn                      # DNS-1123 label, <= 28 characters
    helmChart: {repoURL: https://helm.ngc.nvidia.com/nvidia/doca, chart: doca-hbn,
                version: 1.0.5}
    values: {image: {repository: nvcr.io/nvidia/doca/doca_hbn, tag: 3.1.0-doca3.1.0}}
    configValues: {}                    # DPUServiceConfiguration helmChart.values
    interfaces: [{name: p0_if, network: mybrhbn}]
    dependsOn: []
serviceInterfaces:
  - {name: p0, interfaceType: physical, labels: {uplink: p0}, spec: {interfaceName: p0}}
serviceChains:
  - ports: [{matchLabels: {uplink: p0}}, {service: doca-hbn, interface: p0_if}]
```
Every problem is reported with its path (`services[0].helmChart.repoURL`) in one
`ValidationError`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pydantic
import yaml
from pydantic import BaseModel, ConfigDict, Field

from carbide_dpf.errors import ConfigError, FieldProblem, ValidationError
from carbide_dpf.sdk import names
from carbide_dpf.sdk.validation import check_labels, raise_if_any

__all__ = [
    "ChainPort",
    "ChainSwitch",
    "HelmChartSource",
    "RegistryOverrides",
    "ServiceDefinition",
    "ServiceInterfaceDefinition",
    "ServiceInterfacePort",
    "ServiceSet",
    "load_services",
    "parse_services",
]

SERVICE_NAME_MAX = 28
SVC_API_VERSION = "svc.dpu.nvidia.com/v1alpha1"
_REPO_URL = re.compile(r"^(oci://|https://).+$")


class _Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)


class HelmChartSource(_Model):
    """Where the service's Helm chart comes from (`helmChart.source` of the template)."""

    repo_url: str = Field(alias="repoURL", pattern=_REPO_URL.pattern)
    chart: str | None = Field(default=None, min_length=1)
    version: str = Field(min_length=1)
    path: str | None = None
    release_name: str | None = Field(default=None, alias="releaseName")


class ServiceInterfacePort(_Model):
    """An interface the service exposes (`interfaces[]` of the configuration)."""

    name: str = Field(min_length=1, max_length=SERVICE_NAME_MAX)
    network: str = Field(min_length=1)


class ServiceDefinition(_Model):
    """One DPU service: becomes a DPUServiceTemplate and a DPUServiceConfiguration."""

    name: str = Field(min_length=1, max_length=SERVICE_NAME_MAX,
                      pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    helm_chart: HelmChartSource = Field(alias="helmChart")
    values: dict[str, Any] = Field(default_factory=dict)
    config_values: dict[str, Any] = Field(default_factory=dict, alias="configValues")
    interfaces: list[ServiceInterfacePort] = Field(default_factory=list, max_length=50)
    depends_on: list[str] = Field(default_factory=list, alias="dependsOn")
    resource_requirements: dict[str, str | int] | None = Field(
        default=None, alias="resourceRequirements")
    service_configuration: dict[str, Any] = Field(
        default_factory=dict, alias="serviceConfiguration")
    """Further `spec.serviceConfiguration` fields (configPorts, serviceDaemonSet, ...)."""


class ServiceInterfaceDefinition(_Model):
    """A DPUServiceInterface (a physical port, a PF, ...) that service chains select."""

    name: str = Field(min_length=1, max_length=names.DNS1123_LABEL_MAX,
                      pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    interface_type: Literal["vlan", "physical", "pf", "vf", "ovn", "service"] = Field(
        alias="interfaceType")
    labels: dict[str, str] = Field(min_length=1)
    spec: dict[str, Any] = Field(default_factory=dict)
    """The block named after the type: `{interfaceName: p0}` for physical, `{pfID: 0}` for pf."""


class ChainPort(_Model):
    """One port of a chain switch: a service's interface, or interfaces matched by labels."""

    service: str | None = None
    interface: str | None = None
    match_labels: dict[str, str] | None = Field(default=None, alias="matchLabels")


class ChainSwitch(_Model):
    """One switch of the deployment's service chain."""

    ports: list[ChainPort] = Field(min_length=1, max_length=50)
    service_mtu: int | None = Field(default=None, alias="serviceMTU", ge=1280, le=9216)


class ServiceSet(_Model):
    """The services of a DPUDeployment, their interfaces and chains."""

    services: list[ServiceDefinition] = Field(min_length=1, max_length=50)
    service_interfaces: list[ServiceInterfaceDefinition] = Field(
        default_factory=list, alias="serviceInterfaces")
    service_chains: list[ChainSwitch] = Field(default_factory=list, alias="serviceChains",
                                              max_length=50)

    def by_name(self) -> dict[str, ServiceDefinition]:
        """Return the services keyed by name."""
        return {service.name: service for service in self.services}


@dataclass(frozen=True, slots=True)
class RegistryOverrides:
    """Rewrites for air-gapped sites: chart repository URLs and image registries.

    Each map goes from a prefix to its replacement. `helm_repos` applies to every chart's
    `repoURL`; `image_registries` to every string in the Helm values that equals a prefix or
    starts with `prefix/` (image references such as `nvcr.io/nvidia/doca/doca_hbn`).
    """

    helm_repos: Mapping[str, str] = field(default_factory=dict)
    image_registries: Mapping[str, str] = field(default_factory=dict)

    def apply(self, service_set: ServiceSet) -> ServiceSet:
        """Return `service_set` with every chart source and image reference rewritten."""
        services = [self._rewrite_service(service) for service in service_set.services]
        return service_set.model_copy(update={"services": services})

    def _rewrite_service(self, service: ServiceDefinition) -> ServiceDefinition:
        source = service.helm_chart.model_copy(
            update={"repo_url": _rewrite_prefix(service.helm_chart.repo_url, self.helm_repos)})
        return service.model_copy(update={
            "helm_chart": source,
            "values": self._rewrite_images(service.values),
            "config_values": self._rewrite_images(service.config_values),
        })

    def _rewrite_images(self, value: Any) -> Any:
        if isinstance(value, str):
            return _rewrite_prefix(value, self.image_registries)
        if isinstance(value, Mapping):
            return {key: self._rewrite_images(item) for key, item in value.items()}
        if isinstance(value, list):
            return [self._rewrite_images(item) for item in value]
        return value


def _rewrite_prefix(value: str, prefixes: Mapping[str, str]) -> str:
    # Whole path segments only (`nvcr.io` must not match `nvcr.io.example.com`), and the
    # longest prefix wins, so `nvcr.io/nvidia` can be mapped apart from `nvcr.io`.
    for prefix in sorted(prefixes, key=len, reverse=True):
        bare = prefix.rstrip("/")
        if value == bare or value.startswith(bare + "/"):
            return prefixes[prefix].rstrip("/") + value[len(bare):]
    return value


def parse_services(data: Any, *, source: str = "services") -> ServiceSet:
    """Validate `data` (a mapping, or a bare list of services) into a `ServiceSet`.

    Raises `ValidationError` naming each offending field path.
    """
    if isinstance(data, list):
        data = {"services": data}
    try:
        service_set = ServiceSet.model_validate(data)
    except pydantic.ValidationError as error:
        raise ValidationError([_problem(source, item) for item in error.errors()]) from None

    raise_if_any(check_service_set(service_set))
    return service_set


def load_services(path: str | Path) -> ServiceSet:
    """Load service definitions from a JSON or YAML file (YAML is a superset of JSON)."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"cannot read the services file {file}: {error.strerror}; "
                          "check the path") from error
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ValidationError([FieldProblem(
            str(file), "syntax", f"not valid JSON or YAML: {error}")]) from None
    return parse_services(data, source=str(file))


def _problem(source: str, item: Mapping[str, Any]) -> FieldProblem:
    path = ""
    for part in item["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    # Report the input, never the whole document: values may hold site configuration.
    return FieldProblem(path or source, str(item["type"]), str(item["msg"]))


def check_service_set(service_set: ServiceSet) -> list[FieldProblem]:
    """Check what the schema alone cannot: unique names, references, chain port shapes."""
    problems: list[FieldProblem] = []
    services = service_set.by_name()
    if len(services) != len(service_set.services):
        problems.append(FieldProblem("services", "unique-names", "service names repeat"))
    for index, service in enumerate(service_set.services):
        for dep_index, dependency in enumerate(service.depends_on):
            if dependency not in services:
                problems.append(FieldProblem(
                    f"services[{index}].dependsOn[{dep_index}]", "known-service",
                    f"{dependency!r} is not a defined service"))
    for index, interface in enumerate(service_set.service_interfaces):
        problems += check_labels(f"serviceInterfaces[{index}].labels", interface.labels)
    for s_index, switch in enumerate(service_set.service_chains):
        for p_index, port in enumerate(switch.ports):
            path = f"serviceChains[{s_index}].ports[{p_index}]"
            problems += _check_port(path, port, services)
    return problems


def _check_port(path: str, port: ChainPort,
                services: Mapping[str, ServiceDefinition]) -> list[FieldProblem]:
    by_service = port.service is not None or port.interface is not None
    if by_service == (port.match_labels is not None):
        return [FieldProblem(path, "one-of",
                             "give either service and interface, or matchLabels")]
    if port.match_labels is not None:
        if not port.match_labels:
            return [FieldProblem(f"{path}.matchLabels", "required", "must not be empty")]
        return check_labels(f"{path}.matchLabels", port.match_labels)
    service = services.get(port.service or "")
    if service is None:
        return [FieldProblem(f"{path}.service", "known-service",
                             f"{port.service!r} is not a defined service")]
    if port.interface not in {interface.name for interface in service.interfaces}:
        return [FieldProblem(f"{path}.interface", "known-interface",
                             f"{port.interface!r} is not an interface of {port.service!r}")]
    return []


def template_object(service: ServiceDefinition, namespace: str) -> dict[str, Any]:
    """Build the DPUServiceTemplate of `service`."""
    spec: dict[str, Any] = {
        "deploymentServiceName": service.name,
        "helmChart": {"source": service.helm_chart.model_dump(by_alias=True,
                                                              exclude_none=True)},
    }
    if service.values:
        spec["helmChart"]["values"] = service.values
    if service.resource_requirements:
        spec["resourceRequirements"] = service.resource_requirements
    return _object("DPUServiceTemplate", service.name, namespace, spec)


def configuration_object(service: ServiceDefinition, namespace: str) -> dict[str, Any]:
    """Build the DPUServiceConfiguration of `service`."""
    configuration = dict(service.service_configuration)
    if service.config_values:
        configuration["helmChart"] = {"values": service.config_values}
    # Always present: the CRD's interface rule reads serviceConfiguration.deployInCluster
    # and fails with "no such key" when the whole block is missing.
    spec: dict[str, Any] = {"deploymentServiceName": service.name,
                            "serviceConfiguration": configuration}
    if service.interfaces:
        spec["interfaces"] = [interface.model_dump() for interface in service.interfaces]
    return _object("DPUServiceConfiguration", service.name, namespace, spec)


def interface_object(interface: ServiceInterfaceDefinition, namespace: str) -> dict[str, Any]:
    """Build the DPUServiceInterface for `interface`."""
    inner: dict[str, Any] = {"interfaceType": interface.interface_type}
    if interface.interface_type != "ovn" or interface.spec:
        inner[interface.interface_type] = interface.spec
    template = {"metadata": {"labels": interface.labels}, "spec": inner}
    spec = {"template": {"spec": {"template": template}}}
    return _object("DPUServiceInterface", interface.name, namespace, spec)


def deployment_services(service_set: ServiceSet) -> dict[str, Any]:
    """Build `spec.services` of the DPUDeployment."""
    services: dict[str, Any] = {}
    for service in service_set.services:
        entry: dict[str, Any] = {"serviceTemplate": service.name,
                                 "serviceConfiguration": service.name}
        if service.depends_on:
            entry["dependsOn"] = [{"name": name} for name in service.depends_on]
        services[service.name] = entry
    return services


def deployment_chains(service_set: ServiceSet) -> dict[str, Any] | None:
    """Build `spec.serviceChains` of the DPUDeployment, or None without chains."""
    if not service_set.service_chains:
        return None
    switches = []
    for switch in service_set.service_chains:
        ports = [_chain_port(port) for port in switch.ports]
        entry: dict[str, Any] = {"ports": ports}
        if switch.service_mtu is not None:
            entry["serviceMTU"] = switch.service_mtu
        switches.append(entry)
    return {"switches": switches, "upgradePolicy": {"applyNodeEffect": True}}


def _chain_port(port: ChainPort) -> dict[str, Any]:
    if port.match_labels is not None:
        return {"serviceInterface": {"matchLabels": port.match_labels}}
    return {"service": {"name": port.service, "interface": port.interface}}


def _object(kind: str, name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": SVC_API_VERSION,
        "kind": kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
