"""The sandbox: a local DPF cluster that runs in the background until `down()`.

`up()` starts a detached *supervisor* process (``python -m carbide_dpf.sandbox.sandbox``)
and returns once the supervisor reports ready. The supervisor runs, all on loopback:

- a `ControlPlane` (etcd and kube-apiserver, RBAC on) with the DPF CRDs installed;
- the namespace `SANDBOX_NAMESPACE` and the operator `Simulator` acting on it;
- a `BmcEmulator` (sushy-tools' Redfish emulator) with one system per host.

Its files live in one directory (default `DEFAULT_DIR`, or ``$CARBIDE_DPF_SANDBOX_DIR``):

``state.json``      what runs where (`SandboxInfo`), written once everything is ready
``kubeconfig``      the admin kubeconfig, its context on the sandbox namespace
``bmc-password``    the BMC emulator's password (mode 0600)
``supervisor.pid``  the supervisor's process id, written first
``supervisor.log``  the supervisor's log (kept on a failed start so the cause can be read)
``lock``            serialises `up()` and `down()`

Why a supervisor process and not daemonised servers: etcd, kube-apiserver and the emulator
are the supervisor's children and ask the kernel to kill them when it dies
(`carbide_dpf.sandbox._process`), so even a SIGKILLed supervisor leaves no orphan server.
On SIGTERM (what `down()` sends) the supervisor stops the simulator, the emulator and the
control plane and removes its files; `down()` then removes the log, the lock and the
directory if it is left empty.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from carbide_dpf.errors import ConfigError, DpfError
from carbide_dpf.sandbox._process import pid_alive, tail

if TYPE_CHECKING:
    from carbide_dpf.kube.client import KubeClient
    from carbide_dpf.sandbox.bmc import BmcEmulator
    from carbide_dpf.sandbox.controlplane import ControlPlane

__all__ = [
    "DEFAULT_DIR",
    "ENV_SANDBOX_DIR",
    "SANDBOX_NAMESPACE",
    "SandboxError",
    "SandboxInfo",
    "SandboxPaths",
    "SandboxStatus",
    "default_crds_dir",
    "default_dir",
    "down",
    "status",
    "up",
]

log = logging.getLogger(__name__)

ENV_SANDBOX_DIR = "CARBIDE_DPF_SANDBOX_DIR"
"""Environment variable naming the sandbox directory (default `DEFAULT_DIR`)."""

DEFAULT_DIR = Path("~/.cache/carbide-dpf/sandbox")
SANDBOX_NAMESPACE = "dpf-operator-system"
BMC_USERNAME = "admin"

_SUPERVISOR_MODULE = "carbide_dpf.sandbox.sandbox"
_STATE_VERSION = 1
_POLL = 0.1
_STOP_TIMEOUT = 60.0  # seconds `down()` waits for the supervisor before SIGKILL
_LOG_TAIL_LINES = 40
# The simulator is the only writer of most objects; at zero dwell it needs far more than an
# interactive client's 50 requests per second.
_SIM_QPS = 1000.0


class SandboxError(DpfError):
    """The sandbox failed to start or to stop; the message says where its log is."""


@dataclass(frozen=True, slots=True)
class SandboxPaths:
    """The files of one sandbox directory."""

    directory: Path

    @property
    def state(self) -> Path:
        """`SandboxInfo` as JSON, present while the sandbox is ready."""
        return self.directory / "state.json"

    @property
    def kubeconfig(self) -> Path:
        """The admin kubeconfig."""
        return self.directory / "kubeconfig"

    @property
    def bmc_password(self) -> Path:
        """The BMC emulator's password, mode 0600."""
        return self.directory / "bmc-password"

    @property
    def pid(self) -> Path:
        """The supervisor's process id."""
        return self.directory / "supervisor.pid"

    @property
    def log(self) -> Path:
        """The supervisor's log."""
        return self.directory / "supervisor.log"

    @property
    def logs(self) -> Path:
        """Where the servers' own logs are copied when `down(keep_logs=True)` asks."""
        return self.directory / "logs"

    @property
    def keep_logs(self) -> Path:
        """A marker asking the stopping supervisor to copy the servers' logs to `logs`."""
        return self.directory / "keep-logs"

    @property
    def lock(self) -> Path:
        """The lock file serialising `up()` and `down()`."""
        return self.directory / "lock"


@dataclass(frozen=True, slots=True)
class SandboxInfo:
    """What a running sandbox offers, as written to ``state.json``."""

    directory: str
    supervisor_pid: int
    started_at: float
    ready_seconds: float
    server: str
    kubeconfig: str
    namespace: str
    crds_dir: str
    dwell: float
    hosts: int
    bmc_url: str
    bmc_username: str
    bmc_password_file: str
    bmc_systems: list[str]
    pids: dict[str, int]
    control_plane_dir: str
    bmc_dir: str
    version: int = _STATE_VERSION

    def to_json(self) -> str:
        """Serialise for ``state.json``."""
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> SandboxInfo:
        """Parse ``state.json``; raises `SandboxError` for a file of another version."""
        data = json.loads(text)
        if data.get("version") != _STATE_VERSION:
            raise SandboxError("sandbox state of another version; run `carbide-dpf sandbox down`")
        return cls(**data)

    def describe(self) -> list[str]:
        """Lines for a person: where the API server, the namespace and the BMC are."""
        return [
            f"sandbox running (supervisor pid {self.supervisor_pid}, "
            f"ready in {self.ready_seconds:.1f}s)",
            f"  API server     {self.server}",
            f"  namespace      {self.namespace} (operator simulator, dwell {self.dwell:g}s)",
            f"  BMC (Redfish)  {self.bmc_url}",
            f"  BMC user       {self.bmc_username}",
            f"  BMC password   in {self.bmc_password_file}",
            f"  BMC systems    {', '.join(self.bmc_systems)}",
            f"  log            {Path(self.directory) / 'supervisor.log'}",
            "",
            f"export KUBECONFIG={self.kubeconfig}",
        ]


@dataclass(frozen=True, slots=True)
class SandboxStatus:
    """What `status()` found: the sandbox's info and whether each part still runs."""

    directory: Path
    running: bool
    starting: bool = False
    info: SandboxInfo | None = None
    processes: dict[str, bool] = field(default_factory=dict)
    apiserver_ready: bool | None = None
    dpu_phases: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view (``carbide-dpf sandbox status -o json``)."""
        return {
            "directory": str(self.directory),
            "running": self.running,
            "starting": self.starting,
            "info": asdict(self.info) if self.info else None,
            "processes": self.processes,
            "apiserver_ready": self.apiserver_ready,
            "dpu_phases": self.dpu_phases,
        }


# -- locations ------------------------------------------------------------------------------


def default_dir() -> Path:
    """``$CARBIDE_DPF_SANDBOX_DIR`` or `DEFAULT_DIR`, expanded."""
    return Path(os.environ.get(ENV_SANDBOX_DIR) or DEFAULT_DIR).expanduser()


def default_crds_dir() -> Path:
    """``$DPF_CRDS_DIR``, else ``../shared/dpf-crds/v25.10.1`` beside a source checkout."""
    from carbide_dpf.sandbox.crds import crds_dir_from_env

    repo = Path(__file__).resolve().parents[3]
    beside = repo.parent / "shared" / "dpf-crds" / "v25.10.1"
    is_checkout = (repo / "pyproject.toml").is_file()
    return crds_dir_from_env(beside if is_checkout else None)


# -- up, status, down -------------------------------------------------------------------------


def up(
    directory: Path | None = None,
    *,
    dwell: float = 0.0,
    hosts: int = 1,
    crds_dir: Path | None = None,
    timeout: float = 600.0,
) -> tuple[SandboxInfo, bool]:
    """Start the sandbox in the background and wait until it is ready.

    Returns its info and whether this call started it: a sandbox already running in
    ``directory`` is left as it is (whatever ``dwell`` and ``hosts`` say). Raises
    `SandboxError` with the supervisor's log tail when it does not get ready in ``timeout``
    seconds (a first run may build the kube binaries, which takes minutes).
    """
    _check_settings(dwell, hosts)
    paths = SandboxPaths((directory or default_dir()).expanduser().resolve())
    paths.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    with _locked(paths):
        running = _running_info(paths)
        if running is not None:
            log.info("sandbox already running directory=%s", paths.directory)
            return running, False

        _remove_leftovers(paths)
        crds = (crds_dir or default_crds_dir()).resolve()
        if not crds.is_dir():
            raise ConfigError(f"CRD directory {crds} does not exist; set DPF_CRDS_DIR or "
                              "--crds-dir to the DPF CRD yaml files")
        process = _start_supervisor(paths, dwell=dwell, hosts=hosts, crds_dir=crds)
        return _wait_ready(paths, process, timeout), True


def status(directory: Path | None = None) -> SandboxStatus:
    """Report whether the sandbox in ``directory`` runs, and probe its API server."""
    paths = SandboxPaths((directory or default_dir()).expanduser().resolve())
    info = _running_info(paths)
    if info is None:
        pid = _read_pid(paths)
        starting = pid is not None and _is_supervisor(pid)
        return SandboxStatus(paths.directory, running=False, starting=starting)

    processes = {"supervisor": True, **{n: _is_alive(p) for n, p in info.pids.items()}}
    ready, phases = _probe(paths.kubeconfig, info.namespace)
    return SandboxStatus(paths.directory, running=True, info=info, processes=processes,
                         apiserver_ready=ready, dpu_phases=phases)


def down(directory: Path | None = None, *, keep_logs: bool = False,
         timeout: float = _STOP_TIMEOUT) -> bool:
    """Stop the sandbox and remove its files (all of them unless ``keep_logs``).

    Returns whether a supervisor was running. A supervisor that does not stop within
    ``timeout`` seconds is killed; its servers die with it.
    """
    paths = SandboxPaths((directory or default_dir()).expanduser().resolve())
    if not paths.directory.is_dir():
        return False
    with _locked(paths):
        pid = _read_pid(paths)
        was_running = pid is not None and _is_supervisor(pid)
        if pid is not None and was_running:
            if keep_logs:
                paths.keep_logs.touch()
            _stop_supervisor(paths, pid, timeout)
        _remove_leftovers(paths, keep_logs=keep_logs)
    paths.lock.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        paths.directory.rmdir()  # only when empty: the user's own files stay
    log.info("sandbox down directory=%s was_running=%s", paths.directory, was_running)
    return was_running


# -- the caller's side ------------------------------------------------------------------------


def _check_settings(dwell: float, hosts: int) -> None:
    if not 0 <= dwell < float("inf"):
        raise ConfigError(f"--dwell must be a number of seconds >= 0, got {dwell}")
    if not 1 <= hosts <= 1000:
        raise ConfigError(f"--hosts must be between 1 and 1000, got {hosts}")


@contextlib.contextmanager
def _locked(paths: SandboxPaths) -> Iterator[None]:
    with paths.lock.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _running_info(paths: SandboxPaths) -> SandboxInfo | None:
    try:
        info = SandboxInfo.from_json(paths.state.read_text())
    except (FileNotFoundError, ValueError, TypeError):
        return None
    return info if _is_supervisor(info.supervisor_pid) else None


def _read_pid(paths: SandboxPaths) -> int | None:
    try:
        return int(paths.pid.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _is_supervisor(pid: int) -> bool:
    """Whether ``pid`` runs our supervisor: not a zombie, not a recycled pid."""
    _reap(pid)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return sys.platform != "linux" and pid_alive(pid)
    return _SUPERVISOR_MODULE.encode() in cmdline


def _is_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return sys.platform != "linux" and pid_alive(pid)
    return stat.rpartition(")")[2].split()[0] != "Z"


def _reap(pid: int) -> None:
    # A supervisor started by this very process (tests) stays a zombie until reaped.
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def _remove_leftovers(paths: SandboxPaths, *, keep_logs: bool = False) -> None:
    """Remove what a stopped or crashed supervisor left: files and its servers' directories."""
    with contextlib.suppress(FileNotFoundError, ValueError, TypeError):
        info = SandboxInfo.from_json(paths.state.read_text())
        for leftover in (info.control_plane_dir, info.bmc_dir):
            shutil.rmtree(leftover, ignore_errors=True)
    for path in (paths.state, paths.kubeconfig, paths.bmc_password, paths.pid, paths.keep_logs):
        path.unlink(missing_ok=True)
    if not keep_logs:
        paths.log.unlink(missing_ok=True)
        shutil.rmtree(paths.logs, ignore_errors=True)


def _start_supervisor(paths: SandboxPaths, *, dwell: float, hosts: int,
                      crds_dir: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", _SUPERVISOR_MODULE, "--dir", str(paths.directory),
            "--dwell", repr(dwell), "--hosts", str(hosts), "--crds-dir", str(crds_dir)]
    with paths.log.open("ab") as log_file:
        # Detached on purpose (own session, no death signal): it outlives this command.
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log_file,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    log.info("started sandbox supervisor pid=%d directory=%s", process.pid, paths.directory)
    return process


def _wait_ready(paths: SandboxPaths, process: subprocess.Popen[bytes],
                timeout: float) -> SandboxInfo:
    deadline = time.monotonic() + timeout
    while True:
        info = _running_info(paths)
        if info is not None and info.supervisor_pid == process.pid:
            return info
        if process.poll() is not None:
            raise _start_failed(paths, f"the supervisor exited with code {process.returncode}")
        if time.monotonic() >= deadline:
            _stop_supervisor(paths, process.pid, _STOP_TIMEOUT)
            raise _start_failed(paths, f"not ready within {timeout:.0f}s; it was stopped")
        time.sleep(_POLL)


def _start_failed(paths: SandboxPaths, reason: str) -> SandboxError:
    return SandboxError(
        f"sandbox did not start: {reason}. Fix the cause shown in {paths.log}, then run "
        f"`carbide-dpf sandbox down` (removes the log) and `up` again:\n"
        f"{tail(paths.log, _LOG_TAIL_LINES)}"
    )


def _stop_supervisor(paths: SandboxPaths, pid: int, timeout: float) -> None:
    log.info("stopping sandbox supervisor pid=%d", pid)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid, timeout):
        return
    log.warning("killing sandbox supervisor pid=%d: no exit %.0fs after SIGTERM", pid, timeout)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not _wait_gone(pid, 10.0):
        raise SandboxError(f"sandbox supervisor pid {pid} survived SIGKILL; check `ps {pid}`")


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _is_supervisor(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(_POLL)
    return True


def _probe(kubeconfig: Path, namespace: str) -> tuple[bool, dict[str, int]]:
    """Ask the API server for /readyz and count the DPUs of the namespace by phase."""
    from carbide_dpf.kube.client import KubeClient
    from carbide_dpf.kube.errors import KubeError
    from carbide_dpf.models.registry import DPU

    async def probe() -> tuple[bool, dict[str, int]]:
        async with KubeClient.from_kubeconfig(kubeconfig, max_retries=0, timeout=3.0) as kube:
            ready = (await kube.request("GET", "/readyz")).status_code == 200
            phases: dict[str, int] = {}
            for dpu in (await kube.list(DPU, namespace)).items:
                phase = str((dpu.get("status") or {}).get("phase") or "(none)")
                phases[phase] = phases.get(phase, 0) + 1
            return ready, phases

    try:
        return asyncio.run(probe())
    except (KubeError, ConfigError) as error:
        log.debug("sandbox probe failed error=%s", error)
        return False, {}


# -- the supervisor ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Settings:
    paths: SandboxPaths
    dwell: float
    hosts: int
    crds_dir: Path


def _supervise(settings: _Settings) -> int:
    """Run the sandbox until SIGTERM or SIGINT; return the exit code."""
    started = time.monotonic()
    paths = settings.paths
    _write_private(paths.pid, f"{os.getpid()}\n")
    try:
        asyncio.run(_serve(settings, started))
    except DpfError as error:
        log.error("sandbox failed: %s", error)
        return 1
    finally:
        for path in (paths.state, paths.kubeconfig, paths.bmc_password, paths.pid,
                     paths.keep_logs):
            path.unlink(missing_ok=True)
    return 0


async def _serve(settings: _Settings, started: float) -> None:
    from carbide_dpf.sandbox.bmc import BmcEmulator
    from carbide_dpf.sandbox.controlplane import ControlPlane

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)

    plane = ControlPlane()
    systems = [f"host-{n}" for n in range(1, settings.hosts + 1)]
    bmc = BmcEmulator(systems=systems, username=BMC_USERNAME)
    try:
        # Both block for seconds and depend on nothing of each other: start them together.
        await asyncio.gather(asyncio.to_thread(plane.start), asyncio.to_thread(bmc.start))
        if not stop.is_set():
            await _run_cluster(settings, plane, bmc, started, stop)
    finally:
        if settings.paths.keep_logs.exists():
            _copy_server_logs(settings.paths, plane, bmc)
        await asyncio.to_thread(bmc.stop)
        await asyncio.to_thread(plane.stop)


async def _run_cluster(settings: _Settings, plane: ControlPlane, bmc: BmcEmulator,
                       started: float, stop: asyncio.Event) -> None:
    from carbide_dpf.sandbox.crds import install_crds
    from carbide_dpf.sim import SimConfig, Simulator

    async with plane.client(qps=_SIM_QPS, burst=int(_SIM_QPS)) as kube:
        crds = await install_crds(kube, settings.crds_dir)
        await _ensure_namespace(kube, SANDBOX_NAMESPACE)
        config = SimConfig(namespace=SANDBOX_NAMESPACE, default_dwell=settings.dwell)
        async with Simulator(kube, config):
            info = _write_state(settings, plane, bmc, started)
            log.info("sandbox ready server=%s bmc=%s crds=%d namespace=%s in %.1fs",
                     info.server, info.bmc_url, len(crds), info.namespace, info.ready_seconds)
            await stop.wait()
            log.info("sandbox stopping directory=%s", settings.paths.directory)


async def _ensure_namespace(kube: KubeClient, name: str) -> None:
    from carbide_dpf.kube.errors import AlreadyExistsError
    from carbide_dpf.kube.resource import NAMESPACE

    with contextlib.suppress(AlreadyExistsError):
        await kube.create(NAMESPACE, {"metadata": {"name": name}})
        log.info("created namespace name=%s", name)


def _write_state(settings: _Settings, plane: ControlPlane, bmc: BmcEmulator,
                 started: float) -> SandboxInfo:
    paths = settings.paths
    _write_kubeconfig(plane.kubeconfig_path, paths.kubeconfig, SANDBOX_NAMESPACE)
    _write_private(paths.bmc_password, bmc.password + "\n")
    info = SandboxInfo(
        directory=str(paths.directory), supervisor_pid=os.getpid(),
        started_at=time.time(), ready_seconds=round(time.monotonic() - started, 2),
        server=plane.server, kubeconfig=str(paths.kubeconfig), namespace=SANDBOX_NAMESPACE,
        crds_dir=str(settings.crds_dir), dwell=settings.dwell, hosts=settings.hosts,
        bmc_url=bmc.url, bmc_username=bmc.username, bmc_password_file=str(paths.bmc_password),
        bmc_systems=bmc.system_ids, pids={**plane.pids, "bmc-emulator": bmc.pid or 0},
        control_plane_dir=str(plane.directory), bmc_dir=str(bmc.log_path.parent),
    )
    # Written last and atomically: its presence is what `up()` waits for.
    temporary = paths.state.with_suffix(".tmp")
    temporary.write_text(info.to_json())
    temporary.replace(paths.state)
    return info


def _write_kubeconfig(source: Path, target: Path, namespace: str) -> None:
    config = yaml.safe_load(source.read_text())
    for context in config.get("contexts") or []:
        context["context"]["namespace"] = namespace
    _write_private(target, yaml.safe_dump(config, sort_keys=False))


def _write_private(path: Path, text: str) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)


def _copy_server_logs(paths: SandboxPaths, plane: ControlPlane, bmc: BmcEmulator) -> None:
    paths.logs.mkdir(exist_ok=True)
    with contextlib.suppress(DpfError, OSError):
        for name in ("etcd.log", "kube-apiserver.log"):
            shutil.copy(plane.directory / name, paths.logs / name)
    with contextlib.suppress(DpfError, OSError):
        shutil.copy(bmc.log_path, paths.logs / "bmc-emulator.log")


def main(argv: Sequence[str] | None = None) -> int:
    """The supervisor's entry point; `up()` starts it, people use `carbide-dpf sandbox`."""
    parser = argparse.ArgumentParser(prog=_SUPERVISOR_MODULE, description=main.__doc__)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--dwell", type=float, default=0.0)
    parser.add_argument("--hosts", type=int, default=1)
    parser.add_argument("--crds-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    paths = SandboxPaths(args.dir.resolve())
    return _supervise(_Settings(paths, args.dwell, args.hosts, args.crds_dir.resolve()))


if __name__ == "__main__":
    sys.exit(main())
