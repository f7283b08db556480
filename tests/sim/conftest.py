"""Fixtures for the simulator tests: a DPF world in a fresh namespace and a running simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import replace
from typing import Any

import pytest

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.sandbox.controlplane import ControlPlane
from carbide_dpf.sim import SimConfig, Simulator
from tests.sim.sim_helpers import World

SimFactory = Callable[..., AbstractAsyncContextManager[Simulator]]


@pytest.fixture
async def sim_kube(control_plane: ControlPlane) -> AsyncIterator[KubeClient]:
    """The simulator's own client, with a rate limit that does not slow it down."""
    async with control_plane.client(qps=2000.0, burst=2000) as client:
        yield client


@pytest.fixture
async def world(kube: KubeClient, namespace: str) -> World:
    """An empty DPF world in the test's namespace."""
    return World(kube, namespace)


@pytest.fixture
def start_sim(sim_kube: KubeClient, namespace: str) -> SimFactory:
    """Return `start_sim(**config)`: an async context manager running a simulator."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Simulator]:
        config = replace(SimConfig(namespace=namespace), **overrides)
        async with Simulator(sim_kube, config) as simulator:
            yield simulator

    return start
