"""KubeClient requests against a real kube-apiserver: verbs, preconditions, errors, retries."""

from __future__ import annotations

import base64
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.config import ClusterConfig
from carbide_dpf.kube.errors import (
    AlreadyExistsError,
    ConflictError,
    InvalidError,
    NotFoundError,
    ServerError,
    UnavailableError,
)
from carbide_dpf.kube.resource import CONFIG_MAP, SECRET, ResourceKind
from carbide_dpf.sandbox.controlplane import ControlPlane

DPU_DEVICE = ResourceKind("provisioning.dpu.nvidia.com", "v1alpha1", "DPUDevice", "dpudevices")


def _config_map(name: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "data": dict(data)}


async def test_get_of_a_missing_object_raises_not_found_naming_it(
    kube: KubeClient, namespace: str
) -> None:
    with pytest.raises(NotFoundError) as caught:
        await kube.get(CONFIG_MAP, "absent", namespace)

    assert caught.value.name == "absent"
    assert caught.value.namespace == namespace
    assert "ConfigMap" in str(caught.value)
    assert await kube.get_or_none(CONFIG_MAP, "absent", namespace) is None


async def test_create_twice_raises_already_exists(kube: KubeClient, namespace: str) -> None:
    await kube.create(CONFIG_MAP, _config_map("twice"), namespace)

    with pytest.raises(AlreadyExistsError):
        await kube.create(CONFIG_MAP, _config_map("twice"), namespace)


async def test_server_side_apply_is_idempotent_and_keeps_foreign_fields(
    kube: KubeClient, namespace: str
) -> None:
    first = await kube.apply(CONFIG_MAP, _config_map("applied", a="1"), namespace)
    await kube.merge_patch(CONFIG_MAP, "applied", {"data": {"other": "kept"}}, namespace)
    second = await kube.apply(CONFIG_MAP, _config_map("applied", a="1"), namespace)

    assert second["metadata"]["uid"] == first["metadata"]["uid"]
    assert second["data"] == {"a": "1", "other": "kept"}
    managers = {entry["manager"] for entry in second["metadata"]["managedFields"]}
    assert "carbide-dpf" in managers


async def test_merge_patch_with_null_removes_a_key(kube: KubeClient, namespace: str) -> None:
    await kube.create(CONFIG_MAP, _config_map("merge", a="1", b="2"), namespace)

    patched = await kube.merge_patch(CONFIG_MAP, "merge", {"data": {"a": None}}, namespace)

    assert patched["data"] == {"b": "2"}


async def test_json_patch_test_op_is_a_precondition(kube: KubeClient, namespace: str) -> None:
    await kube.create(CONFIG_MAP, _config_map("jp", a="1"), namespace)
    ops = [{"op": "test", "path": "/data/a", "value": "wrong"},
           {"op": "replace", "path": "/data/a", "value": "2"}]

    with pytest.raises(InvalidError):
        await kube.json_patch(CONFIG_MAP, "jp", ops, namespace)
    ops[0]["value"] = "1"
    patched = await kube.json_patch(CONFIG_MAP, "jp", ops, namespace)

    assert patched["data"] == {"a": "2"}


async def test_replace_with_a_stale_resource_version_conflicts(
    kube: KubeClient, namespace: str
) -> None:
    created = await kube.create(CONFIG_MAP, _config_map("rv", a="1"), namespace)
    await kube.merge_patch(CONFIG_MAP, "rv", {"data": {"a": "2"}}, namespace)

    with pytest.raises(ConflictError):
        await kube.replace(CONFIG_MAP, {**created, "data": {"a": "3"}}, namespace)
    assert (await kube.get(CONFIG_MAP, "rv", namespace))["data"] == {"a": "2"}


async def test_status_patch_changes_status_only(kube: KubeClient, namespace: str) -> None:
    device = {"metadata": {"name": "dev"}, "spec": {"serialNumber": "SN1"}}
    await kube.create(DPU_DEVICE, device, namespace)

    patched = await kube.patch_status(
        DPU_DEVICE, "dev", {"status": {"conditions": []}, "spec": {"serialNumber": "X"}},
        namespace,
    )

    assert patched["spec"]["serialNumber"] == "SN1"


async def test_delete_with_a_wrong_uid_precondition_conflicts(
    kube: KubeClient, namespace: str
) -> None:
    await kube.create(CONFIG_MAP, _config_map("del"), namespace)

    with pytest.raises(ConflictError):
        await kube.delete(CONFIG_MAP, "del", namespace, uid="not-the-uid")
    assert await kube.get_or_none(CONFIG_MAP, "del", namespace) is not None

    assert await kube.delete(CONFIG_MAP, "del", namespace) is None
    assert await kube.get_or_none(CONFIG_MAP, "del", namespace) is None


async def test_delete_returns_the_object_while_a_finalizer_holds_it(
    kube: KubeClient, namespace: str
) -> None:
    held = {"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}
    await kube.create(CONFIG_MAP, held, namespace)

    result = await kube.delete(CONFIG_MAP, "held", namespace)

    assert result is not None
    assert result["metadata"]["deletionTimestamp"]
    await kube.merge_patch(CONFIG_MAP, "held", {"metadata": {"finalizers": None}}, namespace)
    assert await kube.get_or_none(CONFIG_MAP, "held", namespace) is None


async def test_list_follows_continue_tokens_and_filters_by_label(
    kube: KubeClient, namespace: str
) -> None:
    for index in range(7):
        labels = {"parity": "even" if index % 2 == 0 else "odd"}
        body = {"metadata": {"name": f"cm-{index}", "labels": labels}}
        await kube.create(CONFIG_MAP, body, namespace)
    before = kube.request_counts["LIST"]

    listed = await kube.list(CONFIG_MAP, namespace, limit=2)
    even = await kube.list(CONFIG_MAP, namespace, label_selector="parity=even")

    names = sorted(item["metadata"]["name"] for item in listed.items)
    assert [n for n in names if n.startswith("cm-")] == [f"cm-{i}" for i in range(7)]
    assert kube.request_counts["LIST"] - before >= 4 + 1
    assert sorted(i["metadata"]["name"] for i in even.items) == ["cm-0", "cm-2", "cm-4", "cm-6"]
    assert listed.resource_version


async def test_models_and_dicts_are_accepted_alike(kube: KubeClient, namespace: str) -> None:
    class Wrapped:
        def to_dict(self) -> dict[str, Any]:
            return {"metadata": {"name": "from-model"}, "data": {"k": "v"}}

    created = await kube.create(CONFIG_MAP, Wrapped(), namespace)

    assert created["data"] == {"k": "v"}
    assert created["kind"] == "ConfigMap"


async def test_secret_data_is_not_echoed_in_errors(kube: KubeClient, namespace: str) -> None:
    encoded = base64.b64encode(b"hunter2").decode()
    secret = {"metadata": {"name": "s"}, "data": {"password": encoded}}
    await kube.create(SECRET, secret, namespace)

    with pytest.raises(AlreadyExistsError) as caught:
        await kube.create(SECRET, secret, namespace)

    assert "hunter2" not in str(caught.value)
    assert "aHVudGVyMg" not in str(caught.value)


class FaultyFront:
    """A plain-HTTP front for the real API server that refuses the first `failures` requests.

    It answers those itself with `status` (and Retry-After: 0), then forwards every later
    request to the API server as the admin: the client under test sees a flaky server.
    """

    def __init__(self, plane: ControlPlane, failures: int, status: int) -> None:
        self.plane = plane
        self.failures = failures
        self.status = status
        self.seen = 0
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> FaultyFront:
        config = self.plane.cluster_config()
        connector = aiohttp.TCPConnector(ssl=config.ssl_context())
        self._session = aiohttp.ClientSession(connector=connector)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._runner is not None and self._session is not None
        await self._runner.cleanup()
        await self._session.close()

    def client_config(self) -> ClusterConfig:
        """A config that reaches the API server through this front, with no credentials."""
        return ClusterConfig(server=self.url, namespace="default")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.seen += 1
        if self.seen <= self.failures:
            body = {"kind": "Status", "code": self.status, "reason": "TooManyRequests",
                    "message": "slow down"}
            return web.json_response(body, status=self.status, headers={"Retry-After": "0"})

        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with self._session.request(
            request.method, self.plane.server + request.path_qs, headers=headers,
            data=await request.read(),
        ) as answer:
            return web.Response(status=answer.status, body=await answer.read(),
                                content_type=answer.content_type)


async def test_idempotent_requests_are_retried_on_429(
    control_plane: ControlPlane, namespace: str
) -> None:
    async with (
        FaultyFront(control_plane, failures=2, status=429) as front,
        KubeClient(front.client_config()) as kube,
    ):
        listed = await kube.list(CONFIG_MAP, namespace)

    assert front.seen == 3
    assert listed.resource_version


async def test_create_is_not_retried_and_gives_up_with_server_error(
    control_plane: ControlPlane, namespace: str
) -> None:
    async with (
        FaultyFront(control_plane, failures=1, status=503) as front,
        KubeClient(front.client_config()) as kube,
    ):
        with pytest.raises(ServerError):
            await kube.create(CONFIG_MAP, _config_map("once"), namespace)

    assert front.seen == 1


async def test_retries_stop_at_the_limit(control_plane: ControlPlane, namespace: str) -> None:
    async with (
        FaultyFront(control_plane, failures=100, status=503) as front,
        KubeClient(front.client_config(), max_retries=2) as kube,
    ):
        with pytest.raises(ServerError):
            await kube.get(CONFIG_MAP, "x", namespace)

    assert front.seen == 3


async def test_requests_through_the_front_reach_the_real_server(
    control_plane: ControlPlane, namespace: str
) -> None:
    async with (
        FaultyFront(control_plane, failures=0, status=503) as front,
        KubeClient(front.client_config()) as kube,
    ):
        created = await kube.create(CONFIG_MAP, _config_map("via-front"), namespace)

    assert created["metadata"]["uid"]
    assert front.seen == 1


async def test_unreachable_server_is_unavailable(control_plane: ControlPlane) -> None:
    config = control_plane.cluster_config()
    config.server = "https://127.0.0.1:1"
    async with KubeClient(config, max_retries=1) as kube:
        with pytest.raises(UnavailableError, match="reachable"):
            await kube.get(CONFIG_MAP, "x", "default")
