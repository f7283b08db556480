"""The DPF operations behind the provision, reprovision, update and delete flows.

`DpfSdk` (async) and `SyncDpfSdk` (its blocking facade) are the entry points; `SdkConfig`
holds names, labels, the flavor and the services. The submodules hold the pieces callers may
want on their own: `names` (derived names), `validation`, `labels` (host BMC address label),
`defaults` (flavor and services), `services` (service definition files), `credentials`
(`SecretStr`) and `snapshot` (typed query results).
"""

from carbide_dpf.sdk.config import DEFAULT_NAMESPACE, SdkConfig
from carbide_dpf.sdk.core import (
    HOLD_ANNOTATION,
    REBOOT_REQUIRED_ANNOTATION,
    DeploymentMissingError,
    DpfSdk,
)
from carbide_dpf.sdk.credentials import SecretStr
from carbide_dpf.sdk.labels import (
    DeviceInfo,
    DeviceLabeler,
    NodeInfo,
    NodeLabeler,
    host_bmc_ip_from_dpu,
)
from carbide_dpf.sdk.names import dpu_name, node_name_for_host
from carbide_dpf.sdk.services import RegistryOverrides, ServiceSet, load_services, parse_services
from carbide_dpf.sdk.snapshot import (
    Condition,
    DeleteResult,
    DeviceState,
    DpuState,
    HostSnapshot,
    InitResult,
    NodeState,
    OutdatedDpu,
    ReprovisionTicket,
)
from carbide_dpf.sdk.sync import SyncDpfSdk

__all__ = [
    "DEFAULT_NAMESPACE",
    "HOLD_ANNOTATION",
    "REBOOT_REQUIRED_ANNOTATION",
    "Condition",
    "DeleteResult",
    "DeploymentMissingError",
    "DeviceInfo",
    "DeviceLabeler",
    "DeviceState",
    "DpfSdk",
    "DpuState",
    "HostSnapshot",
    "InitResult",
    "NodeInfo",
    "NodeLabeler",
    "NodeState",
    "OutdatedDpu",
    "RegistryOverrides",
    "ReprovisionTicket",
    "SdkConfig",
    "SecretStr",
    "ServiceSet",
    "SyncDpfSdk",
    "dpu_name",
    "host_bmc_ip_from_dpu",
    "load_services",
    "node_name_for_host",
    "parse_services",
]
