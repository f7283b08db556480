"""The end-to-end flows over the SDK: provision, reprovision, monitor and clean up a host.

```python
host = HostSpec("host-0042", "192.0.2.10", (DeviceSpec("dpu-a", "10.0.0.11", "MT23X01"),))
bmc = BmcTarget("https://192.0.2.10", "admin", SecretStr(password))
await provision_host(sdk, host, redfish_power_cycler(bmc), bfb_url=url,
                     bmc_password=SecretStr(password))
```
"""

from carbide_dpf.flows.cleanup import cleanup_host, resolve_node_name
from carbide_dpf.flows.errors import DpuFailedError, FlowActionError
from carbide_dpf.flows.monitor import (
    BmcTarget,
    Host,
    MonitorResult,
    PowerCycler,
    monitor_host,
    redfish_power_cycler,
)
from carbide_dpf.flows.provision import (
    DeviceSpec,
    HostSpec,
    ProvisionResult,
    parse_device_specs,
    provision_host,
    register_host,
)
from carbide_dpf.flows.reprovision import ReprovisionResult, reprovision_dpu

__all__ = [
    "BmcTarget",
    "DeviceSpec",
    "DpuFailedError",
    "FlowActionError",
    "Host",
    "HostSpec",
    "MonitorResult",
    "PowerCycler",
    "ProvisionResult",
    "ReprovisionResult",
    "cleanup_host",
    "monitor_host",
    "parse_device_specs",
    "provision_host",
    "redfish_power_cycler",
    "register_host",
    "reprovision_dpu",
    "resolve_node_name",
]
