"""Configuration and authentication against a real API server: kubeconfig, tokens, exec."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import yaml

from carbide_dpf.errors import ConfigError
from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.config import ClusterConfig, load_config
from carbide_dpf.kube.errors import UnauthorizedError
from carbide_dpf.kube.resource import NAMESPACE
from carbide_dpf.sandbox.controlplane import ControlPlane

TOKEN = "carbide-test-token-0123456789"


@pytest.fixture(scope="module")
def token_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """A control plane that also accepts one static bearer token, for the auth tests."""
    directory = tmp_path_factory.mktemp("tokens")
    tokens = directory / "tokens.csv"
    tokens.write_text(f'{TOKEN},token-user,uid-1,"system:masters"\n')
    plane = ControlPlane(extra_apiserver_args=[f"--token-auth-file={tokens}"])
    plane.start()
    try:
        yield plane
    finally:
        plane.stop()


def _kubeconfig(plane: ControlPlane, user: Mapping[str, object], path: Path) -> Path:
    admin = yaml.safe_load(plane.kubeconfig_path.read_text())
    admin["users"] = [{"name": "u", "user": user}]
    admin["contexts"] = [{"name": "c", "context": {"cluster": admin["clusters"][0]["name"],
                                                   "user": "u", "namespace": "team-a"}}]
    admin["current-context"] = "c"
    path.write_text(yaml.safe_dump(admin))
    return path


async def _can_list_namespaces(config: ClusterConfig) -> bool:
    async with KubeClient(config, max_retries=0) as kube:
        listed = await kube.list(NAMESPACE)
    return any(ns["metadata"]["name"] == "default" for ns in listed.items)


async def test_admin_kubeconfig_with_client_certificate_works(
    control_plane: ControlPlane,
) -> None:
    config = load_config(control_plane.kubeconfig_path)

    assert config.client_cert_data and config.ca_data
    assert await _can_list_namespaces(config)


async def test_token_from_kubeconfig_authenticates(
    token_plane: ControlPlane, tmp_path: Path
) -> None:
    path = _kubeconfig(token_plane, {"token": TOKEN}, tmp_path / "kc")

    config = load_config(path)

    assert config.namespace == "team-a"
    assert TOKEN not in repr(config)
    assert await _can_list_namespaces(config)


async def test_token_file_authenticates(token_plane: ControlPlane, tmp_path: Path) -> None:
    (tmp_path / "token").write_text(TOKEN + "\n")
    path = _kubeconfig(token_plane, {"tokenFile": "token"}, tmp_path / "kc")

    assert await _can_list_namespaces(load_config(path))


async def test_exec_plugin_token_authenticates(token_plane: ControlPlane, tmp_path: Path) -> None:
    plugin = tmp_path / "plugin.sh"
    credential = {"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
                  "status": {"token": TOKEN, "expirationTimestamp": "2099-01-01T00:00:00Z"}}
    plugin.write_text(f"#!/bin/sh\necho '{json.dumps(credential)}'\n")
    plugin.chmod(plugin.stat().st_mode | stat.S_IEXEC)
    user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}}
    path = _kubeconfig(token_plane, user, tmp_path / "kc")

    assert await _can_list_namespaces(load_config(path))


async def test_wrong_token_is_unauthorized(token_plane: ControlPlane, tmp_path: Path) -> None:
    path = _kubeconfig(token_plane, {"token": "wrong"}, tmp_path / "kc")

    with pytest.raises(UnauthorizedError, match="credentials"):
        await _can_list_namespaces(load_config(path))


async def test_failing_exec_plugin_is_a_config_error(
    token_plane: ControlPlane, tmp_path: Path
) -> None:
    plugin = tmp_path / "broken.sh"
    plugin.write_text("#!/bin/sh\necho 'no login' >&2\nexit 3\n")
    plugin.chmod(plugin.stat().st_mode | stat.S_IEXEC)
    path = _kubeconfig(token_plane, {"exec": {"command": str(plugin)}}, tmp_path / "kc")

    with pytest.raises(ConfigError, match="exit code 3"):
        await _can_list_namespaces(load_config(path))


def test_missing_kubeconfig_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope")


def test_unknown_context_is_named(control_plane: ControlPlane) -> None:
    with pytest.raises(ConfigError, match="'ghost'"):
        load_config(control_plane.kubeconfig_path, context="ghost")


def test_kubeconfig_env_is_used(
    control_plane: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(control_plane.kubeconfig_path))

    assert load_config().server == control_plane.server
