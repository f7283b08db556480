"""Client-side CPU per API request: what one KubeClient call costs this process.

Starts a local control plane, creates one ConfigMap, then sends GETs and merge patches at
several concurrencies and prints requests/s and client CPU milliseconds per request
(`time.process_time`: the API server and etcd run in other processes, so this is our cost).

    uv run python benchmarks/client_requests.py [REQUESTS]   # default 2000 per row
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.resource import CONFIG_MAP
from carbide_dpf.sandbox.controlplane import ControlPlane

NAMESPACE = "default"


async def _measure(count: int, concurrency: int,
                   call: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    queue = iter(range(count))

    async def worker() -> None:
        for index in queue:
            await call(index)

    wall, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - wall, time.process_time() - cpu


async def run(plane: ControlPlane, count: int) -> None:
    """Print one row per (verb, concurrency)."""
    async with KubeClient(plane.cluster_config(), qps=float("inf")) as kube:
        await kube.apply(CONFIG_MAP, {"metadata": {"name": "bench"}, "data": {"n": "0"}},
                         NAMESPACE)

        async def get(_: int) -> object:
            return await kube.get(CONFIG_MAP, "bench", NAMESPACE)

        async def patch(index: int) -> object:
            return await kube.merge_patch(CONFIG_MAP, "bench", {"data": {"n": str(index)}},
                                          NAMESPACE)

        print(f"{'verb':<6} {'conc':>4} {'req/s':>8} {'cpu ms/req':>11}")
        for name, call in (("GET", get), ("PATCH", patch)):
            for concurrency in (1, 8, 32):
                wall, cpu = await _measure(count, concurrency, call)
                print(f"{name:<6} {concurrency:>4} {count / wall:>8.0f} "
                      f"{1000 * cpu / count:>11.2f}")


def main() -> None:
    """Start a control plane and run the rows."""
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with ControlPlane() as plane:
        asyncio.run(run(plane, count))


if __name__ == "__main__":
    main()
