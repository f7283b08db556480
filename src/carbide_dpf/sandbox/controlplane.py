"""A real, local Kubernetes control plane: etcd plus kube-apiserver on loopback.

`ControlPlane` runs the binaries from `carbide_dpf.sandbox.kubebins` in a private temporary
directory with the flags controller-runtime's envtest uses, writes an admin kubeconfig and
tears everything down on `stop()`: no process and no file is left behind.

Children never outlive the Python process. Three layers make sure of that:

1. `stop()` (also run by the context manager) terminates, then kills, and removes the files.
2. A `weakref.finalize` runs the same cleanup when the object is collected or the
   interpreter exits normally (including after an uncaught KeyboardInterrupt).
3. On Linux every child asks the kernel for SIGKILL when its parent dies
   (``prctl(PR_SET_PDEATHSIG)``), which covers a SIGKILLed interpreter; see
   `carbide_dpf.sandbox._process` for why all children fork from one long-lived thread.

A temporary directory left by a SIGKILLed interpreter is removed by the next `start()`.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import logging
import os
import shutil
import subprocess
import tempfile
import time
import weakref
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import yaml

from carbide_dpf.errors import DpfError
from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.config import ClusterConfig, load_kubeconfig
from carbide_dpf.kube.errors import KubeError
from carbide_dpf.sandbox._process import (
    free_ports,
    remove_stale_directories,
    spawn,
    tail,
    terminate,
)
from carbide_dpf.sandbox.kubebins import KubeBinaries, ensure_binaries
from carbide_dpf.sandbox.pki import CertificateAuthority, KeyPair, service_account_key

log = logging.getLogger(__name__)

T = TypeVar("T")

ADMIN_USER = "admin"
ADMIN_GROUPS = ("system:masters",)
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"

_TEMP_PREFIX = "carbide-dpf-cp-"
_STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL
_LOG_TAIL_LINES = 40


class ControlPlaneError(DpfError):
    """The local control plane failed to start or to answer; the message has its log tail."""


@dataclass(frozen=True, slots=True)
class UserCredentials:
    """A user the control plane trusts: a client certificate and a kubeconfig using it."""

    user: str
    groups: tuple[str, ...]
    kubeconfig_path: Path
    key_pair: KeyPair

    def cluster_config(self) -> ClusterConfig:
        """The `ClusterConfig` that authenticates as this user."""
        return load_kubeconfig(self.kubeconfig_path)


@dataclass(slots=True)
class _Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path


@dataclass(slots=True)
class _Resources:
    """Everything that must go on teardown; kept apart so the finalizer holds no `self`."""

    children: dict[str, _Child] = field(default_factory=dict)
    directory: Path | None = None

    def stop_child(self, name: str) -> None:
        child = self.children.pop(name, None)
        if child is not None:
            terminate(child.process, child.name, _STOP_GRACE)

    def close(self) -> None:
        # The API server goes first so it does not spend its shutdown retrying etcd.
        for name in ("kube-apiserver", "etcd", *list(self.children)):
            self.stop_child(name)
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


class ControlPlane:
    """etcd and kube-apiserver on free loopback ports, with an admin kubeconfig.

    Use as a context manager, or call `start()` and `stop()`. The methods are synchronous;
    from async code call the slow ones through ``asyncio.to_thread`` to keep the loop free.
    """

    def __init__(
        self,
        *,
        binaries: KubeBinaries | None = None,
        extra_apiserver_args: Sequence[str] = (),
        start_timeout: float = 60.0,
    ) -> None:
        """Prepare a control plane; nothing runs until `start()`.

        ``extra_apiserver_args`` are appended to the default kube-apiserver flags, so they
        override them. ``binaries`` defaults to `ensure_binaries()` at start.
        """
        self._binaries = binaries
        self._extra_args = tuple(extra_apiserver_args)
        self._start_timeout = start_timeout
        self._resources = _Resources()
        self._finalizer = weakref.finalize(self, self._resources.close)
        self._ca: CertificateAuthority | None = None
        self._apiserver_port = 0
        self._etcd_port = 0
        self._peer_port = 0
        self._users: dict[str, UserCredentials] = {}

    # -- lifecycle -----------------------------------------------------------------------

    def start(self) -> None:
        """Start etcd and kube-apiserver and wait until ``/readyz`` answers ok.

        Raises `ControlPlaneError` with the tail of the failing server's log, after
        removing whatever had been started.
        """
        if self._resources.directory is not None:
            raise ControlPlaneError("control plane already started; call stop() first")
        remove_stale_directories(_TEMP_PREFIX, "control plane")
        binaries = self._bins  # a build, if one is needed, is not part of the start time
        started = time.monotonic()
        try:
            self._prepare()
            self._start_etcd()
            self.start_apiserver()
        except BaseException:
            self.stop()
            raise
        log.info(
            "control plane ready server=%s etcd=%s bins=%s in %.1fs",
            self.server,
            self.etcd_url,
            binaries.directory,
            time.monotonic() - started,
        )

    def stop(self) -> None:
        """Stop both servers (SIGTERM, then SIGKILL) and remove the temporary directory."""
        if self._resources.directory is not None:
            log.info("stopping control plane server=%s", self.server)
        self._resources.close()
        self._users.clear()

    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start_apiserver(self) -> None:
        """Start kube-apiserver (again) on the same port and etcd; wait for ``/readyz``."""
        if "kube-apiserver" in self._resources.children:
            raise ControlPlaneError("kube-apiserver is already running; stop it first")
        self._spawn("kube-apiserver", [str(self._bins.kube_apiserver), *self._apiserver_args()])
        _run_sync(self._poll_readyz(time.monotonic() + self._start_timeout))

    def stop_apiserver(self) -> None:
        """Stop kube-apiserver only; etcd and the files stay."""
        self._resources.stop_child("kube-apiserver")

    def restart_apiserver(self) -> None:
        """Stop kube-apiserver and start it again on the same port with the same etcd.

        Open watches are cut; clients reconnect to the same `server` URL.
        """
        log.info("restarting kube-apiserver server=%s", self.server)
        self.stop_apiserver()
        self.start_apiserver()

    # -- what clients need ---------------------------------------------------------------

    @property
    def server(self) -> str:
        """The API server's URL, ``https://127.0.0.1:<port>``."""
        return f"https://127.0.0.1:{self._apiserver_port}"

    @property
    def etcd_url(self) -> str:
        """etcd's client URL (plain HTTP, also serving etcd's JSON gateway)."""
        return f"http://127.0.0.1:{self._etcd_port}"

    @property
    def directory(self) -> Path:
        """The private temporary directory: certificates, kubeconfigs, logs, etcd data."""
        return self._dir

    @property
    def pids(self) -> dict[str, int]:
        """The process id of each running server, by binary name."""
        return {name: child.process.pid for name, child in self._resources.children.items()}

    @property
    def kubeconfig_path(self) -> Path:
        """The admin kubeconfig (user ``admin`` in group ``system:masters``)."""
        return self._dir / "kubeconfig"

    @property
    def ca_cert_pem(self) -> bytes:
        """The CA certificate that signed the serving and client certificates."""
        return self._authority.cert_pem

    def cluster_config(self) -> ClusterConfig:
        """The admin `ClusterConfig`, for ``KubeClient(config)``."""
        return load_kubeconfig(self.kubeconfig_path)

    def client(self, **kwargs: Any) -> KubeClient:
        """Return an admin `KubeClient`; ``kwargs`` go to its constructor."""
        return KubeClient.from_kubeconfig(self.kubeconfig_path, **kwargs)

    def user(self, name: str, groups: Sequence[str] = ()) -> UserCredentials:
        """Mint a client certificate for user ``name`` in ``groups`` and a kubeconfig for it.

        The user has no rights until RBAC grants some: use it for least-privilege tests.
        """
        pair = self._authority.issue_client(name, groups)
        path = self._dir / f"kubeconfig-{len(self._users)}-{_safe(name)}"
        _write_kubeconfig(path, self.server, self.ca_cert_pem, name, pair)
        credentials = UserCredentials(name, tuple(groups), path, pair)
        self._users[name] = credentials
        return credentials

    def anonymous_kubeconfig(self) -> Path:
        """Write a kubeconfig that trusts the server but presents no credentials."""
        path = self._dir / "kubeconfig-anonymous"
        _write_kubeconfig(path, self.server, self.ca_cert_pem, "anonymous", None)
        return path

    def apiserver_log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of kube-apiserver's own log."""
        return tail(self._dir / "kube-apiserver.log", lines)

    # -- etcd maintenance for tests ------------------------------------------------------

    def compact_etcd(self) -> int:
        """Compact etcd up to its current revision and return that revision.

        Watches resuming from an older resourceVersion then get 410 Gone: the way to test
        an informer's relist.
        """
        with httpx.Client(base_url=self.etcd_url, timeout=10.0) as http:
            # A range over any key reports the store's current revision in its header.
            answer = http.post("/v3/kv/range", json={"key": "AA==", "limit": 1})
            answer.raise_for_status()
            revision = int(answer.json()["header"]["revision"])

            body = {"revision": str(revision), "physical": True}
            http.post("/v3/kv/compaction", json=body).raise_for_status()
        log.info("compacted etcd revision=%d", revision)
        return revision

    # -- internals -----------------------------------------------------------------------

    @property
    def _dir(self) -> Path:
        if self._resources.directory is None:
            raise ControlPlaneError("control plane not started; call start() first")
        return self._resources.directory

    @property
    def _authority(self) -> CertificateAuthority:
        if self._ca is None:
            raise ControlPlaneError("control plane not started; call start() first")
        return self._ca

    @property
    def _bins(self) -> KubeBinaries:
        if self._binaries is None:
            self._binaries = ensure_binaries()
        return self._binaries

    def _prepare(self) -> None:
        directory = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-"))
        self._resources.directory = directory
        self._apiserver_port, self._etcd_port, self._peer_port = free_ports(3)

        self._ca = CertificateAuthority()
        (directory / "ca.crt").write_bytes(self._ca.cert_pem)
        self._ca.issue_serving().write(directory, "apiserver")
        private, public = service_account_key()
        (directory / "sa.key").touch(mode=0o600)
        (directory / "sa.key").write_bytes(private)
        (directory / "sa.pub").write_bytes(public)

        admin = self._ca.issue_client(ADMIN_USER, ADMIN_GROUPS)
        _write_kubeconfig(self.kubeconfig_path, self.server, self._ca.cert_pem, ADMIN_USER, admin)

    def _start_etcd(self) -> None:
        peer = f"http://127.0.0.1:{self._peer_port}"
        args = [
            str(self._bins.etcd),
            "--name=sandbox",
            f"--data-dir={self._dir / 'etcd'}",
            f"--listen-client-urls={self.etcd_url}",
            f"--advertise-client-urls={self.etcd_url}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=sandbox={peer}",
            # Throw-away data: skipping fsync makes every write much cheaper.
            "--unsafe-no-fsync=true",
        ]
        self._spawn("etcd", args)
        self._wait_etcd(time.monotonic() + self._start_timeout)

    def _apiserver_args(self) -> list[str]:
        directory = self._dir
        return [
            f"--etcd-servers={self.etcd_url}",
            f"--secure-port={self._apiserver_port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--cert-dir={directory / 'apiserver-certs'}",
            f"--tls-cert-file={directory / 'apiserver.crt'}",
            f"--tls-private-key-file={directory / 'apiserver.key'}",
            f"--client-ca-file={directory / 'ca.crt'}",
            f"--service-account-issuer={self.server}",
            f"--service-account-key-file={directory / 'sa.pub'}",
            f"--service-account-signing-key-file={directory / 'sa.key'}",
            f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
            "--authorization-mode=RBAC",
            "--disable-admission-plugins=ServiceAccount",
            "--endpoint-reconciler-type=none",
            "--allow-privileged=true",
            *self._extra_args,
        ]

    def _spawn(self, name: str, argv: list[str]) -> None:
        log_path = self._dir / f"{name}.log"
        with log_path.open("ab") as log_file:
            process = spawn(argv, log_file)
        self._resources.children[name] = _Child(name, process, log_path)
        log.info("started %s pid=%d log=%s", name, process.pid, log_path)

    def _check_alive(self) -> None:
        for child in self._resources.children.values():
            code = child.process.poll()
            if code is not None:
                raise ControlPlaneError(
                    f"{child.name} exited with code {code} during start; fix the cause shown "
                    f"in its log ({child.log_path}):\n{tail(child.log_path, _LOG_TAIL_LINES)}"
                )

    def _wait_etcd(self, deadline: float) -> None:
        last = "no answer yet"
        with httpx.Client(timeout=2.0) as http:
            while True:
                self._check_alive()
                try:
                    answer = http.get(f"{self.etcd_url}/health")
                    if answer.status_code == 200 and answer.json().get("health") == "true":
                        return
                    last = f"HTTP {answer.status_code}: {answer.text[:200]}"
                except httpx.HTTPError as error:
                    last = str(error)
                self._raise_if_late(deadline, "etcd", last)
                time.sleep(0.1)

    async def _poll_readyz(self, deadline: float) -> None:
        last = "no answer yet"
        # No retries inside the client: this loop is the retry, and it watches the process.
        async with self.client(max_retries=0, timeout=5.0) as kube:
            while True:
                self._check_alive()
                try:
                    answer = await kube.request("GET", "/readyz")
                    if answer.status_code == 200:
                        return
                    last = f"HTTP {answer.status_code}: {answer.text[:300]}"
                except KubeError as error:
                    last = str(error)
                self._raise_if_late(deadline, "kube-apiserver", last)
                await asyncio.sleep(0.2)

    def _raise_if_late(self, deadline: float, name: str, last: str) -> None:
        if time.monotonic() < deadline:
            return
        log_tail = tail(self._dir / f"{name}.log", _LOG_TAIL_LINES)
        raise ControlPlaneError(
            f"{name} not ready after {self._start_timeout:.0f}s (last answer: {last}); "
            f"check its log:\n{log_tail}"
        )


def _run_sync(awaitable: Awaitable[T]) -> T:
    """Run ``awaitable`` to completion from sync code, even under a running event loop."""

    async def runner() -> T:
        return await awaitable

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(runner())
    # A loop runs in this thread: a second loop must live in another thread.
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="carbide-dpf-cp") as pool:
        return pool.submit(asyncio.run, runner()).result()


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _write_kubeconfig(
    path: Path, server: str, ca_pem: bytes, user: str, pair: KeyPair | None
) -> None:
    credentials: dict[str, str] = {}
    if pair is not None:
        credentials = {
            "client-certificate-data": _b64(pair.cert_pem),
            "client-key-data": _b64(pair.key_pem),
        }
    cluster = {"server": server, "certificate-authority-data": _b64(ca_pem)}
    context = {"cluster": "sandbox", "user": user, "namespace": "default"}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": cluster}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": user, "context": context}],
        "current-context": user,
    }
    path.touch(mode=0o600)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
