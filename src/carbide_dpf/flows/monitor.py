"""The monitor flow: drive every DPU of one host to Ready.

The operator does the work; the host's owner has two parts to play (DPF-OPERATOR.md): release
the node's hold when a DPU enters "Node Effect", and power-cycle the host when the DPUNode
asks for an external reboot, then remove the request. `monitor_host` plays both through a
`DpuWatcher` scoped to the host's DPUNode, until every DPU named is Ready, one is in Error
(`DpuFailedError`) or the time is up (`FlowTimeoutError`).

Why it is safe to run again after an interruption: both actions read the live state first.
Releasing a hold that is already released writes "false" again; a reboot request whose
annotation is already gone is taken as done (the operator sets the annotation before it marks
any DPU as waiting, so a waiting DPU without the annotation means someone cleared it). DPUs
already Ready end the flow at once.

One power cycle per request, not per DPU: the operator asks once per node for all the DPUs
that reached Rebooting together, and each of them enters the watcher's reboot state. Their
callbacks are serialised by one lock per monitor; the first power-cycles and removes the
annotation, the others then find it gone. (Two monitors of the same host in two processes
would both reboot: run one per host.)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from carbide_dpf.errors import FieldProblem, FlowTimeoutError
from carbide_dpf.flows.errors import DpuFailedError, FlowActionError
from carbide_dpf.kube.conditions import is_condition_true
from carbide_dpf.models.phase import DpuPhase
from carbide_dpf.models.registry import DPU, DPU_NODE
from carbide_dpf.redfish import RedfishClient
from carbide_dpf.sdk import REBOOT_REQUIRED_ANNOTATION, DpfSdk, DpuState, SecretStr, dpu_name
from carbide_dpf.sdk import validation as v
from carbide_dpf.sdk.labels import DPUNODE_NAME_LABEL
from carbide_dpf.watcher import (
    CallbackFailure,
    DpuEvent,
    DpuWatcher,
    MaintenanceNeeded,
    RebootRequired,
)

__all__ = [
    "BmcTarget",
    "Host",
    "MonitorResult",
    "PowerCycler",
    "monitor_host",
    "redfish_power_cycler",
]

log = logging.getLogger(__name__)

PowerCycler = Callable[[], Awaitable[object]]
"""Power-cycles the host and returns once it is back on (a Redfish call, or a stand-in)."""

_REBOOT_IN_PROGRESS = "DPUNodeRebootInProgress"
_CALLBACK_NAMES = {"on_maintenance_needed": "releasing the hold",
                   "on_reboot_required": "power-cycling the host"}


@dataclass(frozen=True, slots=True)
class Host:
    """One host: its DPUNode and the names of the DPUs the flow waits for."""

    node_name: str
    dpu_names: tuple[str, ...]

    @classmethod
    def from_devices(cls, node_name: str, device_names: Sequence[str]) -> Host:
        """The host whose DPUs are those of `device_names` on `node_name`."""
        return cls(node_name, tuple(dpu_name(node_name, d) for d in device_names))

    def validate(self) -> None:
        """Raise `ValidationError` when a name breaks the operator's rules."""
        problems = v.check_node_name("node", self.node_name)
        if not self.dpu_names:
            problems.append(FieldProblem("dpus", "required", "name at least one DPU"))
        for index, name in enumerate(self.dpu_names):
            problems += v.check_dns_label(f"dpus[{index}]", name, "DPU")
        v.raise_if_any(problems)


@dataclass(frozen=True, slots=True)
class BmcTarget:
    """The host's BMC as Redfish sees it. The password never shows in repr or logs."""

    url: str
    username: str
    password: SecretStr = field(repr=False)
    verify: bool | str = True
    system_id: str | None = None

    def client(self, **kwargs: Any) -> RedfishClient:
        """A `RedfishClient` for this BMC; `kwargs` go to its constructor."""
        return RedfishClient(self.url, username=self.username,
                             password=self.password.reveal(), verify=self.verify,
                             system_id=self.system_id, **kwargs)


def redfish_power_cycler(target: BmcTarget, *, timeout: float = 600.0,
                         poll_interval: float = 2.0) -> PowerCycler:
    """Return a `PowerCycler` that power-cycles `target`'s host and waits until it is On."""

    async def power_cycle() -> object:
        async with target.client() as client:
            return await client.power_cycle_host(timeout=timeout, poll_interval=poll_interval)

    return power_cycle


@dataclass(frozen=True, slots=True)
class MonitorResult:
    """How a monitor run ended: every DPU Ready, and what the flow did to get there."""

    node_name: str
    dpus: tuple[DpuState, ...]
    holds_released: int
    power_cycles: int
    seconds: float


async def monitor_host(
    sdk: DpfSdk,
    host: Host,
    power_cycle: PowerCycler,
    *,
    timeout: float = 1800.0,  # noqa: ASYNC109 - seconds, as the CLI's --timeout
    **watcher_options: Any,
) -> MonitorResult:
    """Release holds and reboot the host on request until every DPU of `host` is Ready.

    Raises `DpuFailedError` when one of them is in Error, `FlowActionError` when an action
    kept failing after the watcher's retries, `FlowTimeoutError` after `timeout` seconds.
    `watcher_options` go to the `DpuWatcher` (e.g. `retry_backoff`, `ledger_annotation`).
    """
    host.validate()
    monitor = _Monitor(sdk, host, power_cycle)
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            await monitor.run(watcher_options)
    except TimeoutError:
        raise FlowTimeoutError(
            f"DPUs of DPUNode {sdk.namespace}/{host.node_name} not Ready within "
            f"{timeout:.0f}s ({monitor.describe()}); run the command again to keep "
            "waiting, or `carbide-dpf status --node` to see where they stand") from None

    log.info("host ready dpunode=%s dpus=%d holds_released=%d power_cycles=%d ns=%s",
             host.node_name, len(host.dpu_names), monitor.holds_released,
             monitor.power_cycles, sdk.namespace)
    return MonitorResult(host.node_name, monitor.ready_states(), monitor.holds_released,
                         monitor.power_cycles, round(time.monotonic() - started, 3))


class _Monitor:
    """The callbacks and the end condition of one `monitor_host` run."""

    def __init__(self, sdk: DpfSdk, host: Host, power_cycle: PowerCycler) -> None:
        self._sdk = sdk
        self._host = host
        self._power_cycle = power_cycle
        self._reboot_lock = asyncio.Lock()
        self._outcome: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watcher: DpuWatcher | None = None
        self._last: dict[str, dict[str, Any]] = {}
        """The awaited DPUs as last seen, kept for the result after the watcher stops."""
        self.holds_released = 0
        self.power_cycles = 0

    async def run(self, watcher_options: dict[str, Any]) -> None:
        """Watch the node's DPUs until the outcome is known; raise it if it is an error."""
        config = self._sdk.config
        selector = f"{config.dpu_selector},{DPUNODE_NAME_LABEL}={self._host.node_name}"
        watcher_options.setdefault("label_selector", selector)
        watcher = self._watcher = self._sdk.watcher(**watcher_options)
        watcher.on_dpu_event(self._on_event)
        watcher.on_maintenance_needed(self._release_hold)
        watcher.on_reboot_required(self._reboot)
        watcher.on_callback_failed(self._gave_up)

        async with watcher:
            self._check_done()
            await asyncio.shield(self._outcome)

    # -- the end condition ---------------------------------------------------------------

    def _live(self) -> dict[str, dict[str, Any]]:
        """The host's DPUs as the watcher's store has them, without those being deleted."""
        if self._watcher is None:
            return {}
        store, ns = self._watcher.informer.store, self._sdk.namespace
        found = {}
        for name in self._host.dpu_names:
            obj = store.get(f"{ns}/{name}")
            if obj is not None and not obj["metadata"].get("deletionTimestamp"):
                found[name] = obj
        return found

    def _check_done(self) -> None:
        if self._outcome.done():
            return
        live = self._last = self._live()
        for name, obj in live.items():
            status = obj.get("status") or {}
            if status.get("phase") == DpuPhase.ERROR:
                reason, message = _failing_condition(status)
                self._outcome.set_exception(
                    DpuFailedError(self._sdk.namespace, name, reason, message))
                return
        if len(live) == len(self._host.dpu_names) and all(
                (obj.get("status") or {}).get("phase") == DpuPhase.READY
                for obj in live.values()):
            self._outcome.set_result(None)

    async def _on_event(self, event: DpuEvent) -> None:
        log.debug("dpu event dpu=%s phase=%s type=%s", event.name, event.phase, event.type)
        self._check_done()

    def describe(self) -> str:
        """Each awaited DPU and its last known phase, for a timeout message."""
        live = self._last
        phases = [
            f"{name}: {(live[name].get('status') or {}).get('phase') or 'no phase'}"
            if name in live else f"{name}: not created"
            for name in self._host.dpu_names
        ]
        return ", ".join(phases)

    def ready_states(self) -> tuple[DpuState, ...]:
        """The DPUs' final states, in the order the host names them."""
        label = self._sdk.config.host_bmc_ip_label
        live = self._last
        return tuple(DpuState.from_object(live[n], label) for n in self._host.dpu_names
                     if n in live)

    def _gave_up(self, failure: CallbackFailure) -> None:
        action = _CALLBACK_NAMES.get(failure.callback)
        if action is None or self._outcome.done():
            return
        self._outcome.set_exception(
            FlowActionError(action, failure.event.name, failure.attempts, failure.error))

    # -- the actions ---------------------------------------------------------------------

    async def _release_hold(self, event: MaintenanceNeeded) -> None:
        """Release the node's hold; the operator may create the hold a moment after the
        phase, so wait for it while the DPU stays in Node Effect."""
        node, poll = self._host.node_name, self._sdk.config.poll_interval
        while True:
            if await self._sdk.release_maintenance_hold(node):
                self.holds_released += 1
                return
            if not await self._still_in(event, DpuPhase.NODE_EFFECT):
                log.debug("no hold needed dpu=%s dpunode=%s", event.name, node)
                return
            await asyncio.sleep(poll)

    async def _reboot(self, event: RebootRequired) -> None:
        """Power-cycle the host once for the node's pending request, then clear it."""
        node, ns = self._host.node_name, self._sdk.namespace
        async with self._reboot_lock:
            while True:
                obj = await self._sdk.kube.get(DPU_NODE, node, ns)
                meta = obj.get("metadata") or {}
                if REBOOT_REQUIRED_ANNOTATION in (meta.get("annotations") or {}):
                    break
                # No request: either another DPU's callback (or an earlier run) served it,
                # or the operator has marked the DPU before writing the annotation.
                if is_condition_true(obj, _REBOOT_IN_PROGRESS) or not await self._still_in(
                        event, DpuPhase.REBOOTING):
                    log.debug("reboot already served dpu=%s dpunode=%s", event.name, node)
                    return
                await asyncio.sleep(self._sdk.config.poll_interval)

            log.info("power cycling host dpunode=%s for dpu=%s ns=%s", node, event.name, ns)
            await self._power_cycle()
            self.power_cycles += 1
            await self._sdk.reboot_complete(node)

    async def _still_in(self, event: DpuEvent, phase: DpuPhase) -> bool:
        """Whether the event's DPU (same uid) is still in `phase` on the API server."""
        obj = await self._sdk.kube.get_or_none(DPU, event.name, event.namespace)
        if obj is None or obj["metadata"].get("uid") != event.uid:
            return False
        return (obj.get("status") or {}).get("phase") == phase


def _failing_condition(status: dict[str, Any]) -> tuple[str | None, str | None]:
    for condition in status.get("conditions") or []:
        if condition.get("status") == "False" and condition.get("message"):
            return condition.get("reason"), condition.get("message")
    return None, None
