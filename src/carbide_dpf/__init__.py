"""carbide-dpf: manage NVIDIA BlueField DPUs through the DPF Kubernetes operator.

The public surface is the names in `__all__`; everything else is reached through its
subpackage (`carbide_dpf.kube`, `carbide_dpf.models`, `carbide_dpf.sim`, ...). Names load
on first use, so importing the package (as the CLI does for `--help`) costs nothing.

```python
from carbide_dpf import DpfSdk, KubeClient, SdkConfig

async with KubeClient.from_kubeconfig() as kube:
    sdk = DpfSdk(kube, SdkConfig(namespace="dpf-operator-system"))
    print(await sdk.get_dpu_phase("node-a-dpu-0"))
```
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from carbide_dpf.errors import (
        ConfigError,
        DpfError,
        FieldProblem,
        FlowTimeoutError,
        ValidationError,
    )
    from carbide_dpf.kube.client import KubeClient
    from carbide_dpf.kube.errors import ApiError, KubeError, NotFoundError
    from carbide_dpf.models.phase import DpuPhase
    from carbide_dpf.sdk import DpfSdk, SdkConfig, SecretStr, SyncDpfSdk
    from carbide_dpf.watcher import (
        DpuEvent,
        DpuWatcher,
        MaintenanceNeeded,
        PhaseChange,
        RebootRequired,
    )

__all__ = [
    "ApiError",
    "ConfigError",
    "DpfError",
    "DpfSdk",
    "DpuEvent",
    "DpuPhase",
    "DpuWatcher",
    "FieldProblem",
    "FlowTimeoutError",
    "KubeClient",
    "KubeError",
    "MaintenanceNeeded",
    "NotFoundError",
    "PhaseChange",
    "RebootRequired",
    "SdkConfig",
    "SecretStr",
    "SyncDpfSdk",
    "ValidationError",
]

_HOMES = {
    "ConfigError": "carbide_dpf.errors",
    "DpfError": "carbide_dpf.errors",
    "FieldProblem": "carbide_dpf.errors",
    "FlowTimeoutError": "carbide_dpf.errors",
    "ValidationError": "carbide_dpf.errors",
    "KubeClient": "carbide_dpf.kube.client",
    "ApiError": "carbide_dpf.kube.errors",
    "KubeError": "carbide_dpf.kube.errors",
    "NotFoundError": "carbide_dpf.kube.errors",
    "DpuPhase": "carbide_dpf.models.phase",
    "DpfSdk": "carbide_dpf.sdk",
    "SdkConfig": "carbide_dpf.sdk",
    "SecretStr": "carbide_dpf.sdk",
    "SyncDpfSdk": "carbide_dpf.sdk",
    "DpuEvent": "carbide_dpf.watcher",
    "DpuWatcher": "carbide_dpf.watcher",
    "MaintenanceNeeded": "carbide_dpf.watcher",
    "PhaseChange": "carbide_dpf.watcher",
    "RebootRequired": "carbide_dpf.watcher",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'carbide_dpf' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
