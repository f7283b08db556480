"""Fixtures of the watcher tests; the helpers themselves are in watcher_helpers.py."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The informer engineer's loopback proxy (tests/kube/proxy.py) is reused for connection cuts.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "kube"))

from tests.watcher.watcher_helpers import Recorder


@pytest.fixture
def recorder() -> Recorder:
    """A fresh callback recorder."""
    return Recorder()
