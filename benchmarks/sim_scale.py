"""How fast the simulator takes a fleet to Ready: N hosts x 2 DPUs at zero dwell.

Starts a local control plane (kube-apiserver + etcd) with the pinned DPF CRDs, creates the
client's objects (a BFB, a flavor, a DPUDeployment with the hold node effect, N DPUNodes with
an external reboot method, 2 DPUDevices each), then starts the simulator with
`auto_release_hold` and `auto_reboot` and measures the time until every DPU is Ready, and the
API requests the simulator made (its client's count, by verb).

    uv run python benchmarks/sim_scale.py [HOSTS]   # default 1000 hosts = 2,000 DPUs

"""

from __future__ import annotations

import asyncio
import functools
import logging
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.resource import NAMESPACE
from carbide_dpf.models import registry
from carbide_dpf.sandbox.controlplane import ControlPlane
from carbide_dpf.sandbox.crds import crds_dir_from_env, install_crds
from carbide_dpf.sim import SimConfig, Simulator

NAMESPACE_NAME = "dpf-operator-system"
DEVICES_PER_HOST = 2
CRDS_DIR = Path(__file__).resolve().parents[2] / "shared" / "dpf-crds" / "v25.10.1"
TIMEOUT = 1800.0


async def _bounded(calls: list[functools.partial[Any]], limit: int = 32) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def run(call: functools.partial[Any]) -> None:
        async with semaphore:
            await call()

    await asyncio.gather(*(run(c) for c in calls))


async def create_fleet(kube: KubeClient, hosts: int) -> None:
    """Create the client's objects for `hosts` hosts of two DPUs each."""
    ns = NAMESPACE_NAME
    await kube.create(NAMESPACE, {"metadata": {"name": ns}})
    await kube.create(registry.BFB, {"metadata": {"name": "bfb"},
                                     "spec": {"url": "http://files.example/doca.bfb"}}, ns)
    await kube.create(registry.DPU_FLAVOR, {"metadata": {"name": "flavor"},
                                            "spec": {"dpuMode": "dpu"}}, ns)
    await kube.create(registry.DPU_DEPLOYMENT, {
        "metadata": {"name": "fleet"},
        "spec": {
            "dpus": {"bfb": "bfb", "flavor": "flavor", "nodeEffect": {"hold": True},
                     "dpuSets": [{"nameSuffix": "all"}]},
            "services": {"dts": {"serviceTemplate": "dts", "serviceConfiguration": "dts"}},
        },
    }, ns)

    calls: list[functools.partial[Any]] = []
    for host in range(hosts):
        node = f"host{host:05d}"
        devices = [f"{node}-dpu{i}" for i in range(DEVICES_PER_HOST)]
        for i, device in enumerate(devices):
            calls.append(functools.partial(kube.create, registry.DPU_DEVICE, {
                "metadata": {"name": device},
                "spec": {"serialNumber": f"SN{host:05d}{i}", "bmcIp": "10.0.0.1"},
            }, ns))
        calls.append(functools.partial(kube.create, registry.DPU_NODE, {
            "metadata": {"name": node},
            "spec": {"dpus": [{"name": d} for d in devices], "nodeRebootMethod": {"external": {}}},
        }, ns))
    await _bounded(calls)


async def run(hosts: int) -> None:
    """Run the benchmark and print its figures."""
    plane = ControlPlane()
    await asyncio.to_thread(plane.start)
    try:
        async with plane.client(qps=5000.0, burst=5000) as kube:
            await install_crds(kube, crds_dir_from_env(CRDS_DIR))
            started = time.monotonic()
            await create_fleet(kube, hosts)
            print(f"created {hosts} nodes and {hosts * DEVICES_PER_HOST} devices "
                  f"in {time.monotonic() - started:.1f}s")

        async with plane.client(qps=5000.0, burst=5000) as sim_kube:
            await measure(sim_kube, hosts * DEVICES_PER_HOST)
    finally:
        await asyncio.to_thread(plane.stop)


async def measure(sim_kube: KubeClient, expected: int) -> None:
    """Start the simulator and time the fleet until every DPU is Ready."""
    config = SimConfig(namespace=NAMESPACE_NAME, auto_release_hold=True, auto_reboot=True)
    started = time.monotonic()
    async with Simulator(sim_kube, config) as sim:
        last_report = 0.0
        while True:
            phases = Counter(
                (d.get("status") or {}).get("phase", "") for d in sim.context.dpus.list()
            )
            elapsed = time.monotonic() - started
            if phases.get("Ready", 0) == expected:
                break
            if elapsed > TIMEOUT:
                raise SystemExit(f"gave up after {TIMEOUT:.0f}s: {dict(phases)}")
            if elapsed - last_report >= 10:
                last_report = elapsed
                print(f"  {elapsed:6.1f}s  {dict(sorted(phases.items()))}")
            await asyncio.sleep(0.2)

    requests = sim_kube.request_counts
    total = sum(requests.values())
    print(f"{expected} DPUs Ready in {elapsed:.1f}s "
          f"({expected / elapsed:.1f} DPUs/s, {total / elapsed:.0f} requests/s)")
    print(f"simulator API requests: {total} ({total / expected:.1f} per DPU) "
          f"{dict(sorted(requests.items()))}")


def main() -> None:
    """Parse argv (the number of hosts) and run."""
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    hosts = int(numbers[0]) if numbers else 1000
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    asyncio.run(run(hosts))


if __name__ == "__main__":
    main()
