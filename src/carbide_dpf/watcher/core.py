"""DpuWatcher: DPU changes in, user callbacks out, once, in order, under leader election.

Semantics (docs/watcher.md says the same at more length):

- `on_dpu_event(event: DpuEvent)`: every observed change of a DPU in scope (ADDED, MODIFIED,
  DELETED). A change that only touched the watcher's own ledger annotation is not a change.
- `on_phase_change(event: PhaseChange)`: once per observed transition, with `previous_phase`
  (None when the watcher had not seen the DPU with a phase) and `phase`. Transitions the
  informer did not see (several inside a watch outage) arrive as one, from the last phase seen
  to the current one.
- `on_maintenance_needed` (phase "Node Effect"), `on_reboot_required` (phase "Rebooting" with
  `Rebooted=False` reason WaitingForManualPowerCycleOrReboot), `on_dpu_ready` ("Ready"),
  `on_error` ("Error"): once per entry of a DPU, identified by its uid, into that state. Just
  before calling them the watcher reads the DPU from the API server and calls nothing if the
  DPU is gone, was recreated, has left the state, or its ledger says the state was delivered.
  After success the state is written to the ledger annotation on the DPU
  (`watcher.carbide.nvidia.com/delivered`), so neither this process nor a next leader repeats
  it. A state is delivered again only by a resync (a new leader, or every `resync_period`)
  and only if its earlier delivery failed or never happened.
- Delivery: the callbacks of one DPU run in event order, one at a time; at most `concurrency`
  DPUs are served at once. A callback that raises is retried with exponential backoff
  (`retry_backoff`) while other DPUs proceed; the DPU's later events wait behind it. After
  `max_retries` retries the failure is logged at ERROR, counted, and passed to the
  `on_callback_failed` hooks; the DPU's next events are then delivered.
- Callbacks may be `async def` (run on the loop) or plain functions (run in a thread pool of
  `concurrency` threads, so they never block the loop).
- Leader election (`leader_election=LeaderElectionConfig(...)`): every replica keeps its
  informer warm, only the leader calls callbacks. On becoming leader a replica resyncs the
  state callbacks from its store (it does not replay `on_dpu_event` / `on_phase_change`); on
  losing the Lease it stops at once: nothing new starts and async callbacks in flight are
  cancelled (a plain function already running in a thread cannot be interrupted).
- At least once, not exactly once: a crash or lost Lease between a callback's success and the
  ledger write lets the next leader call it again. Make state callbacks idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from carbide_dpf.errors import DpfError
from carbide_dpf.kube.client import KubeClient, KubeObject
from carbide_dpf.kube.informer import (
    EventType,
    Informer,
    InformerEvent,
    compact_object,
    key_of,
)
from carbide_dpf.kube.leader import LeaderElectionConfig, LeaderElector
from carbide_dpf.kube.ratelimit import ExponentialBackoff
from carbide_dpf.models.registry import DPU
from carbide_dpf.watcher.delivery import KeyedDispatcher
from carbide_dpf.watcher.events import (
    HOST_BMC_IP_LABEL,
    CallbackFailure,
    DpuEvent,
    DpuEventType,
    DpuState,
    as_phase_change,
    as_state_event,
    build_event,
    phase_of,
    state_of,
)
from carbide_dpf.watcher.ledger import LEDGER_ANNOTATION, Ledger
from carbide_dpf.watcher.metrics import WatcherMetrics

__all__ = ["DpuWatcher", "WatcherError"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_STATE_CALLBACKS: dict[DpuState, str] = {
    DpuState.MAINTENANCE_NEEDED: "on_maintenance_needed",
    DpuState.REBOOT_REQUIRED: "on_reboot_required",
    DpuState.READY: "on_dpu_ready",
    DpuState.ERROR: "on_error",
}
_CALLBACKS = ("on_dpu_event", "on_phase_change", *_STATE_CALLBACKS.values())
_INFORMER_TYPES = {
    EventType.ADDED: DpuEventType.ADDED,
    EventType.MODIFIED: DpuEventType.MODIFIED,
    EventType.DELETED: DpuEventType.DELETED,
}
# Metadata whose change is a change of the DPU (resourceVersion, managedFields are not).
_META_FIELDS = ("labels", "deletionTimestamp", "finalizers", "ownerReferences", "generation")


class WatcherError(DpfError):
    """The watcher could not start or was used wrongly; the message says what to fix."""


@dataclass(slots=True)
class _Delivery:
    """One event for one registration, as it waits in the DPU's queue."""

    callback: str
    event: DpuEvent
    state: DpuState | None = None
    done: set[int] = field(default_factory=set)
    """Indices of the registration's callables that already succeeded (not re-run)."""
    live: KubeObject | None = None
    """For a state delivery, the DPU as read just before the callbacks ran."""


class DpuWatcher:
    """Turn DPU changes into callbacks; see the module docstring for the exact semantics."""

    def __init__(
        self,
        kube: KubeClient,
        *,
        namespace: str,
        label_selector: str | None = None,
        concurrency: int = 16,
        max_retries: int = 5,
        retry_backoff: ExponentialBackoff | None = None,
        leader_election: LeaderElectionConfig | None = None,
        ledger_annotation: str | None = LEDGER_ANNOTATION,
        host_bmc_ip_label: str = HOST_BMC_IP_LABEL,
        resync_period: float | None = 300.0,
        registry: CollectorRegistry | None = None,
        sync_timeout: float = 60.0,
        shutdown_timeout: float = 10.0,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        """Configure the watcher; nothing runs before `async with` (or `run()`, `start()`).

        `namespace` and `label_selector` scope the DPUs watched. `retry_backoff` defaults to
        0.5 s doubling to 30 s with 20 % jitter. `ledger_annotation=None` keeps the ledger in
        memory only (no write to the DPU; a handover may then repeat state callbacks).
        `registry` receives the Prometheus metrics (default: a private one).
        `host_bmc_ip_label` is the DPU label holding the host BMC address (the SDK's
        `SdkConfig.host_bmc_ip_label`, by default `carbide.nvidia.com/host-bmc-ip`).
        `loop` is where `start()` runs the watcher from synchronous code: the running loop
        (in another thread) that `kube` belongs to; `SyncDpfSdk.watcher()` passes its own.
        """
        self._kube = kube
        self.namespace = namespace
        self.label_selector = label_selector
        self._concurrency = concurrency
        self._election = leader_election
        self._bmc_label = host_bmc_ip_label
        self._resync_period = resync_period
        self._sync_timeout = sync_timeout
        self._shutdown_timeout = shutdown_timeout
        self._handlers: dict[str, list[Callable[..., Any]]] = {name: [] for name in _CALLBACKS}
        self._failure_hooks: list[Callable[[CallbackFailure], Any]] = []

        self.metrics = WatcherMetrics(registry)
        self._m_events = self.metrics.for_events(t.value for t in DpuEventType)
        self._m_callbacks = self.metrics.for_callbacks(_CALLBACKS)
        self.ledger = Ledger(kube, DPU, ledger_annotation)
        self._max_retries = max_retries
        self._retry_backoff = retry_backoff or ExponentialBackoff(0.5, 30.0, jitter=0.2)
        self._dispatcher = self._fresh_dispatcher()
        self._informer: Informer | None = None
        self._elector: LeaderElector | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._leading = False
        self._leading_event = asyncio.Event()
        self._running = False
        self._stopping = False
        self._thread: _LoopThread | None = None
        self._loop = loop

    # --- registration ----------------------------------------------------------------------

    def on_dpu_event(self, fn: F) -> F:
        """Call `fn(event: DpuEvent)` for every observed change of a DPU."""
        return self._register("on_dpu_event", fn)

    def on_phase_change(self, fn: F) -> F:
        """Call `fn(event: PhaseChange)` once per phase transition."""
        return self._register("on_phase_change", fn)

    def on_maintenance_needed(self, fn: F) -> F:
        """Call `fn(event: MaintenanceNeeded)` once per DPU entering "Node Effect"."""
        return self._register("on_maintenance_needed", fn)

    def on_reboot_required(self, fn: F) -> F:
        """Call `fn(event: RebootRequired)` once per DPU waiting for a host power cycle."""
        return self._register("on_reboot_required", fn)

    def on_dpu_ready(self, fn: F) -> F:
        """Call `fn(event: DpuReady)` once per DPU entering "Ready"."""
        return self._register("on_dpu_ready", fn)

    def on_error(self, fn: F) -> F:
        """Call `fn(event: DpuFailed)` once per DPU entering "Error"."""
        return self._register("on_error", fn)

    def on_callback_failed(self, fn: F) -> F:
        """Call `fn(failure: CallbackFailure)` when a delivery is given up after its retries."""
        self._failure_hooks.append(fn)
        return fn

    def _register(self, name: str, fn: F) -> F:
        if not callable(fn):
            raise WatcherError(f"{name} needs a callable, got {type(fn).__name__}")
        self._handlers[name].append(fn)
        return fn

    # --- state -------------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        """Whether this watcher currently runs callbacks (always True without election)."""
        return self._leading

    @property
    def informer(self) -> Informer:
        """The DPU informer (its `store` holds every DPU in scope); only while running."""
        if self._informer is None:
            raise WatcherError("the watcher is not running; use `async with watcher:` first")
        return self._informer

    @property
    def queue_depth(self) -> int:
        """Deliveries queued or running."""
        return len(self._dispatcher)

    async def wait_idle(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until no delivery is queued or running (tests and benchmarks)."""
        async with asyncio.timeout(timeout):
            await self._dispatcher.join()

    async def wait_leading(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until this watcher leads (returns at once without leader election)."""
        async with asyncio.timeout(timeout):
            await self._leading_event.wait()

    # --- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> DpuWatcher:
        """Start: list and watch the DPUs, then (elect and) deliver; returns once synced."""
        if self._running:
            raise WatcherError("the watcher is already running; stop it before starting again")
        self._running = True
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop: finish the callbacks in flight (up to `shutdown_timeout`), release the Lease."""
        await self._stop()

    async def run(self) -> None:
        """Run until cancelled."""
        async with self:
            await asyncio.Event().wait()

    def start(self, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start from synchronous code: on `loop` (running in another thread; default: the
        constructor's `loop`), else on a new event loop in a background thread. The
        `KubeClient` must belong to that loop (or not have been used yet). Returns once the
        watcher runs; `stop()` ends it."""
        if self._thread is not None:
            raise WatcherError("the watcher was already started; call stop() first")
        self._thread = _LoopThread(loop or self._loop)
        self._thread.call(self.__aenter__(), timeout=self._sync_timeout + 30.0)

    def stop(self) -> None:
        """Stop a watcher started with `start()`, and its background loop if it made one."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        try:
            thread.call(self.__aexit__(None, None, None), timeout=self._shutdown_timeout + 30.0)
        finally:
            thread.close()

    def __enter__(self) -> DpuWatcher:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _start(self) -> None:
        self._executor = ThreadPoolExecutor(self._concurrency, thread_name_prefix="dpu-watcher")
        informer = self._informer = Informer(
            self._kube, DPU, namespace=self.namespace, label_selector=self.label_selector,
            transform=compact_object,
        )
        informer.add_handler(self._on_informer_event)
        self.metrics.bind(lambda: float(len(self._dispatcher)), lambda: float(informer.relists))
        self._dispatcher.start()
        if self._election is None:
            self._set_leading(True)
        self._spawn(informer.run(), "dpu-watcher-informer")

        try:
            await informer.wait_synced(self._sync_timeout)
        except TimeoutError as exc:
            raise WatcherError(
                f"could not list DPUs in namespace {self.namespace!r} within "
                f"{self._sync_timeout:.0f} s; check the API server address and that this "
                "identity may list and watch dpus.provisioning.dpu.nvidia.com"
            ) from exc
        log.info("dpu watcher synced ns=%s selector=%s dpus=%d", self.namespace,
                 self.label_selector or "-", len(informer.store))

        if self._election is not None:
            self._elector = LeaderElector(self._kube, self._election, namespace=self.namespace)
            self._elector.add_listener(self._on_leadership)
            self._spawn(self._elector.run(), "dpu-watcher-election")
        if self._resync_period:
            self._spawn(self._resync_loop(self._resync_period), "dpu-watcher-resync")

    async def _stop(self) -> None:
        # Order matters: finish (or cancel) our callbacks while still holding the Lease, so a
        # next leader never runs a callback of ours that is still in flight; then release.
        self._stopping = True
        drained = await self._dispatcher.stop(self._shutdown_timeout)
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._elector is not None and drained:
            await self._elector.release()
        elif self._elector is not None:
            # A plain function may still run in its thread: releasing now would let the next
            # leader start the same callback beside it. The Lease expires on its own instead.
            log.warning("dpu watcher stopped with callbacks still running ns=%s; the Lease "
                        "is left to expire: the next leader takes over within %.0f s",
                        self.namespace, self._elector.config.lease_duration)
        self._elector = None
        self._set_leading(False)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        self._informer = None
        self._running = False
        self._stopping = False
        # Fresh loop-bound primitives: a next start may run on another event loop.
        self._dispatcher = self._fresh_dispatcher()
        self._leading_event = asyncio.Event()
        log.info("dpu watcher stopped ns=%s", self.namespace)

    def _fresh_dispatcher(self) -> KeyedDispatcher[str, _Delivery]:
        return KeyedDispatcher(
            self._deliver,
            concurrency=self._concurrency,
            max_retries=self._max_retries,
            backoff=self._retry_backoff,
            on_give_up=self._give_up,
            on_retry=self._retrying,
            name="dpu-watcher",
        )

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        self._tasks.append(asyncio.create_task(_checked(coro, name), name=name))

    # --- leadership --------------------------------------------------------------------------

    def _on_leadership(self, leading: bool) -> None:
        # Called in the elector's task. Flip the flag first: it gates every callback.
        self._set_leading(leading)
        if self._stopping:
            return  # _stop() drains and resets itself
        what = self._elected() if leading else self._deposed()
        self._spawn(what, "dpu-watcher-elected" if leading else "dpu-watcher-deposed")

    def _set_leading(self, leading: bool) -> None:
        self._leading = leading
        if leading:
            self._leading_event.set()
        else:
            self._leading_event.clear()
        self.metrics.is_leader.set(1.0 if leading else 0.0)

    async def _elected(self) -> None:
        await self._dispatcher.reset()
        self.ledger.reset_attempts()
        if self._leading:
            queued = self.resync()
            log.info("dpu watcher leading ns=%s resync_deliveries=%d", self.namespace, queued)

    async def _deposed(self) -> None:
        dropped = len(self._dispatcher)
        await self._dispatcher.reset()
        self.ledger.reset_attempts()
        log.warning("dpu watcher lost leadership ns=%s dropped_deliveries=%d",
                    self.namespace, dropped)

    # --- intake ------------------------------------------------------------------------------

    def _on_informer_event(self, change: InformerEvent) -> None:
        # The hot path: called in the informer's task for every change. Dict work only.
        obj, old = change.obj, change.old
        if change.type is EventType.MODIFIED and old is not None and not self._changed(old, obj):
            return
        type_ = _INFORMER_TYPES[change.type]
        self._m_events[type_].inc()
        if not self._leading:
            return

        event = build_event(type_, obj, old, bmc_label=self._bmc_label)
        key = key_of(obj)
        submit = self._dispatcher.submit
        if self._handlers["on_dpu_event"]:
            submit(key, _Delivery("on_dpu_event", event))
        if (
            self._handlers["on_phase_change"]
            and type_ is not DpuEventType.DELETED
            and event.phase is not None
            and event.phase != event.previous_phase
        ):
            submit(key, _Delivery("on_phase_change", as_phase_change(event)))

        if type_ is DpuEventType.DELETED:
            self.ledger.forget(event.uid)
        else:
            self._maybe_submit_state(key, obj, event, resync=False)

    def _maybe_submit_state(
        self, key: str, obj: KubeObject, event: DpuEvent | None, *, resync: bool
    ) -> bool:
        state = state_of(obj)
        if state is None or not self._handlers[_STATE_CALLBACKS[state]]:
            return False
        uid = str(obj["metadata"].get("uid", ""))
        attempted = self.ledger.attempted(uid, state)
        if attempted and (not resync or self._dispatcher.has_pending(key)):
            return False
        if self.ledger.acknowledged(obj, state):
            return False

        self.ledger.mark_attempted(uid, state)
        if event is None:
            event = build_event(DpuEventType.RESYNC, obj, None, bmc_label=self._bmc_label)
        # The functions that succeeded before an earlier delivery gave up are not run again.
        delivery = _Delivery(_STATE_CALLBACKS[state], as_state_event(event, state), state,
                             done=self.ledger.succeeded(uid, state))
        self._dispatcher.submit(key, delivery)
        return True

    def _changed(self, old: KubeObject, new: KubeObject) -> bool:
        """Whether `new` differs from `old` in more than version bookkeeping and our ledger."""
        if old.get("status") != new.get("status") or old.get("spec") != new.get("spec"):
            return True
        old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
        if any(old_meta.get(f) != new_meta.get(f) for f in _META_FIELDS):
            return True
        old_notes = old_meta.get("annotations") or {}
        new_notes = new_meta.get("annotations") or {}
        if old_notes == new_notes:
            return False
        ours = self.ledger.annotation
        return {k: v for k, v in old_notes.items() if k != ours} != {
            k: v for k, v in new_notes.items() if k != ours
        }

    def resync(self) -> int:
        """Queue the state callbacks that are due and not delivered; return how many.

        Runs on becoming leader and every `resync_period`; a state whose delivery gave up is
        tried again here.
        """
        if not self._leading or self._informer is None:
            return 0
        queued = 0
        for obj in self._informer.store.list():
            if self._maybe_submit_state(key_of(obj), obj, None, resync=True):
                queued += 1
        if queued:
            self._m_events[DpuEventType.RESYNC].inc(queued)
        return queued

    async def _resync_loop(self, period: float) -> None:
        while True:
            await asyncio.sleep(period)
            queued = self.resync()
            log.debug("dpu watcher resync ns=%s deliveries=%d", self.namespace, queued)

    # --- delivery ----------------------------------------------------------------------------

    async def _deliver(self, key: str, delivery: _Delivery, attempt: int) -> None:
        if not self._leading:
            return  # deposed: the queue is being dropped, the next leader resyncs
        if (delivery.state is not None and delivery.live is None
                and not await self._verify(delivery)):
            return

        for index, fn in enumerate(self._handlers[delivery.callback]):
            if index in delivery.done:
                continue
            if not self._leading:
                return  # the Lease went while we were busy: stop acting at once
            await self._call(delivery, fn, attempt)
            delivery.done.add(index)

        if delivery.state is not None and delivery.live is not None:
            await self.ledger.record(delivery.live, delivery.state)
            log.info("delivered %s dpu=%s uid=%s", delivery.callback, key, delivery.event.uid)

    async def _verify(self, delivery: _Delivery) -> bool:
        """Read the DPU and decide whether its state callback is still due."""
        event, state = delivery.event, delivery.state
        assert state is not None
        live = await self._kube.get_or_none(DPU, event.name, event.namespace)
        if live is None or live["metadata"].get("uid") != event.uid:
            log.info("skipped %s dpu=%s uid=%s reason=deleted", delivery.callback,
                     event.key, event.uid)
            return False
        if self.ledger.acknowledged(live, state):
            log.info("skipped %s dpu=%s uid=%s reason=already-delivered",
                     delivery.callback, event.key, event.uid)
            return False
        if state_of(live) is not state:
            log.info("skipped %s dpu=%s uid=%s reason=left-state phase=%s",
                     delivery.callback, event.key, event.uid, phase_of(live))
            # Nothing was delivered: should the DPU come back to the state, that is an entry
            # to deliver, not a repeat.
            self.ledger.clear_attempt(event.uid, state)
            return False

        fresh = build_event(event.type, live, None, observed_monotonic=event.observed_monotonic,
                            bmc_label=self._bmc_label)
        fresh = replace(fresh, previous_phase=event.previous_phase, observed_at=event.observed_at)
        delivery.event = as_state_event(fresh, state)
        delivery.live = live
        return True

    async def _call(self, delivery: _Delivery, fn: Callable[..., Any], attempt: int) -> None:
        name = delivery.callback
        metrics = self._m_callbacks[name]
        metrics.runs.inc()
        if attempt == 0:
            waited = time.monotonic() - delivery.event.observed_monotonic
            metrics.latency.observe(max(0.0, waited))
        try:
            if inspect.iscoroutinefunction(fn):
                await fn(delivery.event)
                return
            loop = asyncio.get_running_loop()
            result = await loop.run_in_executor(self._executor, fn, delivery.event)
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            metrics.failures.inc()
            log.debug("callback failed callback=%s dpu=%s attempt=%d error=%r",
                      name, delivery.event.key, attempt, exc)
            raise

    def _retrying(self, key: str, delivery: _Delivery, exc: BaseException, delay: float) -> None:
        self._m_callbacks[delivery.callback].retries.inc()
        log.debug("retrying callback=%s dpu=%s delay=%.2f", delivery.callback, key, delay)

    async def _give_up(
        self, key: str, delivery: _Delivery, exc: BaseException, attempts: int
    ) -> None:
        self._m_callbacks[delivery.callback].gave_up.inc()
        if delivery.state is not None:
            self.ledger.remember_succeeded(delivery.event.uid, delivery.state, delivery.done)
        log.error("gave up callback=%s dpu=%s uid=%s attempts=%d error=%r",
                  delivery.callback, key, delivery.event.uid, attempts, exc,
                  exc_info=exc)
        failure = CallbackFailure(delivery.callback, delivery.event, exc, attempts)
        for hook in self._failure_hooks:
            try:
                result = hook(failure)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("on_callback_failed hook raised callback=%s dpu=%s",
                              delivery.callback, key)


async def _checked(coro: Awaitable[None], name: str) -> None:
    """Run a background task; log a crash instead of losing it in an unretrieved task."""
    try:
        await coro
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("dpu watcher task crashed task=%s", name)


class _LoopThread:
    """An event loop to run the watcher on from synchronous code."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._own = loop is None
        self.loop = loop or asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        if self._own:
            self._thread = threading.Thread(
                target=self.loop.run_forever, name="dpu-watcher-loop", daemon=True
            )
            self._thread.start()

    def call(self, coro: Any, *, timeout: float) -> Any:
        """Run `coro` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        """Stop and close the loop if this object created it."""
        if not self._own or self._thread is None:
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10.0)
        with contextlib.suppress(RuntimeError):
            self.loop.close()
