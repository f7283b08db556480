"""The README's SDK example runs as written against the real API server."""

from __future__ import annotations

import contextlib
import re
import textwrap
from pathlib import Path
from typing import Any

import pytest

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.errors import AlreadyExistsError
from carbide_dpf.kube.resource import NAMESPACE
from carbide_dpf.models.registry import BFB, DPU_DEPLOYMENT, DPU_DEVICE
from carbide_dpf.sandbox.controlplane import ControlPlane

README = Path(__file__).resolve().parents[1] / "README.md"


def _sdk_example() -> str:
    section = README.read_text().split("## The SDK in five lines", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match, "the README lost its SDK example"
    return match.group(1)


async def test_the_readme_sdk_example_runs(
    control_plane: ControlPlane, kube: KubeClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with contextlib.suppress(AlreadyExistsError):
        await kube.create(NAMESPACE, {"metadata": {"name": "dpf-operator-system"}})
    monkeypatch.setenv("KUBECONFIG", str(control_plane.kubeconfig_path))
    program = "async def example():\n" + textwrap.indent(_sdk_example(), "    ")
    scope: dict[str, Any] = {"URL": "https://bfb.example.com/bf-bundle.bfb",
                             "PASSWORD": "readme-password"}

    exec(compile(program, str(README), "exec"), scope)
    await scope["example"]()

    device = await kube.get(DPU_DEVICE, "dpu-a", "dpf-operator-system")
    assert device["spec"]["bmcIp"] == "10.0.0.11"
    assert (await kube.list(BFB, "dpf-operator-system")).items
    assert (await kube.list(DPU_DEPLOYMENT, "dpf-operator-system")).items
