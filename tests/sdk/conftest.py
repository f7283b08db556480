"""Fixtures of the SDK tests: an SDK on the test's namespace."""

from __future__ import annotations

import pytest

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.sdk import DpfSdk, SdkConfig


@pytest.fixture
def sdk(kube: KubeClient, namespace: str) -> DpfSdk:
    """An SDK on the test's namespace that polls quickly."""
    return DpfSdk(kube, SdkConfig(namespace=namespace, poll_interval=0.05))
