"""DpuWatcher callback semantics against a real kube-apiserver with the DPF CRDs."""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import uuid
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.ratelimit import ExponentialBackoff
from carbide_dpf.kube.resource import NAMESPACE, ResourceKind
from carbide_dpf.models.registry import DPU
from carbide_dpf.sandbox.controlplane import ControlPlane
from carbide_dpf.watcher import (
    LEDGER_ANNOTATION,
    CallbackFailure,
    DpuEvent,
    DpuFailed,
    DpuWatcher,
    RebootRequired,
)
from tests.watcher.watcher_helpers import (
    PHASES,
    SCOPE_LABEL,
    WAITING,
    ZERO_TRUST,
    Recorder,
    cond,
    dpu_body,
    drive,
    eventually,
    set_status,
)

FAST_RETRY = ExponentialBackoff(0.02, 0.2, jitter=0.0)


def _watcher(kube: KubeClient, namespace: str, **kw: Any) -> DpuWatcher:
    kw.setdefault("retry_backoff", FAST_RETRY)
    return DpuWatcher(kube, namespace=namespace, registry=CollectorRegistry(), **kw)


def _sample(watcher: DpuWatcher, metric: str, **labels: str) -> float:
    value = watcher.metrics.registry.get_sample_value(metric, labels)
    return 0.0 if value is None else value


async def test_zero_trust_path_calls_each_callback_once_and_in_order(
    kube: KubeClient, namespace: str, recorder: Recorder
) -> None:
    created = await kube.create(DPU, dpu_body("a", bmc_ip="192.0.2.7"), namespace)
    reboots: list[RebootRequired] = []
    watcher = _watcher(kube, namespace)
    recorder.attach(watcher)
    watcher.on_reboot_required(reboots.append)

    async with watcher:
        await drive(kube, namespace, "a", recorder)
        await eventually(lambda: recorder.count("on_dpu_ready", "a") == 1)
        await watcher.wait_idle(10)

    transitions = [(c.previous, c.phase) for c in recorder.of("on_phase_change", "a")]
    assert transitions == list(zip([None, *PHASES[:-1]], PHASES, strict=True))
    assert recorder.count("on_maintenance_needed", "a") == 1
    assert recorder.count("on_reboot_required", "a") == 1
    assert recorder.count("on_dpu_ready", "a") == 1
    assert recorder.count("on_error", "a") == 0
    # ADDED, then one MODIFIED per status patch; our own ledger writes are not events.
    assert recorder.count("on_dpu_event", "a") == 1 + len(ZERO_TRUST)

    order = [(c.callback, c.phase) for c in recorder.calls if c.callback != "on_dpu_event"]
    node_effect = order.index(("on_phase_change", "Node Effect"))
    assert order[node_effect + 1] == ("on_maintenance_needed", "Node Effect")
    assert order[-2:] == [("on_phase_change", "Ready"), ("on_dpu_ready", "Ready")]

    (reboot,) = reboots
    assert reboot.host_bmc_ip == "192.0.2.7"
    assert (reboot.reason, reboot.message) == (WAITING["reason"], WAITING["message"])
    assert (reboot.device, reboot.node) == ("dev-a", "node-a")
    assert reboot.uid == created["metadata"]["uid"]

    stored = await kube.get(DPU, "a", namespace)
    ledger = orjson.loads(stored["metadata"]["annotations"][LEDGER_ANNOTATION])
    assert ledger == {"uid": created["metadata"]["uid"],
                      "states": ["maintenance", "ready", "reboot"]}


async def test_plain_functions_run_in_threads_and_async_ones_on_the_loop(
    kube: KubeClient, namespace: str
) -> None:
    await kube.create(DPU, dpu_body("a"), namespace)
    threads: dict[str, str] = {}
    watcher = _watcher(kube, namespace)

    @watcher.on_dpu_ready
    def plain(event: DpuEvent) -> None:
        threads["plain"] = threading.current_thread().name

    @watcher.on_dpu_ready
    async def coroutine(event: DpuEvent) -> None:
        threads["async"] = threading.current_thread().name

    async with watcher:
        await set_status(kube, namespace, "a", "Ready")
        await eventually(lambda: len(threads) == 2)

    assert threads["async"] == threading.current_thread().name
    assert threads["plain"].startswith("dpu-watcher")


async def test_a_new_watcher_repeats_no_delivered_state_but_delivers_missed_ones(
    kube: KubeClient, namespace: str, recorder: Recorder
) -> None:
    for name in ("done", "missed"):
        await kube.create(DPU, dpu_body(name), namespace)
    first = _watcher(kube, namespace)
    first.on_dpu_ready(lambda event: recorder.add("on_dpu_ready", event, "first"))
    async with first:
        await set_status(kube, namespace, "done", "Ready")
        await eventually(lambda: recorder.count("on_dpu_ready") == 1)
        await first.wait_idle(10)
    await set_status(kube, namespace, "missed", "Ready")  # while no watcher runs

    second = _watcher(kube, namespace)
    second.on_dpu_ready(lambda event: recorder.add("on_dpu_ready", event, "second"))
    async with second:
        await eventually(lambda: recorder.count("on_dpu_ready") == 2)
        await second.wait_idle(10)
        await asyncio.sleep(0.3)

    assert [(c.name, c.watcher) for c in recorder.of("on_dpu_ready")] == [
        ("done", "first"), ("missed", "second")]


async def test_a_recreated_dpu_starts_with_a_clean_ledger(
    kube: KubeClient, namespace: str, recorder: Recorder
) -> None:
    await kube.create(DPU, dpu_body("a"), namespace)
    watcher = _watcher(kube, namespace)
    recorder.attach(watcher)

    async with watcher:
        await set_status(kube, namespace, "a", "Node Effect")
        await eventually(lambda: recorder.count("on_maintenance_needed", "a") == 1)
        await watcher.wait_idle(10)
        await kube.delete(DPU, "a", namespace)
        await kube.create(DPU, dpu_body("a"), namespace)
        await set_status(kube, namespace, "a", "Node Effect")
        await eventually(lambda: recorder.count("on_maintenance_needed", "a") == 2)

    first, second = recorder.of("on_maintenance_needed", "a")
    assert first.uid != second.uid
    assert [c.uid for c in recorder.of("on_dpu_event", "a")].count(first.uid) >= 2


async def test_failing_callback_is_retried_without_blocking_others_then_reported(
    kube: KubeClient, namespace: str, recorder: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    for name in ("bad", "good-0", "good-1"):
        await kube.create(DPU, dpu_body(name), namespace)
    failures: list[CallbackFailure] = []
    attempts: list[float] = []
    loop = asyncio.get_running_loop()
    watcher = _watcher(kube, namespace, concurrency=1, max_retries=3,
                       retry_backoff=ExponentialBackoff(0.1, 1.0, jitter=0.0))

    @watcher.on_dpu_ready
    async def ready(event: DpuEvent) -> None:
        if event.name == "bad":
            attempts.append(loop.time())
            raise RuntimeError("BMC unreachable")
        recorder.add("on_dpu_ready", event)

    watcher.on_callback_failed(failures.append)

    with caplog.at_level(logging.ERROR, logger="carbide_dpf.watcher.core"):
        async with watcher:
            for name in ("bad", "good-0", "good-1"):
                await set_status(kube, namespace, name, "Ready")
            await eventually(lambda: len(failures) == 1)
            await eventually(lambda: recorder.count("on_dpu_ready") == 2)

            assert len(attempts) == 4
            gaps = [b - a for a, b in itertools.pairwise(attempts)]
            assert gaps[0] >= 0.09 and gaps[1] >= 0.19 and gaps[2] >= 0.39
            good_done = recorder.of("on_dpu_ready")
            assert {c.name for c in good_done} == {"good-0", "good-1"}
            assert _sample(watcher, "carbide_dpf_watcher_callback_gave_up_total",
                           callback="on_dpu_ready") == 1
            assert _sample(watcher, "carbide_dpf_watcher_callback_retries_total",
                           callback="on_dpu_ready") == 3
            assert failures[0].attempts == 4 and failures[0].event.name == "bad"
            assert "gave up callback=on_dpu_ready" in caplog.text

            # Not swallowed for ever: a resync tries the undelivered state again.
            assert watcher.resync() == 1
            await eventually(lambda: len(attempts) == 5)


async def test_namespace_and_label_selector_scope_the_dpus(
    kube: KubeClient, namespace: str, recorder: Recorder
) -> None:
    other = f"{namespace}-o"
    await kube.create(DPU, dpu_body("in"), namespace)
    await kube.create(DPU, dpu_body("out", scope="out"), namespace)
    watcher = _watcher(kube, namespace, label_selector=f"{SCOPE_LABEL}=in")
    recorder.attach(watcher)

    await kube.create(NAMESPACE, {"metadata": {"name": other}})
    try:
        await kube.create(DPU, dpu_body("in"), other)
        async with watcher:
            for ns, name in ((namespace, "in"), (namespace, "out"), (other, "in")):
                await set_status(kube, ns, name, "Ready")
            await eventually(lambda: recorder.count("on_dpu_ready") >= 1)
            await asyncio.sleep(0.5)
            await watcher.wait_idle(10)
            assert len(watcher.informer.store) == 1
    finally:
        await kube.delete(NAMESPACE, other)

    assert {(c.name, c.uid) for c in recorder.of("on_dpu_ready")} == {
        ("in", (await kube.get(DPU, "in", namespace))["metadata"]["uid"])}
    assert {c.name for c in recorder.calls} == {"in"}


async def test_error_state_is_delivered_with_its_reason(
    kube: KubeClient, namespace: str, recorder: Recorder
) -> None:
    await kube.create(DPU, dpu_body("a"), namespace)
    errors: list[DpuFailed] = []
    watcher = _watcher(kube, namespace)
    watcher.on_error(errors.append)

    async with watcher:
        failing = [cond("OSInstalled", "False", "InstallFailed", "bfb install failed")]
        await set_status(kube, namespace, "a", "Error", failing)
        await eventually(lambda: len(errors) == 1)
        await set_status(kube, namespace, "a", "Error", [*failing, cond("X", "True", "Y")])
        await asyncio.sleep(0.5)
        await watcher.wait_idle(10)

    assert len(errors) == 1
    assert (errors[0].reason, errors[0].message) == ("InstallFailed", "bfb install failed")


def test_sync_start_and_stop_run_the_watcher_on_a_given_loop(
    control_plane: ControlPlane, recorder: Recorder
) -> None:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="facade-loop", daemon=True)
    thread.start()
    namespace = f"t-{uuid.uuid4().hex[:10]}"

    def on_loop(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(30)

    kube = control_plane.client()
    try:
        on_loop(kube.create(NAMESPACE, {"metadata": {"name": namespace}}))
        on_loop(kube.create(DPU, dpu_body("a"), namespace))
        watcher = _watcher(kube, namespace)
        watcher.on_dpu_ready(lambda event: recorder.add("on_dpu_ready", event))

        watcher.start(loop=loop)
        try:
            assert watcher.is_leader
            on_loop(set_status(kube, namespace, "a", "Ready"))
            on_loop(eventually(lambda: recorder.count("on_dpu_ready") == 1))
        finally:
            watcher.stop()
        assert not watcher.is_leader
    finally:
        on_loop(kube.aclose())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()

    assert [c.name for c in recorder.of("on_dpu_ready")] == ["a"]


async def test_a_state_left_before_its_delivery_is_delivered_when_entered_again(
    kube: KubeClient, namespace: str, recorder: Recorder
) -> None:
    await kube.create(DPU, dpu_body("a"), namespace)
    await set_status(kube, namespace, "a", "Pending")
    gate = asyncio.Event()
    watcher = _watcher(kube, namespace)
    recorder.attach(watcher)

    @watcher.on_dpu_event
    async def hold_the_dpu_queue(event: DpuEvent) -> None:
        await gate.wait()

    async with watcher:
        # While the DPU's queue is held, it enters Node Effect and leaves it again: when the
        # maintenance delivery runs, the DPU is elsewhere and nothing is called.
        await set_status(kube, namespace, "a", "Node Effect")
        await set_status(kube, namespace, "a", "Initialize Interface")
        # Held: the ADDED's 2 deliveries, Node Effect's 3 (event, phase, maintenance), 2 more.
        await eventually(lambda: watcher.queue_depth == 7)
        gate.set()
        await watcher.wait_idle(10)
        assert recorder.count("on_maintenance_needed", "a") == 0

        # Entering the state again is an entry to deliver, not a repeat.
        await set_status(kube, namespace, "a", "Node Effect")
        await eventually(lambda: recorder.count("on_maintenance_needed", "a") == 1)
        await watcher.wait_idle(10)

    assert recorder.count("on_maintenance_needed", "a") == 1


async def test_a_failed_ledger_write_neither_repeats_nor_fails_the_callback(
    control_plane: ControlPlane, kube: KubeClient, namespace: str, recorder: Recorder,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await kube.create(DPU, dpu_body("a"), namespace)
    user = control_plane.user(f"reader-{uuid.uuid4().hex[:8]}")
    await _grant(kube, namespace, user.user, ["get", "list", "watch"])
    failures: list[CallbackFailure] = []

    async with KubeClient(user.cluster_config()) as reader:
        watcher = _watcher(reader, namespace)
        recorder.attach(watcher)
        watcher.on_callback_failed(failures.append)
        with caplog.at_level(logging.WARNING, logger="carbide_dpf.watcher.ledger"):
            async with watcher:
                await set_status(kube, namespace, "a", "Ready")
                await eventually(lambda: recorder.count("on_dpu_ready", "a") == 1)
                await watcher.wait_idle(10)
                assert watcher.resync() == 0

    # The patch was forbidden: said once, but the callback ran once and did not fail.
    assert recorder.count("on_dpu_ready", "a") == 1
    assert failures == []
    assert _sample(watcher, "carbide_dpf_watcher_callback_retries_total",
                   callback="on_dpu_ready") == 0
    assert "could not write the ledger" in caplog.text
    annotations = (await kube.get(DPU, "a", namespace))["metadata"].get("annotations") or {}
    assert LEDGER_ANNOTATION not in annotations


async def test_a_resync_after_giving_up_runs_only_the_functions_that_failed(
    kube: KubeClient, namespace: str
) -> None:
    await kube.create(DPU, dpu_body("a"), namespace)
    calls: list[str] = []
    broken = True
    watcher = _watcher(kube, namespace, max_retries=1)

    @watcher.on_dpu_ready
    def notify(event: DpuEvent) -> None:
        calls.append("notify")

    @watcher.on_dpu_ready
    def mark_ready(event: DpuEvent) -> None:
        calls.append("mark_ready")
        if broken:
            raise RuntimeError("inventory down")

    gave_up: list[CallbackFailure] = []
    watcher.on_callback_failed(gave_up.append)
    async with watcher:
        await set_status(kube, namespace, "a", "Ready")
        await eventually(lambda: len(gave_up) == 1)
        broken = False
        assert watcher.resync() == 1
        await eventually(lambda: calls[-1:] == ["mark_ready"] and len(calls) == 4)
        await watcher.wait_idle(10)
        assert watcher.resync() == 0

    assert calls == ["notify", "mark_ready", "mark_ready", "mark_ready"]
    live = await kube.get(DPU, "a", namespace)
    assert "ready" in orjson.loads(live["metadata"]["annotations"][LEDGER_ANNOTATION])["states"]


_ROLE = ("rbac.authorization.k8s.io", "v1")


async def _grant(kube: KubeClient, namespace: str, user: str, verbs: list[str]) -> None:
    """Bind `user` to a Role with `verbs` on DPUs in `namespace`."""
    role = ResourceKind(*_ROLE, "Role", "roles", has_status=False)
    binding = ResourceKind(*_ROLE, "RoleBinding", "rolebindings", has_status=False)
    await kube.create(role, {"metadata": {"name": "dpu-reader"}, "rules": [
        {"apiGroups": [DPU.group], "resources": [DPU.plural], "verbs": verbs}]}, namespace)
    await kube.create(binding, {
        "metadata": {"name": "dpu-reader"},
        "roleRef": {"apiGroup": _ROLE[0], "kind": "Role", "name": "dpu-reader"},
        "subjects": [{"apiGroup": _ROLE[0], "kind": "User", "name": user}],
    }, namespace)
