"""How much client CPU one watch event costs: our Informer against a floor and a naive loop.

Starts a local control plane with the DPF CRDs, creates DPU objects, writes a stream of
status changes, then replays that same watch stream (from the resourceVersion taken before
the changes, every event) into three consumers, one after the other:

(a) floor: aiohttp reads the raw stream in chunks; each line is decoded with orjson;
    nothing else.
(b) ours:  `Informer` applies each event to its store and calls a no-op handler.
(c) naive: kubernetes_asyncio's `watch.Watch().stream(...)` over the custom objects API.

Each comparison runs twice, on two sources of the same bytes:

- the live kube-apiserver, replaying from etcd. It produces events one at a time (about one
  event per read on the client), so per-read HTTP and TLS costs weigh as much as decoding;
- a recording of that stream, served in 64 KiB writes by a child process over plain HTTP,
  as fast as the client reads. This isolates what the client does per event.

The servers run in child processes, so `time.process_time()` around a consumer measures
the client's own CPU. Each consumer runs `--rounds` times; the round with the least CPU is
reported (the first round of a consumer also pays for its lazy imports).

    uv run python benchmarks/watch_throughput.py [--objects 200] [--changes 12000]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

from carbide_dpf.kube.client import KubeClient, KubeObject
from carbide_dpf.kube.config import ClusterConfig
from carbide_dpf.kube.informer import Informer, InformerEvent, Watching, key_of
from carbide_dpf.kube.resource import NAMESPACE, ResourceKind
from carbide_dpf.sandbox.controlplane import ControlPlane
from carbide_dpf.sandbox.crds import crds_dir_from_env, install_crds

DPU = ResourceKind("provisioning.dpu.nvidia.com", "v1alpha1", "DPU", "dpus")
REPO = Path(__file__).resolve().parents[1]
DEFAULT_CRDS = REPO.parent / "shared" / "dpf-crds" / "v25.10.1"

# Replaying thousands of events needs them all still in history: watches read etcd
# directly (the watch cache keeps a bounded window) and nothing compacts etcd meanwhile.
APISERVER_ARGS = ["--watch-cache=false", "--etcd-compaction-interval=0"]

PHASES = ["Initializing", "Pending", "Config FW Parameters", "Prepare BFB", "OS Installing",
          "DPU Cluster Config", "Host Network Configuration", "Ready"]


@dataclass(frozen=True, slots=True)
class Replay:
    """Where the stream to replay starts and how many events it holds."""

    namespace: str
    resource_version: str
    objects: list[KubeObject]
    events: int


@dataclass(frozen=True, slots=True)
class Result:
    """One consumer's best round."""

    name: str
    events: int
    wall: float
    cpu: float

    @property
    def events_per_second(self) -> float:
        return self.events / self.wall

    @property
    def cpu_per_10k(self) -> float:
        return self.cpu / self.events * 10_000


def dpu(name: str) -> KubeObject:
    spec = {"bfb": "bf-bundle-2.9.1", "dpuDeviceName": f"dev-{name}",
            "dpuNodeName": f"node-{name}", "serialNumber": f"MT2306XZ{name[-4:]}",
            "pciAddress": "0000-3b-00", "bmcIP": "10.0.0.17"}
    labels = {"provisioning.dpu.nvidia.com/dpunode-name": f"node-{name}", "rack": "r07"}
    return {"metadata": {"name": name, "labels": labels}, "spec": spec}


def status(step: int) -> KubeObject:
    """A realistic DPU status; the message changes every step so every patch is an event."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    conditions = [
        {"type": kind, "status": "True" if step % 3 else "False", "reason": "Progressing",
         "message": f"step {step} of the {kind} condition", "lastTransitionTime": now}
        for kind in ("Initialized", "BFBReady", "FWConfigured", "OSInstalled", "Ready")
    ]
    return {"status": {"phase": PHASES[step % len(PHASES)], "conditions": conditions,
                       "firmware": {"bmc": "24.10-1", "nic": "32.43.1014", "uefi": "4.9.0"}}}


async def prepare(kube: KubeClient, objects: int, changes: int) -> Replay:
    """Create the DPUs, remember the version, then write `changes` status patches."""
    namespace = f"bench-{uuid.uuid4().hex[:6]}"
    await kube.create(NAMESPACE, {"metadata": {"name": namespace}})
    limit = asyncio.Semaphore(64)

    async def bounded(call: Awaitable[Any]) -> None:
        async with limit:
            await call

    names = [f"dpu-{n:04d}" for n in range(objects)]
    await asyncio.gather(*(bounded(kube.create(DPU, dpu(n), namespace)) for n in names))
    listed = await kube.list(DPU, namespace)

    started = time.monotonic()
    await asyncio.gather(*(
        bounded(kube.patch_status(DPU, names[step % objects], status(step), namespace))
        for step in range(changes)
    ))
    elapsed = time.monotonic() - started
    print(f"wrote {changes} status patches to {objects} DPUs in {elapsed:.1f}s")
    return Replay(namespace, listed.resource_version, listed.items, changes)


def watch_params(replay: Replay) -> dict[str, str]:
    return {"watch": "1", "resourceVersion": replay.resource_version,
            "timeoutSeconds": "3600"}


@dataclass(frozen=True, slots=True)
class Source:
    """Where consumers read the stream: the live API server, or a recording of its bytes."""

    name: str
    config: ClusterConfig
    kubeconfig_path: Path


async def _open_stream(config: ClusterConfig, replay: Replay
                       ) -> tuple[aiohttp.ClientSession, aiohttp.ClientResponse]:
    """Open the raw watch stream of the replay with aiohttp, our client's transport."""
    headers = {}
    auth = config.auth_provider()
    if auth is not None:
        headers["Authorization"] = await auth.authorization() or ""
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=config.ssl_context()),
                                    timeout=aiohttp.ClientTimeout(total=None))
    url = config.server + DPU.path(replay.namespace)
    response = await session.get(url, params=watch_params(replay), headers=headers)
    return session, response


async def record(source: Source, replay: Replay, path: Path) -> int:
    """Save the raw bytes of the watch stream, up to the last expected event; return chunks."""
    seen = chunks = 0
    session, response = await _open_stream(source.config, replay)
    try:
        with path.open("wb") as out:
            async for chunk in response.content.iter_any():
                out.write(chunk)
                chunks += 1
                seen += chunk.count(b"\n")
                if seen >= replay.events:
                    return chunks
    finally:
        response.close()
        await session.close()
    raise SystemExit(f"the stream ended after {seen} of {replay.events} events")


def serve_recording(path: Path) -> None:
    """Serve `path` as a chunked HTTP response to every request, as fast as it can be read.

    Runs in a child process (`--serve`), so that its CPU is not counted as the consumers'.
    """
    body = path.read_bytes()
    header = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(header)
            for start in range(0, len(body), 65536):
                piece = body[start:start + 65536]
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        print(server.sockets[0].getsockname()[1], flush=True)
        await server.serve_forever()

    asyncio.run(main())


async def start_recording_server(recording: Path, directory: Path) -> tuple[Source, Any]:
    """Start `serve_recording` in a child process; return a Source for it and the process."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--serve", str(recording), stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    port = int(await child.stdout.readline())
    server = f"http://127.0.0.1:{port}"
    kubeconfig = directory / "kubeconfig-recording"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "replay",
        "clusters": [{"name": "replay", "cluster": {"server": server}}],
        "users": [{"name": "anonymous", "user": {}}],
        "contexts": [{"name": "replay", "context": {"cluster": "replay", "user": "anonymous"}}],
    }))
    return Source("recording", ClusterConfig(server=server), kubeconfig), child


async def consume_floor(source: Source, replay: Replay) -> int:
    """(a) aiohttp chunks + orjson per line and nothing else."""
    seen = 0
    session, response = await _open_stream(source.config, replay)
    try:
        pending = b""
        async for chunk in response.content.iter_any():
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()
            for line in lines:
                if line:
                    orjson.loads(line)
                    seen += 1
            if seen >= replay.events:
                return seen
    finally:
        response.close()
        await session.close()
    return seen


async def consume_informer(source: Source, replay: Replay) -> int:
    """(b) our Informer: store maintained, a no-op handler called per event."""
    done = asyncio.Event()
    seen = 0

    def handler(event: InformerEvent) -> None:
        nonlocal seen
        seen += 1
        if seen >= replay.events:
            done.set()

    async with KubeClient(source.config, qps=math.inf) as kube:
        informer = Informer(kube, DPU, namespace=replay.namespace)
        informer.add_handler(handler)
        # Start as if the list at `resource_version` had just been read, then run one watch:
        # the informer's own watch path, fed the stream every consumer gets.
        informer.store._replace({key_of(o): o for o in replay.objects})
        watch = asyncio.create_task(informer._watch(Watching(replay.resource_version)),
                                    name="bench-informer-watch")
        await done.wait()
        watch.cancel()
        await asyncio.gather(watch, return_exceptions=True)
        assert len(informer.store) == len(replay.objects)
    return seen


async def consume_naive(source: Source, replay: Replay) -> int:
    """(c) the stock client's watch loop, calling a no-op handler."""
    from kubernetes_asyncio import client, config, watch

    def handler(event: dict[str, Any]) -> None:
        return None

    configuration = client.Configuration()
    await config.load_kube_config(config_file=str(source.kubeconfig_path),
                                  client_configuration=configuration)
    seen = 0
    async with client.ApiClient(configuration) as api_client:
        api = client.CustomObjectsApi(api_client)
        stream = watch.Watch().stream(
            api.list_namespaced_custom_object, DPU.group, DPU.version, replay.namespace,
            DPU.plural, resource_version=replay.resource_version, timeout_seconds=3600,
        )
        async with stream:
            async for event in stream:
                handler(event)
                seen += 1
                if seen >= replay.events:
                    break
    return seen


Consumer = Callable[[Source, Replay], Awaitable[int]]


async def measure(name: str, consumer: Consumer, source: Source, replay: Replay,
                  rounds: int) -> Result:
    """Run `consumer` `rounds` times and keep the round with the least CPU."""
    results = []
    for _ in range(rounds):
        wall0, cpu0 = time.perf_counter(), time.process_time()
        events = await consumer(source, replay)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        if events != replay.events:
            raise SystemExit(f"{name} saw {events} events, expected {replay.events}")
        results.append(Result(name, events, wall, cpu))
    best = min(results, key=lambda r: r.cpu)
    spread = statistics.pstdev(r.cpu_per_10k for r in results)
    print(f"  {name:<6} {best.events_per_second:>10,.0f} events/s  "
          f"{best.cpu_per_10k:6.3f} CPU s / 10k events  (spread {spread:.3f})")
    return best


async def compare(source: Source, replay: Replay, rounds: int) -> None:
    """Measure the three consumers on one source and print the ratios."""
    print(f"source: {source.name}; {replay.events} events from resourceVersion "
          f"{replay.resource_version}, best of {rounds} rounds:")
    floor = await measure("floor", consume_floor, source, replay, rounds)
    ours = await measure("ours", consume_informer, source, replay, rounds)
    naive = await measure("naive", consume_naive, source, replay, rounds)
    print(f"  ours / floor CPU: {ours.cpu / floor.cpu:.2f}x   (target <= 1.5x)")
    print(f"  ours / naive CPU: {ours.cpu / naive.cpu:.2f}x   (target <= 0.25x)")


async def run(plane: ControlPlane, objects: int, changes: int, rounds: int) -> None:
    async with KubeClient(plane.cluster_config(), qps=math.inf) as kube:
        await install_crds(kube, crds_dir_from_env(DEFAULT_CRDS))
        replay = await prepare(kube, objects, changes)

    live = Source("live kube-apiserver (etcd replay)", plane.cluster_config(),
                  plane.kubeconfig_path)
    with tempfile.TemporaryDirectory(prefix="watch-bench-") as scratch:
        recording = Path(scratch) / "stream.jsonl"
        chunks = await record(live, replay, recording)
        size = recording.stat().st_size
        print(f"recorded {size / 1e6:.1f} MB in {chunks} chunks "
              f"({replay.events / chunks:.1f} events per chunk from the live server)")

        await compare(live, replay, rounds)

        source, child = await start_recording_server(recording, Path(scratch))
        try:
            await compare(source, replay, rounds)
        finally:
            child.terminate()
            await child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=200)
    parser.add_argument("--changes", type=int, default=12_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve_recording(args.serve)
        return

    with ControlPlane(extra_apiserver_args=APISERVER_ARGS) as plane:
        asyncio.run(run(plane, args.objects, args.changes, args.rounds))


if __name__ == "__main__":
    main()
