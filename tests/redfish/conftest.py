"""Fixtures backed by sushy-tools' Redfish emulator (`carbide_dpf.sandbox.bmc.BmcEmulator`)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from carbide_dpf.kube.ratelimit import ExponentialBackoff
from carbide_dpf.sandbox.bmc import BmcEmulator


@pytest.fixture(scope="session")
def shared_bmc() -> Iterator[BmcEmulator]:
    """One emulator with two systems for tests that only read or fail to authenticate."""
    with BmcEmulator(systems=2) as emulator:
        yield emulator


@pytest.fixture
def bmc() -> Iterator[BmcEmulator]:
    """A fresh emulator (two systems, powered on) for a test that resets hosts."""
    with BmcEmulator(systems=2) as emulator:
        yield emulator


@pytest.fixture
def fast_backoff() -> ExponentialBackoff:
    """Retry delays short enough for tests, still exponential."""
    return ExponentialBackoff(base=0.05, cap=0.2, jitter=0.0)
