"""The package's public surface is deliberate: pin it, and check every name resolves."""

from __future__ import annotations

import subprocess
import sys

import carbide_dpf

EXPECTED = {
    "ApiError", "ConfigError", "DpfError", "DpfSdk", "DpuEvent", "DpuPhase", "DpuWatcher",
    "FieldProblem", "FlowTimeoutError", "KubeClient", "KubeError", "MaintenanceNeeded",
    "NotFoundError", "PhaseChange", "RebootRequired", "SdkConfig", "SecretStr", "SyncDpfSdk",
    "ValidationError",
}


def test_public_names_are_pinned() -> None:
    assert set(carbide_dpf.__all__) == EXPECTED


def test_every_public_name_resolves_to_its_object() -> None:
    for name in carbide_dpf.__all__:
        value = getattr(carbide_dpf, name)
        assert getattr(value, "__name__", name) == name


def test_every_error_is_a_dpf_error() -> None:
    for name in ("ApiError", "ConfigError", "FlowTimeoutError", "KubeError", "NotFoundError",
                 "ValidationError"):
        assert issubclass(getattr(carbide_dpf, name), carbide_dpf.DpfError)


def test_importing_the_package_loads_no_subpackage() -> None:
    code = ("import sys, carbide_dpf; "
            "print(sorted(m for m in sys.modules if m.startswith('carbide_dpf.')))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True).stdout.strip()
    assert loaded == "[]"
