"""A simulator of the DPF operator (v25.10.1) for driving carbide-dpf without BlueField hardware.

It plays the operator's half of the contract in DPF-OPERATOR.md against any API server:
DPUDeployment -> DPUSet -> DPU, the DPU phase machine, the hold, the external reboot,
deletion and rolling updates, plus faults on demand. Start it with::

    async with Simulator(kube, SimConfig(namespace="dpf-operator-system")) as sim:
        ...
"""

from carbide_dpf.sim.config import SimConfig
from carbide_dpf.sim.faults import Fault, FaultKind, FaultPlan
from carbide_dpf.sim.runner import Simulator

__all__ = ["Fault", "FaultKind", "FaultPlan", "SimConfig", "Simulator"]
