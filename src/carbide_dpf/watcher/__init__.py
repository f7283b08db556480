"""The DPU watcher: DPF DPU changes in, user callbacks out (see `carbide_dpf.watcher.core`).

```python
async with DpuWatcher(kube, namespace="dpf-operator-system") as watcher:
    @watcher.on_reboot_required
    async def reboot(event: RebootRequired) -> None: ...
```
"""

from carbide_dpf.watcher.core import DpuWatcher, WatcherError
from carbide_dpf.watcher.events import (
    HOST_BMC_IP_LABEL,
    REBOOT_WAIT_REASON,
    CallbackFailure,
    Condition,
    DpuEvent,
    DpuEventType,
    DpuFailed,
    DpuReady,
    DpuState,
    MaintenanceNeeded,
    PhaseChange,
    RebootRequired,
)
from carbide_dpf.watcher.ledger import LEDGER_ANNOTATION
from carbide_dpf.watcher.metrics import WatcherMetrics

__all__ = [
    "HOST_BMC_IP_LABEL",
    "LEDGER_ANNOTATION",
    "REBOOT_WAIT_REASON",
    "CallbackFailure",
    "Condition",
    "DpuEvent",
    "DpuEventType",
    "DpuFailed",
    "DpuReady",
    "DpuState",
    "DpuWatcher",
    "MaintenanceNeeded",
    "PhaseChange",
    "RebootRequired",
    "WatcherError",
    "WatcherMetrics",
]
