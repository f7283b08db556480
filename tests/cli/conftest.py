"""Fixtures of the CLI tests: the `carbide-dpf` executable run as a subprocess against the
session's API server, the operator simulator on the test's namespace, and a fresh BMC
emulator whose password goes to the CLI through a file."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from carbide_dpf.sandbox.bmc import BmcEmulator
from carbide_dpf.sandbox.controlplane import ControlPlane
from carbide_dpf.sim import SimConfig, Simulator
from tests.cli.cli_helpers import Cli


@pytest.fixture
def cli(control_plane: ControlPlane, namespace: str) -> Cli:
    """The CLI on the test's namespace."""
    return Cli(control_plane.kubeconfig_path, namespace)


@pytest.fixture
async def simulator(control_plane: ControlPlane, namespace: str) -> AsyncIterator[Simulator]:
    """The operator simulator on the test's namespace."""
    async with (control_plane.client(qps=2000.0, burst=2000) as sim_kube,
                Simulator(sim_kube, SimConfig(namespace=namespace)) as sim):
        yield sim


@pytest.fixture
def bmc() -> Iterator[BmcEmulator]:
    """A fresh host BMC (one system, powered on)."""
    with BmcEmulator(systems=1) as emulator:
        yield emulator


@pytest.fixture
def password_file(tmp_path: Path, bmc: BmcEmulator) -> Path:
    """A file holding the BMC password (the emulator's), as an operator would keep it."""
    path = tmp_path / "bmc-password"
    path.write_text(bmc.password + "\n")
    path.chmod(0o600)
    return path
