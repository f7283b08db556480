"""Where a kind lives in the Kubernetes API: its group, version, plural and URL paths.

The DPF kinds are generated into `carbide_dpf.models.registry`; the few core kinds this
package touches are defined here.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONFIG_MAP",
    "CUSTOM_RESOURCE_DEFINITION",
    "EVENT",
    "LEASE",
    "NAMESPACE",
    "SECRET",
    "ResourceKind",
]


@dataclass(frozen=True, slots=True)
class ResourceKind:
    """One kind of the Kubernetes API and how to address it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    has_status: bool = True

    @property
    def api_version(self) -> str:
        """The `apiVersion` objects of this kind carry: `group/version`, or `v1` for core."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(
        self,
        namespace: str | None = None,
        name: str | None = None,
        subresource: str | None = None,
    ) -> str:
        """Return the URL path of the collection, or of one object (and its subresource).

        A namespaced kind without a namespace gives the all-namespaces collection path.
        """
        prefix = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            prefix = f"{prefix}/namespaces/{namespace}"
        path = f"{prefix}/{self.plural}"
        if name is not None:
            path = f"{path}/{name}"
            if subresource:
                path = f"{path}/{subresource}"
        return path

    def __str__(self) -> str:
        return f"{self.plural}.{self.group}" if self.group else self.plural


SECRET = ResourceKind("", "v1", "Secret", "secrets", has_status=False)
CONFIG_MAP = ResourceKind("", "v1", "ConfigMap", "configmaps", has_status=False)
NAMESPACE = ResourceKind("", "v1", "Namespace", "namespaces", namespaced=False)
EVENT = ResourceKind("", "v1", "Event", "events", has_status=False)
LEASE = ResourceKind("coordination.k8s.io", "v1", "Lease", "leases", has_status=False)
CUSTOM_RESOURCE_DEFINITION = ResourceKind(
    "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
    namespaced=False,
)
