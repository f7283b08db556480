"""Where the API server is and who we are: kubeconfig, in-cluster, or explicit settings.

`load_config()` follows kubectl's order: an explicit path, then `$KUBECONFIG` (the first
file of the list), then `~/.kube/config`, then the in-cluster service account. TLS
verification stays on unless the kubeconfig says `insecure-skip-tls-verify: true`.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
import logging
import os
import ssl
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from carbide_dpf.errors import ConfigError

__all__ = [
    "AuthProvider",
    "ClusterConfig",
    "ExecCredentialAuth",
    "StaticTokenAuth",
    "TokenFileAuth",
    "load_config",
]

log = logging.getLogger(__name__)

_IN_CLUSTER_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
# Refresh an exec credential a little before it expires, as client-go does.
_EXEC_EXPIRY_MARGIN = dt.timedelta(seconds=30)


@dataclass(slots=True)
class ClusterConfig:
    """Everything needed to open a connection to one API server as one identity."""

    server: str
    namespace: str = "default"
    ca_data: bytes | None = None
    insecure_skip_tls_verify: bool = False
    client_cert_data: bytes | None = None
    client_key_data: bytes | None = None
    token: str | None = field(default=None, repr=False)
    auth: AuthProvider | None = field(default=None, repr=False)
    tls_server_name: str | None = None

    def ssl_context(self) -> ssl.SSLContext | bool:
        """Build the TLS context: our CA, our client certificate, verification as configured."""
        if not self.server.startswith("https"):
            return False

        context = ssl.create_default_context()
        if self.insecure_skip_tls_verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        elif self.ca_data:
            context = ssl.create_default_context(cadata=self.ca_data.decode())

        if self.client_cert_data and self.client_key_data:
            _load_client_cert(context, self.client_cert_data, self.client_key_data)
        return context

    def auth_provider(self) -> AuthProvider | None:
        """What supplies the `Authorization` header of our requests, if anything."""
        if self.auth is not None:
            return self.auth
        if self.token:
            return StaticTokenAuth(self.token)
        return None


def load_config(
    path: str | Path | None = None,
    *,
    context: str | None = None,
) -> ClusterConfig:
    """Load the configuration kubectl would use, or the in-cluster service account."""
    candidates: list[Path] = []
    if path is not None:
        candidates.append(Path(path))
    elif os.environ.get("KUBECONFIG"):
        candidates.extend(Path(p) for p in os.environ["KUBECONFIG"].split(os.pathsep) if p)
    else:
        candidates.append(Path.home() / ".kube" / "config")

    for candidate in candidates:
        if candidate.is_file():
            return load_kubeconfig(candidate, context=context)
    if path is not None:
        raise ConfigError(f"kubeconfig {path} does not exist; pass the path of a kubeconfig")

    if (_IN_CLUSTER_DIR / "token").is_file() and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return load_in_cluster()
    raise ConfigError(
        "no Kubernetes configuration found: set KUBECONFIG, pass --kubeconfig, "
        "or run inside a pod with a service account"
    )


def load_kubeconfig(path: Path, *, context: str | None = None) -> ClusterConfig:
    """Load one context (the current one by default) of a kubeconfig file."""
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ConfigError(f"cannot read kubeconfig {path}: {error}") from error
    return config_from_dict(document, context=context, base_dir=path.parent)


def config_from_dict(
    document: Mapping[str, Any],
    *,
    context: str | None = None,
    base_dir: Path | None = None,
) -> ClusterConfig:
    """Build a ClusterConfig from a parsed kubeconfig document."""
    base = base_dir or Path.cwd()
    context_name = context or document.get("current-context")
    if not context_name:
        raise ConfigError("the kubeconfig has no current-context; pass --context")

    ctx = _named(document, "contexts", "context", context_name)
    cluster = _named(document, "clusters", "cluster", ctx.get("cluster", ""))
    user = _named(document, "users", "user", ctx["user"]) if ctx.get("user") else {}

    if not cluster.get("server"):
        raise ConfigError(f"cluster of context {context_name!r} has no server address")
    config = ClusterConfig(
        server=str(cluster["server"]).rstrip("/"),
        namespace=str(ctx.get("namespace") or "default"),
        ca_data=_data_or_file(cluster, "certificate-authority", base),
        insecure_skip_tls_verify=bool(cluster.get("insecure-skip-tls-verify", False)),
        client_cert_data=_data_or_file(user, "client-certificate", base),
        client_key_data=_data_or_file(user, "client-key", base),
        token=user.get("token"),
        tls_server_name=cluster.get("tls-server-name"),
    )

    if user.get("tokenFile"):
        config.auth = TokenFileAuth(_resolve(base, user["tokenFile"]))
    if user.get("exec"):
        config.auth = ExecCredentialAuth(user["exec"], base)
    return config


def load_in_cluster() -> ClusterConfig:
    """Load the pod's service account: token (re-read as it rotates), CA and namespace."""
    host = os.environ["KUBERNETES_SERVICE_HOST"]
    port = os.environ.get("KUBERNETES_SERVICE_PORT", "443")
    if ":" in host:
        host = f"[{host}]"
    namespace_file = _IN_CLUSTER_DIR / "namespace"
    return ClusterConfig(
        server=f"https://{host}:{port}",
        namespace=namespace_file.read_text().strip() if namespace_file.exists() else "default",
        ca_data=(_IN_CLUSTER_DIR / "ca.crt").read_bytes(),
        auth=TokenFileAuth(_IN_CLUSTER_DIR / "token"),
    )


class AuthProvider(Protocol):
    """Supplies the `Authorization` header of each request.

    `refresh=True` is asked after the API server answered 401: a provider that can renew its
    credentials (re-read a rotated file, re-run an exec plugin) does so; one that cannot
    returns the same header, and the 401 stands.
    """

    async def authorization(self, *, refresh: bool = False) -> str | None:
        """Return the header value, e.g. "Bearer <token>", or None for no header."""
        ...


class StaticTokenAuth:
    """A bearer token written in the kubeconfig."""

    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    async def authorization(self, *, refresh: bool = False) -> str | None:
        """Return the bearer header; a static token cannot be renewed."""
        return self._header

    def __repr__(self) -> str:
        return "StaticTokenAuth(token=***)"


class TokenFileAuth:
    """A bearer token read from a file, re-read every minute because kubelet rotates it."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._token = ""
        self._read_at = 0.0

    async def authorization(self, *, refresh: bool = False) -> str | None:
        """Return the bearer header, re-reading the file when stale or asked to."""
        now = time.monotonic()
        if refresh or not self._token or now - self._read_at > 60:
            self._token = self._path.read_text().strip()
            self._read_at = now
        return f"Bearer {self._token}"

    def __repr__(self) -> str:
        return f"TokenFileAuth(path={str(self._path)!r})"


class ExecCredentialAuth:
    """Credentials from a kubeconfig `exec` plugin, cached until they expire.

    The plugin is run again when its token expires or when the API server answers 401.
    Client certificates returned by a plugin are not supported: such a plugin raises
    ConfigError telling the user to write the certificate into the kubeconfig instead.
    """

    def __init__(self, spec: Mapping[str, Any], base_dir: Path) -> None:
        if not spec.get("command"):
            raise ConfigError("the kubeconfig's exec plugin has no command")
        self._spec = spec
        self._base_dir = base_dir
        self._token: str | None = None
        self._expires: dt.datetime | None = None
        self._lock = asyncio.Lock()

    async def authorization(self, *, refresh: bool = False) -> str | None:
        """Return the bearer header, running the plugin when the token is stale."""
        async with self._lock:
            now = dt.datetime.now(dt.UTC)
            fresh = self._token and (self._expires is None or now < self._expires)
            if refresh or not fresh:
                self._token, self._expires = await self._run_plugin()
            return f"Bearer {self._token}"

    def __repr__(self) -> str:
        return f"ExecCredentialAuth(command={self._spec.get('command')!r})"

    async def _run_plugin(self) -> tuple[str, dt.datetime | None]:
        command = str(self._spec["command"])
        if "/" in command and not os.path.isabs(command):
            command = str(self._base_dir / command)
        env = dict(os.environ)
        env.update({e["name"]: e["value"] for e in self._spec.get("env") or []})
        env["KUBERNETES_EXEC_INFO"] = json.dumps({
            "apiVersion": self._spec.get("apiVersion", "client.authentication.k8s.io/v1"),
            "kind": "ExecCredential",
            "spec": {"interactive": False},
        })

        process = await asyncio.create_subprocess_exec(
            command, *[str(a) for a in self._spec.get("args") or []], env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await process.communicate()
        if process.returncode != 0:
            raise ConfigError(
                f"exec credential plugin {command} failed with exit code {process.returncode}: "
                f"{stderr.decode(errors='replace')[-400:]}"
            )
        return _parse_exec_credential(stdout, command)


def _parse_exec_credential(stdout: bytes, command: str) -> tuple[str, dt.datetime | None]:
    try:
        status = json.loads(stdout).get("status") or {}
    except ValueError as error:
        raise ConfigError(f"exec plugin {command} printed no ExecCredential JSON") from error
    if status.get("clientCertificateData"):
        raise ConfigError(
            f"exec plugin {command} returned a client certificate, which carbide-dpf does not "
            "support; put the certificate in the kubeconfig instead"
        )
    if not status.get("token"):
        raise ConfigError(f"exec plugin {command} returned no token")

    expires = None
    if status.get("expirationTimestamp"):
        stamp = str(status["expirationTimestamp"]).replace("Z", "+00:00")
        expires = dt.datetime.fromisoformat(stamp) - _EXEC_EXPIRY_MARGIN
    log.debug("exec credential refreshed command=%s expires=%s", command, expires)
    return str(status["token"]), expires


def _named(document: Mapping[str, Any], section: str, key: str, name: str) -> dict[str, Any]:
    for entry in document.get(section) or []:
        if entry.get("name") == name:
            return dict(entry.get(key) or {})
    raise ConfigError(f"the kubeconfig has no {key} named {name!r} in {section}")


def _data_or_file(section: Mapping[str, Any], key: str, base: Path) -> bytes | None:
    if section.get(f"{key}-data"):
        return base64.b64decode(section[f"{key}-data"])
    if section.get(key):
        try:
            return _resolve(base, section[key]).read_bytes()
        except OSError as error:
            raise ConfigError(f"cannot read {key} file {section[key]}: {error}") from error
    return None


def _resolve(base: Path, name: str) -> Path:
    path = Path(name).expanduser()
    return path if path.is_absolute() else base / path


def _load_client_cert(context: ssl.SSLContext, cert: bytes, key: bytes) -> None:
    # ssl can only load a certificate chain from files: write both to a private directory
    # and delete it at once; the context keeps the loaded key in memory.
    with tempfile.TemporaryDirectory(prefix="carbide-dpf-tls-") as directory:
        cert_path = Path(directory, "client.crt")
        key_path = Path(directory, "client.key")
        for path, data in ((cert_path, cert), (key_path, key)):
            descriptor = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(data)
        context.load_cert_chain(cert_path, key_path)
