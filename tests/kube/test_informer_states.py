"""The informer's decisions and its store, without a server: the pure parts."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from carbide_dpf.kube.errors import UnavailableError
from carbide_dpf.kube.informer import (
    Backoff,
    EventType,
    Failed,
    Gone,
    Listing,
    Page,
    Replaced,
    Replacing,
    Retries,
    Slept,
    Store,
    WatchEnded,
    Watching,
    compact_object,
    diff,
    key_of,
    transition,
)
from carbide_dpf.kube.ratelimit import ExponentialBackoff


def obj(name: str, rv: str, namespace: str | None = "ns", **labels: str) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "resourceVersion": rv, "labels": labels}
    if namespace:
        meta["namespace"] = namespace
    return {"metadata": meta}


def page(items: list[dict[str, Any]], rv: str = "", cont: str = "") -> Page:
    meta = {"resourceVersion": rv, "continue": cont} if cont else {"resourceVersion": rv}
    return Page({"metadata": meta, "items": items})


def retries() -> Retries:
    return Retries(ExponentialBackoff(1.0, 8.0, jitter=0.0, rng=random.Random(1)))


# --- transitions ----------------------------------------------------------------------------


def test_pages_accumulate_until_the_last_then_the_list_is_replaced_at_once() -> None:
    r = retries()
    a, b, c = obj("a", "1"), obj("b", "2"), obj("c", "3")

    state = transition(Listing(), page([a, b], cont="tok"), r)
    assert state == Listing("tok", (a, b))

    state = transition(state, page([c], rv="42"), r)
    assert state == Replacing((a, b, c), "42")

    assert transition(state, Replaced(), r) == Watching("42")


def test_a_watch_that_ends_normally_resumes_from_the_last_version_seen() -> None:
    r = retries()
    r.attempt = 3

    state = transition(Watching("10"), WatchEnded("17", healthy=True), r)

    assert state == Watching("17")
    assert r.attempt == 0


def test_410_on_a_watch_relists() -> None:
    assert transition(Watching("10"), Gone(healthy=True), retries()) == Listing()


def test_410_on_a_fresh_watch_relists_after_a_backoff() -> None:
    # A watch that 410s before delivering anything must not spin list -> watch -> 410.
    state = transition(Watching("10"), Gone(healthy=False), retries())

    assert state == Backoff(1.0, Listing())


def test_an_expired_continue_token_restarts_the_list_at_once() -> None:
    state = transition(Listing("tok", (obj("a", "1"),)), Gone(), retries())

    assert state == Listing()


def test_a_failed_page_is_retried_from_the_same_token_after_backoff() -> None:
    r = retries()
    listing = Listing("tok", (obj("a", "1"),))

    state = transition(listing, Failed(UnavailableError("down")), r)

    assert state == Backoff(1.0, listing)
    assert transition(state, Slept(), r) == listing


def test_failures_back_off_exponentially_up_to_the_cap_and_reset_when_healthy() -> None:
    r = retries()
    delays = []
    state: Any = Watching("5")
    for _ in range(6):
        state = transition(state, WatchEnded("5", healthy=False, error=OSError()), r)
        assert isinstance(state, Backoff)
        delays.append(state.delay)
        state = transition(state, Slept(), r)

    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert state == Watching("5")

    # A connection cut after a healthy stream retries soon, not after the capped delay.
    state = transition(state, WatchEnded("9", healthy=True, error=OSError()), r)
    assert state == Backoff(1.0, Watching("9"))


def test_a_watch_closed_at_once_without_events_is_not_reopened_in_a_hot_loop() -> None:
    state = transition(Watching("5"), WatchEnded("5", healthy=False), retries())

    assert state == Backoff(1.0, Watching("5"))


def test_an_impossible_transition_is_a_bug_not_a_silent_state() -> None:
    with pytest.raises(AssertionError):
        transition(Watching("1"), Page({"items": []}), retries())


# --- diff -------------------------------------------------------------------------------


def test_diff_reports_new_changed_and_vanished_objects() -> None:
    kept, changed_old, gone = obj("kept", "1"), obj("changed", "2"), obj("gone", "3")
    changed_new, new = obj("changed", "9"), obj("new", "10")
    previous = {key_of(o): o for o in (kept, changed_old, gone)}
    fresh = {key_of(o): o for o in (kept, changed_new, new)}

    events = diff(previous, fresh)

    by_type = {(e.type, e.obj["metadata"]["name"]) for e in events}
    assert by_type == {
        (EventType.MODIFIED, "changed"),
        (EventType.ADDED, "new"),
        (EventType.DELETED, "gone"),
    }
    modified = next(e for e in events if e.type is EventType.MODIFIED)
    assert modified.old is changed_old and modified.obj is changed_new
    deleted = next(e for e in events if e.type is EventType.DELETED)
    assert deleted.obj is gone


def test_diff_reports_an_object_recreated_in_the_gap_as_deleted_then_added() -> None:
    before, after = obj("dpu", "5"), obj("dpu", "8")
    before["metadata"]["uid"], after["metadata"]["uid"] = "uid-old", "uid-new"

    events = diff({key_of(before): before}, {key_of(after): after})

    assert [(e.type, e.obj["metadata"]["uid"], e.old) for e in events] == [
        (EventType.DELETED, "uid-old", None),
        (EventType.ADDED, "uid-new", None),
    ]


def test_initial_diff_is_all_added() -> None:
    fresh = {key_of(o): o for o in (obj("a", "1"), obj("b", "2"))}

    assert [e.type for e in diff({}, fresh)] == [EventType.ADDED, EventType.ADDED]


# --- the store ------------------------------------------------------------------------------


def test_keys_are_namespace_slash_name_or_name_for_cluster_scoped() -> None:
    assert key_of(obj("a", "1", namespace="ns")) == "ns/a"
    assert key_of(obj("a", "1", namespace=None)) == "a"


def by_rack(o: dict[str, Any]) -> list[str]:
    rack = o["metadata"]["labels"].get("rack")
    return [rack] if rack else []


def test_indexes_follow_updates_and_deletes() -> None:
    store = Store({"rack": by_rack})
    store._put("ns/a", obj("a", "1", rack="r1"))
    store._put("ns/b", obj("b", "1", rack="r1"))
    assert store.index_keys("rack", "r1") == ["ns/a", "ns/b"]

    store._put("ns/a", obj("a", "2", rack="r2"))
    assert store.index_keys("rack", "r1") == ["ns/b"]
    assert [o["metadata"]["name"] for o in store.by_index("rack", "r2")] == ["a"]

    store._delete("ns/b")
    assert store.by_index("rack", "r1") == []
    assert sorted(store.index_values("rack")) == ["r2"]
    assert len(store) == 1 and "ns/a" in store and store.get("ns/b") is None


def test_replace_rebuilds_the_indexes() -> None:
    store = Store({"rack": by_rack})
    store._put("ns/a", obj("a", "1", rack="r1"))

    store._replace({"ns/c": obj("c", "5", rack="r3")})

    assert store.by_index("rack", "r1") == []
    assert store.index_keys("rack", "r3") == ["ns/c"]
    assert store.keys() == ["ns/c"]


def test_a_failing_indexer_files_nothing_but_keeps_the_object() -> None:
    def broken(o: dict[str, Any]) -> list[str]:
        raise RuntimeError("boom")

    store = Store({"broken": broken})
    store._put("ns/a", obj("a", "1"))

    assert store.get("ns/a") is not None
    assert store.index_values("broken") == []


def test_an_unknown_index_name_says_which_exist() -> None:
    store = Store({"rack": by_rack})

    with pytest.raises(KeyError, match="rack"):
        store.by_index("nope", "x")


_DPU_JSON = orjson.dumps({
    "metadata": {
        "name": "node1-dev1", "namespace": "dpf-operator-system", "generation": 3,
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "labels": {"provisioning.dpu.nvidia.com/dpuset-name": "carbide-dpuset"},
        "annotations": {"note": "kept"},
        "finalizers": ["provisioning.dpu.nvidia.com/dpu-protection"],
        "ownerReferences": [{"apiVersion": "provisioning.dpu.nvidia.com/v1alpha1",
                             "kind": "DPUSet", "name": "carbide-dpuset", "uid": "u-1",
                             "controller": True}],
        "managedFields": [{"manager": "carbide-dpf", "operation": "Apply"}],
    },
    "spec": {"bfb": "bf-bundle", "nodeEffect": {"hold": True}},
    "status": {"phase": "OS Installing", "conditions": [
        {"type": "BFBReady", "status": "True", "reason": "Success",
         "lastTransitionTime": "2026-01-01T00:00:05Z", "observedGeneration": 3},
    ]},
})


def test_compact_object_drops_managed_fields_and_changes_nothing_else() -> None:
    expected = orjson.loads(_DPU_JSON)
    del expected["metadata"]["managedFields"]

    assert compact_object(orjson.loads(_DPU_JSON)) == expected


def test_compact_object_shares_the_strings_that_objects_repeat() -> None:
    first, second = orjson.loads(_DPU_JSON), orjson.loads(_DPU_JSON)
    paths: list[tuple[Any, ...]] = [
        ("metadata", "namespace"),
        ("metadata", "creationTimestamp"),
        ("metadata", "labels", "provisioning.dpu.nvidia.com/dpuset-name"),
        ("metadata", "annotations", "note"),
        ("metadata", "finalizers", 0),
        ("metadata", "ownerReferences", 0, "uid"),
        ("spec", "bfb"),
        ("status", "phase"),
        ("status", "conditions", 0, "reason"),
        ("status", "conditions", 0, "lastTransitionTime"),
    ]
    # The decoder gives each object its own copy of every value...
    assert all(_at(first, path) is not _at(second, path) for path in paths)

    compact_object(first)
    compact_object(second)

    # ...and once compacted, the two objects hold one.
    shared = [path for path in paths if _at(first, path) is _at(second, path)]
    assert shared == paths


def _at(obj: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        obj = obj[step]
    return obj
