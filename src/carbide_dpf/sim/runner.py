"""`Simulator`: the informers, the controllers, and the wiring of events to work queues.

Handlers only put keys on queues (they run in the informer tasks and must not block). Which
controller hears of which change is decided here, in one place:

- a DPU change wakes the DPU; a change of its phase or deletion also wakes its DPUNode (the
  reboot and the node status) and its DPUSet (recreation at once on DELETED; statistics and
  the rolling update, batched, otherwise);
- a DPUNode or DPUDevice change of labels, spec or deletion wakes the DPUSets of its namespace;
- a DPUNodeMaintenance change wakes the DPUs of its node; a BFB change wakes the DPUs using it;
- BFBs, DPUFlavors and DPUSets wake the DPUDeployments that depend on them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Mapping
from types import TracebackType

from carbide_dpf.kube.client import KubeClient, KubeObject
from carbide_dpf.kube.informer import EventType, Informer, InformerEvent, compact_object
from carbide_dpf.kube.resource import ResourceKind
from carbide_dpf.models.phase import DpuPhase
from carbide_dpf.sim.base import Controller, SimContext
from carbide_dpf.sim.bfb import BfbController
from carbide_dpf.sim.config import SimConfig
from carbide_dpf.sim.deployment import DeploymentController
from carbide_dpf.sim.device import DeviceController
from carbide_dpf.sim.dpu import DpuController, phase_of
from carbide_dpf.sim.dpuset import DpuSetController
from carbide_dpf.sim.faults import FaultPlan
from carbide_dpf.sim.maintenance import MaintenanceController
from carbide_dpf.sim.node import NodeController
from carbide_dpf.sim.objects import (
    BFB,
    DPU,
    DPU_DEPLOYMENT,
    DPU_DEVICE,
    DPU_FLAVOR,
    DPU_NODE,
    DPU_NODE_MAINTENANCE,
    DPU_SET,
    DPUNODE_LABEL,
    DPUSET_LABEL,
    DPUSET_NAMESPACE_LABEL,
    OWNED_BY_DEPLOYMENT_LABEL,
    is_deleting,
    key_of,
    labels,
)

__all__ = ["Simulator"]

log = logging.getLogger(__name__)

# Changes from many objects (device labels at start, node registrations) are gathered this
# long before the DPUSet, whose reconcile walks every node, looks at them.
_BATCH = 0.05
_SYNC_TIMEOUT = 60.0

Indexer = Callable[[KubeObject], Iterable[str]]


def _namespaced(obj: KubeObject, value: str | None) -> list[str]:
    return [f"{obj['metadata'].get('namespace', '')}/{value}"] if value else []


def _dpu_indexers() -> dict[str, Indexer]:
    return {
        "node": lambda o: _namespaced(o, (o.get("spec") or {}).get("dpuNodeName")),
        "bfb": lambda o: _namespaced(o, (o.get("spec") or {}).get("bfb")),
        "dpuset": lambda o: (
            [f"{labels(o)[DPUSET_NAMESPACE_LABEL]}/{labels(o)[DPUSET_LABEL]}"]
            if DPUSET_LABEL in labels(o) and DPUSET_NAMESPACE_LABEL in labels(o) else []
        ),
    }


def _node_devices(obj: KubeObject | None) -> list[str]:
    if obj is None:
        return []
    names = [d.get("name") for d in (obj.get("spec") or {}).get("dpus") or []]
    return [v for n in names if n for v in _namespaced(obj, n)]


def _shape_changed(event: InformerEvent) -> bool:
    # Labels, spec (generation), finalizers or deletion: what reconciles depend on; status
    # is not (and the controllers' own status writes must not wake them again).
    if event.type is not EventType.MODIFIED or event.old is None:
        return True
    old, new = event.old["metadata"], event.obj["metadata"]
    return (
        old.get("labels") != new.get("labels")
        or old.get("generation") != new.get("generation")
        or old.get("finalizers") != new.get("finalizers")
        or bool(old.get("deletionTimestamp")) != bool(new.get("deletionTimestamp"))
    )


def _matters_to_node(event: InformerEvent) -> bool:
    # The node acts when a DPU reaches or leaves Rebooting (the reboot) or Ready (its Ready
    # condition), stops installing (Error, Deleting: a sibling may now be rebooted alone),
    # appears, goes, or is being deleted; waking it on every other step would keep a fleet's
    # node queue busy for nothing.
    if event.type is not EventType.MODIFIED or event.old is None:
        return True
    if is_deleting(event.old) != is_deleting(event.obj):
        return True
    watched = (DpuPhase.REBOOTING, DpuPhase.READY, DpuPhase.ERROR, DpuPhase.DELETING)
    return any(p in watched for p in (phase_of(event.old), phase_of(event.obj)))


class Simulator:
    """Plays the DPF operator's part against an API server until stopped.

    Use as `async with Simulator(kube, config) as sim:`. All state that matters lives in the
    Kubernetes objects, so a simulator stopped mid-flight and a new one started on the same
    objects carry on where the first left off. Faults can be changed while it runs through
    `sim.faults`.
    """

    def __init__(self, kube: KubeClient, config: SimConfig | None = None) -> None:
        """Prepare informers and controllers; nothing runs until `start()`."""
        self.config = config or SimConfig()
        self.faults = FaultPlan(self.config.faults)
        namespace = self.config.namespace
        self._informers: dict[ResourceKind, Informer] = {
            kind: Informer(kube, kind, namespace=namespace, indexers=indexers,
                           transform=compact_object)
            for kind, indexers in self._indexers().items()
        }
        stores = {kind: informer.store for kind, informer in self._informers.items()}
        self.context = SimContext(
            kube=kube, config=self.config, faults=self.faults,
            bfbs=stores[BFB], flavors=stores[DPU_FLAVOR], deployments=stores[DPU_DEPLOYMENT],
            dpusets=stores[DPU_SET], devices=stores[DPU_DEVICE], nodes=stores[DPU_NODE],
            dpus=stores[DPU], maintenances=stores[DPU_NODE_MAINTENANCE],
        )
        workers = self.config.workers
        self.bfb = BfbController(self.context, 1)
        self.deployment = DeploymentController(self.context, 1)
        self.dpuset = DpuSetController(self.context, 1)
        self.device = DeviceController(self.context, workers)
        self.node = NodeController(self.context, workers)
        self.maintenance = MaintenanceController(self.context, workers)
        self.dpu = DpuController(self.context, self.config.dpu_workers)
        self._wire()
        self.faults.on_change(self._faults_changed)
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def controllers(self) -> tuple[Controller, ...]:
        """Every controller, in start order."""
        return (self.bfb, self.deployment, self.dpuset, self.device, self.node,
                self.maintenance, self.dpu)

    async def __aenter__(self) -> Simulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        """Start the informers, wait until each has listed, then start the controllers."""
        for kind, informer in self._informers.items():
            self._tasks.append(asyncio.create_task(informer.run(), name=f"sim-informer-{kind}"))
        try:
            async with asyncio.timeout(_SYNC_TIMEOUT):
                await asyncio.gather(*(i.wait_synced() for i in self._informers.values()))
        except BaseException:
            await self.stop()
            raise
        for controller in self.controllers:
            controller.start()
        log.info("simulator started namespace=%s", self.config.namespace or "*")

    async def stop(self) -> None:
        """Stop the controllers (in-flight requests are cancelled) and the informers."""
        await asyncio.gather(*(c.stop() for c in self.controllers))
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        log.info("simulator stopped namespace=%s", self.config.namespace or "*")

    async def run_forever(self) -> None:
        """Run until cancelled."""
        async with self:
            await asyncio.Event().wait()

    def _indexers(self) -> Mapping[ResourceKind, Mapping[str, Indexer]]:
        return {
            BFB: {},
            DPU_FLAVOR: {},
            DPU_DEPLOYMENT: {},
            DPU_SET: {"deployment": lambda o: [v] if (v := labels(o).get(
                OWNED_BY_DEPLOYMENT_LABEL)) else []},
            DPU_DEVICE: {"node": lambda o: _namespaced(o, labels(o).get(DPUNODE_LABEL))},
            DPU_NODE: {"device": _node_devices},
            DPU: _dpu_indexers(),
            DPU_NODE_MAINTENANCE: {},
        }

    def _wire(self) -> None:
        handlers: dict[ResourceKind, Callable[[InformerEvent], None]] = {
            BFB: self._on_bfb,
            DPU_FLAVOR: self._on_flavor,
            DPU_DEPLOYMENT: lambda e: self.deployment.queue.add(key_of(e.obj)),
            DPU_SET: self._on_dpuset,
            DPU_DEVICE: self._on_device,
            DPU_NODE: self._on_node,
            DPU: self._on_dpu,
            DPU_NODE_MAINTENANCE: self._on_maintenance,
        }
        for kind, handler in handlers.items():
            self._informers[kind].add_handler(handler)

    def _deployments_of(self, obj: KubeObject) -> list[str]:
        namespace = obj["metadata"].get("namespace")
        return [key_of(d) for d in self.context.deployments.list()
                if d["metadata"].get("namespace") == namespace]

    def _dpusets_of(self, obj: KubeObject) -> list[str]:
        namespace = obj["metadata"].get("namespace")
        return [key_of(s) for s in self.context.dpusets.list()
                if s["metadata"].get("namespace") == namespace]

    def _on_bfb(self, event: InformerEvent) -> None:
        self.bfb.queue.add(key_of(event.obj))
        for key in self._deployments_of(event.obj):
            self.deployment.queue.add(key)
        for dpu in self.context.dpus.by_index("bfb", key_of(event.obj)):
            self.dpu.queue.add(key_of(dpu))

    def _on_flavor(self, event: InformerEvent) -> None:
        for key in self._deployments_of(event.obj):
            self.deployment.queue.add(key)

    def _on_dpuset(self, event: InformerEvent) -> None:
        if _shape_changed(event):
            self.dpuset.queue.add(key_of(event.obj))
        owner = labels(event.obj).get(OWNED_BY_DEPLOYMENT_LABEL, "")
        namespace, _, name = owner.partition("_")
        if name:
            self.deployment.queue.add_after(f"{namespace}/{name}", self.config.statistics_interval)

    def _on_device(self, event: InformerEvent) -> None:
        self.device.queue.add(key_of(event.obj))
        if _shape_changed(event):
            for key in self._dpusets_of(event.obj):
                self.dpuset.queue.add_after(key, _BATCH)

    def _on_node(self, event: InformerEvent) -> None:
        key = key_of(event.obj)
        self.node.queue.add(key)
        for device in {*_node_devices(event.obj), *_node_devices(event.old)}:
            self.device.queue.add(device)
        for dpu in self.context.dpus.by_index("node", key):
            self.dpu.queue.add(key_of(dpu))
        if _shape_changed(event):
            for dpuset in self._dpusets_of(event.obj):
                self.dpuset.queue.add_after(dpuset, _BATCH)

    def _on_dpu(self, event: InformerEvent) -> None:
        dpu = event.obj
        self.dpu.queue.add(key_of(dpu))
        old = event.old
        moved = (
            event.type is not EventType.MODIFIED
            or phase_of(old) != phase_of(dpu)
            or (old is not None and is_deleting(old) != is_deleting(dpu))
        )
        if not moved:
            return

        node = (dpu.get("spec") or {}).get("dpuNodeName")
        if node and _matters_to_node(event):
            self.node.queue.add(f"{dpu['metadata']['namespace']}/{node}")
        dpu_labels = labels(dpu)
        if DPUSET_LABEL in dpu_labels:
            owner = f"{dpu_labels.get(DPUSET_NAMESPACE_LABEL, '')}/{dpu_labels[DPUSET_LABEL]}"
            if event.type is EventType.DELETED:
                self.dpuset.queue.add(owner)  # recreate at once
            else:
                self.dpuset.queue.add_after(owner, self.config.statistics_interval)

    def _on_maintenance(self, event: InformerEvent) -> None:
        hold = event.obj
        self.maintenance.queue.add(key_of(hold))
        node = (hold.get("spec") or {}).get("dpuNodeName")
        for dpu in self.context.dpus.by_index("node", f"{hold['metadata']['namespace']}/{node}"):
            self.dpu.queue.add(key_of(dpu))

    def _faults_changed(self) -> None:
        dpus, nodes = self.context.dpus.keys(), self.context.nodes.keys()
        for key in dpus:
            self.dpu.queue.add(key)
        for key in nodes:
            self.node.queue.add(key)

