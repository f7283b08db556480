"""Helpers for the simulator tests: the client's side of a DPF world, and polling.

Everything runs against the session's real API server; the test plays the client (creates the
objects, releases the hold, reboots the host) and the simulator plays the operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from carbide_dpf.kube.client import KubeClient, KubeObject
from carbide_dpf.kube.errors import NotFoundError
from carbide_dpf.models import registry

REBOOT_KEY = "provisioning.dpu.nvidia.com/dpunode-external-reboot-required"
WAIT_KEY = "provisioning.dpu.nvidia.com/wait-for-external-nodeeffect"
HOST_BMC_LABEL = "carbide.nvidia.com/host-bmc-ip"


async def eventually(
    check: Callable[[], Awaitable[Any]], within: float = 20.0, interval: float = 0.05
) -> Any:
    """Poll `check` until it returns something truthy; fail the test after `within` s."""
    deadline = time.monotonic() + within
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {within}s; last value: {last!r}")


async def stays(
    check: Callable[[], Awaitable[bool]], seconds: float = 2.0, interval: float = 0.1
) -> None:
    """Assert that `check` holds throughout `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert await check(), "a state that should have held changed"
        await asyncio.sleep(interval)


def phase(obj: KubeObject | None) -> str:
    """Return an object's status.phase, or ""."""
    return str(((obj or {}).get("status") or {}).get("phase") or "")


def condition(obj: KubeObject | None, kind: str) -> dict[str, Any] | None:
    """Return the status condition of type `kind`."""
    for cond in ((obj or {}).get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return dict(cond)
    return None


@dataclass
class World:
    """The client's side of a DPF installation in one namespace."""

    kube: KubeClient
    namespace: str
    deployment: str = "dep"
    bfb: str = "bfb-a"
    flavor: str = "flavor-a"
    created_nodes: list[str] = field(default_factory=list)

    async def install(self, *, hold: bool = True, bfbs: tuple[str, ...] = ("bfb-a",)) -> None:
        """Create the BMC-free prerequisites: BFBs, a flavor and the DPUDeployment."""
        for name in bfbs:
            await self.kube.create(registry.BFB, {
                "metadata": {"name": name},
                "spec": {"url": f"http://files.example/{name}.bfb"},
            }, self.namespace)
        await self.kube.create(registry.DPU_FLAVOR, {
            "metadata": {"name": self.flavor}, "spec": {"dpuMode": "dpu"},
        }, self.namespace)
        node_effect: dict[str, Any] = {"hold": True} if hold else {"noEffect": True}
        await self.kube.create(registry.DPU_DEPLOYMENT, {
            "metadata": {"name": self.deployment},
            "spec": {
                "dpus": {
                    "bfb": self.bfb,
                    "flavor": self.flavor,
                    "nodeEffect": node_effect,
                    "dpuSets": [{"nameSuffix": "set",
                                 "nodeSelector": {"matchLabels": {"sim-test": "yes"}}}],
                },
                "services": {"dts": {"serviceTemplate": "dts", "serviceConfiguration": "dts"}},
            },
        }, self.namespace)

    async def add_host(self, node: str, devices: int = 2, *, external: bool = True) -> list[str]:
        """Register DPUDevices and the DPUNode listing them; return the expected DPU names."""
        names = [f"{node}-d{i}" for i in range(devices)]
        for i, name in enumerate(names):
            await self.kube.create(registry.DPU_DEVICE, {
                "metadata": {"name": name, "labels": {HOST_BMC_LABEL: "10.0.0.9"}},
                "spec": {"serialNumber": f"SN-{node}-{i}", "bmcIp": f"10.1.0.{i + 1}"},
            }, self.namespace)
        spec: dict[str, Any] = {"dpus": [{"name": n} for n in names]}
        if external:
            spec["nodeRebootMethod"] = {"external": {}}
        await self.kube.create(registry.DPU_NODE, {
            "metadata": {"name": node, "labels": {"sim-test": "yes"}}, "spec": spec,
        }, self.namespace)
        self.created_nodes.append(node)
        return [f"{node}-{n}" for n in names]

    async def dpu(self, name: str) -> KubeObject | None:
        """Return the DPU or None."""
        return await self.kube.get_or_none(registry.DPU, name, self.namespace)

    async def phases(self, names: list[str]) -> list[str]:
        """Return the phases of the named DPUs ("" for missing ones)."""
        return [phase(await self.dpu(n)) for n in names]

    async def all_in(self, names: list[str], wanted: str) -> bool:
        """Whether every named DPU is in phase `wanted`."""
        return all(p == wanted for p in await self.phases(names))

    async def hold(self, node: str) -> KubeObject | None:
        """Return the node's DPUNodeMaintenance `<node>-hold`, or None."""
        return await self.kube.get_or_none(registry.DPU_NODE_MAINTENANCE, f"{node}-hold",
                                           self.namespace)

    async def release_hold(self, node: str) -> None:
        """Play the client: set the hold annotation to "false" once the operator set it."""
        async def annotated() -> KubeObject | None:
            hold = await self.hold(node)
            annotations = (hold or {}).get("metadata", {}).get("annotations") or {}
            return hold if annotations.get(WAIT_KEY) == "true" else None

        await eventually(annotated)
        await self.kube.merge_patch(registry.DPU_NODE_MAINTENANCE, f"{node}-hold",
                                    {"metadata": {"annotations": {WAIT_KEY: "false"}}},
                                    self.namespace)

    async def node(self, node: str) -> KubeObject:
        """Return the DPUNode."""
        return await self.kube.get(registry.DPU_NODE, node, self.namespace)

    async def reboot_requested(self, node: str) -> bool:
        """Whether the operator asks for the host to be rebooted."""
        annotations = (await self.node(node))["metadata"].get("annotations") or {}
        return REBOOT_KEY in annotations

    async def reboot(self, node: str) -> None:
        """Play the client: wait for the request, then remove the annotation key."""
        await eventually(lambda: self.reboot_requested(node))
        await self.kube.merge_patch(registry.DPU_NODE, node,
                                    {"metadata": {"annotations": {REBOOT_KEY: None}}},
                                    self.namespace)

    async def delete_dpu(self, name: str) -> None:
        """Delete a DPU (reprovision)."""
        with contextlib.suppress(NotFoundError):
            await self.kube.delete(registry.DPU, name, self.namespace)
