"""The local control plane: lifecycle, cleanup, failures, and the knobs tests rely on."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from carbide_dpf.errors import ConfigError
from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.errors import ForbiddenError
from carbide_dpf.kube.resource import CONFIG_MAP, ResourceKind
from carbide_dpf.sandbox.controlplane import ControlPlane, ControlPlaneError
from carbide_dpf.sandbox.crds import ENV_CRDS_DIR, crds_dir_from_env, install_crds, load_crds

ROLE = ResourceKind("rbac.authorization.k8s.io", "v1", "Role", "roles", has_status=False)
ROLE_BINDING = ResourceKind(
    "rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", has_status=False
)


def _gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _wait_gone(pids: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(_gone(pid) for pid in pids):
        time.sleep(0.1)
    return [pid for pid in pids if not _gone(pid)]


def test_stop_leaves_no_process_and_no_file() -> None:
    plane = ControlPlane()
    plane.start()
    pids = list(plane.pids.values())
    directory = plane.directory
    assert len(pids) == 2
    assert all(not _gone(pid) for pid in pids)

    plane.stop()

    assert [pid for pid in pids if not _gone(pid)] == []
    assert not directory.exists()
    assert plane.pids == {}


def test_unknown_apiserver_flag_fails_with_the_servers_log() -> None:
    plane = ControlPlane(extra_apiserver_args=["--no-such-flag=1"])

    with pytest.raises(ControlPlaneError) as caught:
        plane.start()

    assert "kube-apiserver exited" in str(caught.value)
    assert "unknown flag: --no-such-flag" in str(caught.value)
    assert plane.pids == {}
    with pytest.raises(ControlPlaneError, match="not started"):
        _ = plane.directory


_KILLED_CHILD = """
import json, time
from carbide_dpf.sandbox.controlplane import ControlPlane
plane = ControlPlane()
plane.start()
print(json.dumps({"pids": list(plane.pids.values()), "dir": str(plane.directory)}), flush=True)
time.sleep(600)
"""


def test_servers_die_with_a_sigkilled_python_and_next_start_cleans_up() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD], stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        started = json.loads(child.stdout.readline())
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()

    assert _wait_gone(started["pids"], 10.0) == []
    assert Path(started["dir"]).exists()  # nobody could remove it: the next start does

    with ControlPlane():
        assert not Path(started["dir"]).exists()


async def test_restart_apiserver_keeps_objects_and_port(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    server = control_plane.server
    config_map = {"metadata": {"name": "kept"}, "data": {"k": "v"}}
    created = await kube.create(CONFIG_MAP, config_map, namespace)

    await asyncio.to_thread(control_plane.restart_apiserver)

    assert control_plane.server == server
    read = await kube.get(CONFIG_MAP, "kept", namespace)
    assert read["metadata"]["uid"] == created["metadata"]["uid"]
    assert read["data"] == {"k": "v"}


async def test_compact_etcd_discards_older_revisions(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    await kube.create(CONFIG_MAP, {"metadata": {"name": "rev"}}, namespace)

    revision = control_plane.compact_etcd()

    async with httpx.AsyncClient(base_url=control_plane.etcd_url) as etcd:
        older = {"key": "AA==", "range_end": "AA==", "revision": str(revision - 1)}
        answer = await etcd.post("/v3/kv/range", json=older)
    assert revision > 1
    assert "compacted" in answer.text


async def test_minted_user_is_forbidden_until_rbac_grants(
    control_plane: ControlPlane, kube: KubeClient, namespace: str
) -> None:
    alice = control_plane.user("alice", groups=["dpu-operators"])

    async with KubeClient(alice.cluster_config()) as as_alice:
        with pytest.raises(ForbiddenError, match='User "alice"'):
            await as_alice.list(CONFIG_MAP, namespace)

        await _grant_configmap_reads(kube, namespace, group="dpu-operators")
        listed = await _list_when_allowed(as_alice, namespace)

    assert listed == []


async def _grant_configmap_reads(kube: KubeClient, namespace: str, *, group: str) -> None:
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}
    await kube.create(ROLE, {"metadata": {"name": "read-cm"}, "rules": [rule]}, namespace)
    binding = {
        "metadata": {"name": "read-cm"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-cm"},
        "subjects": [{"kind": "Group", "name": group, "apiGroup": "rbac.authorization.k8s.io"}],
    }
    await kube.create(ROLE_BINDING, binding, namespace)


async def _list_when_allowed(client: KubeClient, namespace: str) -> list[object]:
    # The RBAC authorizer reads roles through an informer: a grant takes a moment to apply.
    deadline = time.monotonic() + 10.0
    while True:
        try:
            return list((await client.list(CONFIG_MAP, namespace)).items)
        except ForbiddenError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def test_install_crds_from_missing_directory_names_the_variable(
    kube: KubeClient, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match=ENV_CRDS_DIR) as caught:
        await install_crds(kube, tmp_path / "missing")

    assert "does not exist" in str(caught.value)


async def test_install_crds_from_directory_without_crds_names_the_variable(
    kube: KubeClient, tmp_path: Path
) -> None:
    (tmp_path / "notes.yaml").write_text("kind: ConfigMap\nmetadata: {name: x}\n")

    with pytest.raises(ConfigError, match=ENV_CRDS_DIR) as caught:
        await install_crds(kube, tmp_path)

    assert "no CustomResourceDefinition" in str(caught.value)


def test_unset_crds_variable_without_default_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=ENV_CRDS_DIR):
        crds_dir_from_env(environ={})


def test_crds_variable_wins_over_the_default(tmp_path: Path) -> None:
    chosen = crds_dir_from_env(Path("/elsewhere"), environ={ENV_CRDS_DIR: str(tmp_path)})

    assert chosen == tmp_path.resolve()


def test_session_crds_include_the_provisioning_kinds(crds_dir: Path) -> None:
    names = [crd["metadata"]["name"] for crd in load_crds(crds_dir)]

    assert len(names) == len(set(names))
    for plural in ("dpudevices", "dpunodes", "dpusets", "dpus"):
        assert f"{plural}.provisioning.dpu.nvidia.com" in names
