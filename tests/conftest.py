"""Fixtures backed by a real kube-apiserver and etcd.

One control plane runs per test session with every DPF CRD from ``$DPF_CRDS_DIR`` installed
(default: ``../shared/dpf-crds/v25.10.1`` beside the repository). It is stopped at session
end, also when tests fail or the run is interrupted; see `carbide_dpf.sandbox.controlplane`
for what happens when pytest itself is killed.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.resource import NAMESPACE
from carbide_dpf.sandbox.controlplane import ControlPlane
from carbide_dpf.sandbox.crds import crds_dir_from_env, install_crds

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CRDS_DIR = REPO_ROOT.parent / "shared" / "dpf-crds" / "v25.10.1"


async def _install_all_crds(control_plane: ControlPlane, directory: Path) -> None:
    async with control_plane.client() as kube:
        await install_crds(kube, directory)


@pytest.fixture(scope="session")
def crds_dir() -> Path:
    """The DPF CRD directory the session's control plane was given."""
    return crds_dir_from_env(DEFAULT_CRDS_DIR)


@pytest.fixture(scope="session")
def control_plane(crds_dir: Path) -> Iterator[ControlPlane]:
    """A running control plane shared by the whole session, DPF CRDs installed."""
    plane = ControlPlane()
    plane.start()
    try:
        asyncio.run(_install_all_crds(plane, crds_dir))
        yield plane
    finally:
        plane.stop()


@pytest.fixture
async def kube(control_plane: ControlPlane) -> AsyncIterator[KubeClient]:
    """An admin `KubeClient` for one test, closed afterwards."""
    async with control_plane.client() as client:
        yield client


@pytest.fixture
async def namespace(kube: KubeClient) -> AsyncIterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    await kube.create(NAMESPACE, {"metadata": {"name": name}})
    try:
        yield name
    finally:
        # No namespace controller runs, so the namespace stays Terminating, but its name is
        # unique, so that costs nothing.
        await kube.delete(NAMESPACE, name)
