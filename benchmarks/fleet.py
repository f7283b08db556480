"""The fleet figure: N hosts x 2 DPUs provisioned end to end through the flows.

Starts a local control plane (kube-apiserver + etcd) with the pinned DPF CRDs and the operator
simulator at zero dwell, initialises the deployment once, then provisions every host with
`register_host` + `monitor_host` (the monitor releases the hold and reboots the host as the
operator asks), at most CONCURRENCY hosts at once. Prints the total time, hosts/s and the API
requests per DPU made by the flows' client (`KubeClient.request_counts`; the simulator's own
requests are counted apart).

    uv run python benchmarks/fleet.py [HOSTS] [--concurrency N] [--bmc]   # default 1000, 50

Reboots are a no-op by default: the BMC emulator draws a 1 to 11 s reset delay, which would
make the figure a measure of that delay. `--bmc` power-cycles one emulated system of one
`BmcEmulator` over Redfish for every host instead.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time
from pathlib import Path

from carbide_dpf.flows import (
    BmcTarget,
    DeviceSpec,
    HostSpec,
    PowerCycler,
    monitor_host,
    redfish_power_cycler,
    register_host,
)
from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.ratelimit import ExponentialBackoff
from carbide_dpf.kube.resource import NAMESPACE
from carbide_dpf.sandbox.bmc import BmcEmulator
from carbide_dpf.sandbox.controlplane import ControlPlane
from carbide_dpf.sandbox.crds import crds_dir_from_env, install_crds
from carbide_dpf.sdk import DpfSdk, SdkConfig, SecretStr
from carbide_dpf.sim import SimConfig, Simulator

NAMESPACE_NAME = "dpf-operator-system"
CRDS_DIR = Path(__file__).resolve().parents[2] / "shared" / "dpf-crds" / "v25.10.1"
BFB_URL = "https://bfb.example.com/images/bf-bundle-2.9.1.bfb"
PASSWORD = SecretStr("fleet-benchmark-password")
HOST_TIMEOUT = 900.0


def host_spec(index: int) -> HostSpec:
    """Host `index`: node `host-<index>`, devices `h<index>-dpu0/1` with distinct BMC IPs."""
    devices = tuple(
        DeviceSpec(f"h{index}-dpu{d}", f"10.{index // 250}.{index % 250}.{10 + d}",
                   f"MT{index:06d}{d}")
        for d in range(2))
    return HostSpec(f"host-{index}", f"192.0.{index // 250}.{index % 250 + 1}", devices)


async def noop_power_cycle() -> object:
    """Stands in for the host reboot (see the module docstring)."""
    return None


async def provision_fleet(sdk: DpfSdk, hosts: int, concurrency: int,
                          power_cycle: PowerCycler) -> list[float]:
    """Provision `hosts` hosts, `concurrency` at a time; return each host's seconds."""
    semaphore = asyncio.Semaphore(concurrency)
    backoff = ExponentialBackoff(0.1, 2.0, jitter=0.2)

    async def one(index: int) -> float:
        async with semaphore:
            started = time.monotonic()
            host = await register_host(sdk, host_spec(index))
            await monitor_host(sdk, host, power_cycle, timeout=HOST_TIMEOUT,
                               retry_backoff=backoff, resync_period=None)
            return time.monotonic() - started

    return list(await asyncio.gather(*(one(i) for i in range(hosts))))


async def run(hosts: int, concurrency: int, use_bmc: bool) -> None:
    """Start everything, provision the fleet, print the figures."""
    plane = ControlPlane()
    plane.start()
    bmc = BmcEmulator(systems=1) if use_bmc else None
    try:
        async with plane.client() as admin:
            await install_crds(admin, crds_dir_from_env(CRDS_DIR))
            await admin.create(NAMESPACE, {"metadata": {"name": NAMESPACE_NAME}})
        power_cycle: PowerCycler = noop_power_cycle
        if bmc is not None:
            bmc.start()
            power_cycle = redfish_power_cycler(
                BmcTarget(bmc.url, bmc.username, SecretStr(bmc.password)), poll_interval=1.0)
        await _measure(plane, hosts, concurrency, power_cycle, "bmc" if bmc else "no-op")
    finally:
        if bmc is not None:
            bmc.stop()
        plane.stop()


async def _measure(plane: ControlPlane, hosts: int, concurrency: int,
                   power_cycle: PowerCycler, reboot: str) -> None:
    sim_config = SimConfig(namespace=NAMESPACE_NAME)
    async with (plane.client(qps=5000.0, burst=5000) as sim_kube,
                Simulator(sim_kube, sim_config),
                plane.client(qps=5000.0, burst=5000) as kube):
        sdk = DpfSdk(kube, SdkConfig(namespace=NAMESPACE_NAME, poll_interval=0.1))
        await sdk.create_initialization_objects(BFB_URL, PASSWORD)
        kube.request_counts.clear()

        started = time.monotonic()
        per_host = await provision_fleet(sdk, hosts, concurrency, power_cycle)
        total = time.monotonic() - started
        _report(hosts, concurrency, reboot, total, per_host, kube, sim_kube)


def _report(hosts: int, concurrency: int, reboot: str, total: float, per_host: list[float],
            kube: KubeClient, sim_kube: KubeClient) -> None:
    dpus = hosts * 2
    requests = sum(kube.request_counts.values())
    verbs = ", ".join(f"{verb} {count / dpus:.2f}"
                      for verb, count in sorted(kube.request_counts.items()))
    sim_requests = sum(sim_kube.request_counts.values())
    print(f"fleet: {hosts} hosts x 2 DPUs, concurrency {concurrency}, reboot {reboot}")
    print(f"total {total:.1f} s, {hosts / total:.2f} hosts/s, per host median "
          f"{statistics.median(per_host):.2f} s, max {max(per_host):.2f} s")
    print(f"flow API requests per DPU: {requests / dpus:.2f} ({verbs})")
    print(f"simulator API requests per DPU: {sim_requests / dpus:.2f}")


def main() -> None:
    """Parse argv and run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("hosts", type=int, nargs="?", default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--bmc", action="store_true", help="reboot over Redfish (emulator)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(run(args.hosts, args.concurrency, args.bmc))


if __name__ == "__main__":
    main()
