"""Redfish: reboot hosts through their BMC.

`RedfishClient` finds the host's ComputerSystem, reads its power state and power-cycles it
with the best reset type the BMC allows; its errors (`RedfishError` and subclasses, all
`carbide_dpf.errors.DpfError`) say what to do next. The provisioning flow calls
`RedfishClient.power_cycle_host` when the DPF operator asks for an external reboot.
"""

from carbide_dpf.redfish.client import (
    AuthMode,
    PowerCycleResult,
    PowerState,
    RedfishClient,
    ResetType,
    plan_power_cycle,
)
from carbide_dpf.redfish.errors import (
    RedfishAuthError,
    RedfishConfigError,
    RedfishError,
    RedfishNotFoundError,
    RedfishRequestError,
    RedfishServerError,
    RedfishTimeoutError,
    RedfishTLSError,
    RedfishUnavailableError,
    RedfishUnsupportedError,
)

__all__ = [
    "AuthMode",
    "PowerCycleResult",
    "PowerState",
    "RedfishAuthError",
    "RedfishClient",
    "RedfishConfigError",
    "RedfishError",
    "RedfishNotFoundError",
    "RedfishRequestError",
    "RedfishServerError",
    "RedfishTLSError",
    "RedfishTimeoutError",
    "RedfishUnavailableError",
    "RedfishUnsupportedError",
    "ResetType",
    "plan_power_cycle",
]
