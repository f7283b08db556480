"""Fixtures of the flow tests: the operator simulator on the test's namespace, an SDK on it,
and a power cycler that counts instead of rebooting (the Redfish path has its own tests)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.sandbox.controlplane import ControlPlane
from carbide_dpf.sdk import DpfSdk, SdkConfig
from carbide_dpf.sim import SimConfig, Simulator
from tests.flows.flow_helpers import CountingCycler


@pytest.fixture
async def simulator(control_plane: ControlPlane, namespace: str) -> AsyncIterator[Simulator]:
    """The operator simulator on the test's namespace, on its own unthrottled client."""
    async with (control_plane.client(qps=2000.0, burst=2000) as sim_kube,
                Simulator(sim_kube, SimConfig(namespace=namespace)) as sim):
        yield sim


@pytest.fixture
def sdk(kube: KubeClient, namespace: str) -> DpfSdk:
    """An SDK on the test's namespace that polls quickly."""
    return DpfSdk(kube, SdkConfig(namespace=namespace, poll_interval=0.05))


@pytest.fixture
def cycler() -> CountingCycler:
    """A fresh counting power cycler."""
    return CountingCycler()
