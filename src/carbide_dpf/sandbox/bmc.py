"""`BmcEmulator`: a real Redfish BMC (sushy-tools' emulator) on a loopback port.

Tests and the sandbox reboot hosts through it exactly as they would through a host's BMC.
The emulator runs its fake systems driver (no libvirt, no OpenStack): each fake system keeps
a power state that a reset changes after a delay the emulator draws (1 to 11 seconds), as
hardware would. ``ForceRestart`` reads Off at once and On once the delay has passed;
``PowerCycle`` is not offered, so clients exercise their fallback.

What the emulator gets, all in a private temporary directory removed by `stop()`:

- a config file (``--config``) with the fake systems and ``SUSHY_EMULATOR_STATE_DIR``, so its
  sqlite state is ours alone and not the shared ``/tmp/sushy-emulator`` of every emulator;
- an htpasswd-style auth file (``SUSHY_EMULATOR_AUTH_FILE``); sushy-tools accepts only bcrypt
  digests there, made with the ``bcrypt`` package that sushy-tools itself depends on;
- optionally a serving certificate from `carbide_dpf.sandbox.pki` for HTTPS.

The reset history comes from the emulator's own log: it logs every reset it carries out, and
Redfish has no standard record of them that the fake driver would keep.

Children never outlive the Python process: `stop()` and a `weakref.finalize` terminate the
emulator, and it asks the kernel for SIGKILL when its parent dies (``PR_SET_PDEATHSIG``,
from one long-lived forking thread: see `carbide_dpf.sandbox._process`).
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import re
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from carbide_dpf.errors import DpfError
from carbide_dpf.redfish.client import RedfishClient
from carbide_dpf.sandbox._process import (
    free_ports,
    remove_stale_directories,
    spawn,
    tail,
    terminate,
)
from carbide_dpf.sandbox.pki import CertificateAuthority

__all__ = ["BmcEmulator", "BmcEmulatorError", "ResetRecord"]

log = logging.getLogger(__name__)

_TEMP_PREFIX = "carbide-dpf-bmc-"
_STOP_GRACE = 5.0  # seconds between SIGTERM and SIGKILL
_PORT_ATTEMPTS = 3  # another process may take the free port before the emulator binds it
_LOG_TAIL_LINES = 30
# The cheapest bcrypt cost: the emulator checks the password on every request, and cost 12
# would add a quarter of a second to each on a small machine. A throw-away test credential.
_BCRYPT_ROUNDS = 4

# Runs in the child: lets the emulator's INFO lines (one per reset) reach its log, then
# starts its own main(). Debug mode is no option: it turns on Flask's reloader process.
_BOOTSTRAP = (
    "import logging, sys\n"
    "logging.getLogger('sushy_tools.emulator.main').setLevel(logging.INFO)\n"
    "from sushy_tools.emulator import main\n"
    "sys.exit(main.main())\n"
)
_RESET_LINE = re.compile(
    r"^\[(?P<at>[^\]]+)\] INFO in main: System \"(?P<system>[^\"]+)\" "
    r"power state set to \"(?P<reset>[^\"]+)\""
)


class BmcEmulatorError(DpfError):
    """The BMC emulator failed to start or to answer; the message has its log tail."""


@dataclass(frozen=True, slots=True)
class ResetRecord:
    """One reset the emulator carried out, in the order they happened."""

    system_id: str
    reset_type: str
    logged_at: str  # the emulator's own timestamp, "YYYY-MM-DD HH:MM:SS,mmm"


@dataclass(slots=True)
class _Resources:
    """What teardown must remove; kept apart so the finalizer holds no `self`."""

    process: subprocess.Popen[bytes] | None = None
    directory: Path | None = None

    def close_process(self) -> None:
        process, self.process = self.process, None
        if process is not None:
            terminate(process, "bmc emulator", _STOP_GRACE)

    def close(self) -> None:
        self.close_process()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None


class BmcEmulator:
    """sushy-tools' Redfish emulator with fake systems, on a free loopback port.

    Use as a context manager, or call `start()` and `stop()`; both block (about a second to
    start), so async code calls them through ``asyncio.to_thread``.
    """

    def __init__(
        self,
        *,
        systems: int | Sequence[str] = 1,
        username: str = "admin",
        password: str | None = None,
        power_state: str = "On",
        tls: bool = False,
        start_timeout: float = 30.0,
    ) -> None:
        """Describe the BMC; nothing runs until `start()`.

        ``systems`` is a count (ids are fresh UUIDs, names ``host-<n>``) or the system ids
        to serve. ``password`` defaults to a random one. With ``tls`` the emulator serves
        HTTPS with a certificate from a fresh CA, found at `ca_cert_path`.
        """
        if isinstance(systems, int):
            ids = [str(uuid.uuid4()) for _ in range(systems)]
        else:
            ids = list(systems)
        if not ids:
            raise BmcEmulatorError("a BMC emulator needs at least one system")
        self._system_ids = ids
        self._username = username
        self._password = password if password is not None else secrets.token_urlsafe(18)
        self._power_state = power_state
        self._tls = tls
        self._start_timeout = start_timeout
        self._resources = _Resources()
        self._finalizer = weakref.finalize(self, self._resources.close)
        self._port = 0
        self._startup_seconds: float | None = None

    def __repr__(self) -> str:
        return (
            f"BmcEmulator(url={self.url if self._port else None!r}, "
            f"username={self._username!r}, systems={len(self._system_ids)}, tls={self._tls})"
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the emulator and wait until it serves the systems with these credentials.

        Raises `BmcEmulatorError` with the tail of the emulator's log, after removing
        whatever had been started.
        """
        if self._resources.directory is not None:
            raise BmcEmulatorError("BMC emulator already started; call stop() first")
        if importlib.util.find_spec("sushy_tools") is None:
            raise BmcEmulatorError(
                "sushy-tools is not installed; install the dev dependencies (uv sync)"
            )
        remove_stale_directories(_TEMP_PREFIX, "bmc emulator")

        started = time.monotonic()
        try:
            self._prepare()
            self._start_on_a_free_port()
        except BaseException:
            self.stop()
            raise
        self._startup_seconds = time.monotonic() - started
        log.info(
            "bmc emulator ready url=%s systems=%d in %.2fs",
            self.url,
            len(self._system_ids),
            self._startup_seconds,
        )

    def stop(self) -> None:
        """Stop the emulator (SIGTERM, then SIGKILL) and remove its directory."""
        if self._resources.process is not None:
            log.info("stopping bmc emulator pid=%s port=%d", self.pid, self._port)
        self._resources.close()
        self._port = 0

    def __enter__(self) -> BmcEmulator:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what clients need -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """The Redfish base URL, ``http(s)://127.0.0.1:<port>``."""
        if not self._port:
            raise BmcEmulatorError("BMC emulator not started; call start() first")
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self._port}"

    @property
    def username(self) -> str:
        """The one account the emulator accepts."""
        return self._username

    @property
    def password(self) -> str:
        """That account's password."""
        return self._password

    @property
    def system_ids(self) -> list[str]:
        """The ids of the fake systems, in the order the Systems collection lists them."""
        return list(self._system_ids)

    @property
    def ca_cert_path(self) -> Path:
        """The CA that signed the emulator's certificate (``tls=True`` only)."""
        if not self._tls:
            raise BmcEmulatorError("this emulator serves plain HTTP; create it with tls=True")
        return self._dir / "ca.crt"

    @property
    def startup_seconds(self) -> float | None:
        """How long the last `start()` took until the emulator served the systems."""
        return self._startup_seconds

    @property
    def pid(self) -> int | None:
        """The emulator's process id while it runs."""
        process = self._resources.process
        return process.pid if process is not None else None

    @property
    def log_path(self) -> Path:
        """The emulator's own log (stdout and stderr)."""
        return self._dir / "emulator.log"

    def client(self, **kwargs: Any) -> RedfishClient:
        """Return a `RedfishClient` for this BMC; ``kwargs`` go to its constructor."""
        kwargs.setdefault("verify", str(self.ca_cert_path) if self._tls else True)
        return RedfishClient(self.url, username=self._username, password=self._password, **kwargs)

    # -- what tests check --------------------------------------------------------------------

    def power_state(self, system_id: str | None = None) -> str:
        """Read a system's ``PowerState`` over Redfish (the first system by default)."""
        system = system_id or self._system_ids[0]
        with self._http() as http:
            answer = http.get(f"/redfish/v1/Systems/{quote(system, safe='')}")
            if answer.status_code != 200:
                raise BmcEmulatorError(
                    f"emulator answered HTTP {answer.status_code} for system {system!r}"
                )
            return str(answer.json()["PowerState"])

    def reset_history(self, system_id: str | None = None) -> list[ResetRecord]:
        """The resets the emulator carried out, oldest first, for one system or all."""
        records: list[ResetRecord] = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            match = _RESET_LINE.match(line)
            if match and system_id in (None, match["system"]):
                records.append(ResetRecord(match["system"], match["reset"], match["at"]))
        return records

    @contextlib.contextmanager
    def server_errors(self) -> Iterator[None]:
        """Make the emulator answer HTTP 500 to every authenticated request while inside.

        A real fault of the real server: the emulator reads its auth file on each request
        and answers 500 when it cannot, so the file is moved away and put back.
        """
        auth_file = self._dir / "htpasswd"
        hidden = self._dir / "htpasswd.hidden"
        auth_file.rename(hidden)
        try:
            yield
        finally:
            hidden.rename(auth_file)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last ``lines`` lines of the emulator's log."""
        return tail(self.log_path, lines)

    # -- internals -----------------------------------------------------------------------------

    @property
    def _dir(self) -> Path:
        if self._resources.directory is None:
            raise BmcEmulatorError("BMC emulator not started; call start() first")
        return self._resources.directory

    def _http(self) -> httpx.Client:
        verify: bool | ssl.SSLContext = True
        if self._tls:
            verify = ssl.create_default_context(cafile=str(self.ca_cert_path))
        auth = httpx.BasicAuth(self._username, self._password)
        return httpx.Client(base_url=self.url, auth=auth, verify=verify, timeout=5.0)

    def _prepare(self) -> None:
        directory = Path(tempfile.mkdtemp(prefix=f"{_TEMP_PREFIX}{os.getpid()}-"))
        self._resources.directory = directory
        _write_private(directory / "htpasswd", _htpasswd_line(self._username, self._password))
        if self._tls:
            authority = CertificateAuthority("carbide-dpf-bmc-ca")
            (directory / "ca.crt").write_bytes(authority.cert_pem)
            authority.issue_serving().write(directory, "bmc")

    def _start_on_a_free_port(self) -> None:
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self._port = free_ports(1)[0]
            self._write_config()
            self._spawn()
            try:
                self._wait_ready(time.monotonic() + self._start_timeout)
                return
            except BmcEmulatorError:
                lost_port = "Address already in use" in self.log_tail()
                if not lost_port or attempt == _PORT_ATTEMPTS:
                    raise
                log.debug("bmc emulator port taken, retrying port=%d", self._port)
                self._resources.close_process()

    def _write_config(self) -> None:
        directory = self._dir
        systems = [
            {
                "uuid": system,
                "name": system if not _is_uuid(system) else f"host-{index}",
                "power_state": self._power_state,
                "external_notifier": False,
                "nics": [],
            }
            for index, system in enumerate(self._system_ids)
        ]
        settings: dict[str, object] = {
            "SUSHY_EMULATOR_FAKE_DRIVER": True,
            "SUSHY_EMULATOR_FAKE_SYSTEMS": systems,
            "SUSHY_EMULATOR_STATE_DIR": str(directory / "state"),
            "SUSHY_EMULATOR_AUTH_FILE": str(directory / "htpasswd"),
            "SUSHY_EMULATOR_LISTEN_IP": "127.0.0.1",
            "SUSHY_EMULATOR_LISTEN_PORT": self._port,
        }
        if self._tls:
            settings["SUSHY_EMULATOR_SSL_CERT"] = str(directory / "bmc.crt")
            settings["SUSHY_EMULATOR_SSL_KEY"] = str(directory / "bmc.key")
        # The config file is Python (Flask's from_pyfile): repr() writes valid literals.
        text = "".join(f"{name} = {value!r}\n" for name, value in settings.items())
        (directory / "emulator.conf").write_text(text)

    def _spawn(self) -> None:
        argv = [
            sys.executable,
            "-c",
            _BOOTSTRAP,
            "--config",
            str(self._dir / "emulator.conf"),
            "--fake",
        ]
        with self.log_path.open("ab") as log_file:
            self._resources.process = spawn(argv, log_file)
        log.debug("started bmc emulator pid=%d port=%d", self._resources.process.pid, self._port)

    def _wait_ready(self, deadline: float) -> None:
        last = "no answer yet"
        with self._http() as http:
            while True:
                self._check_alive()
                try:
                    answer = http.get("/redfish/v1/Systems")
                    if answer.status_code == 200:
                        self._take_listed_order(answer.json())
                        return
                    last = f"HTTP {answer.status_code}"
                    if answer.status_code == 401:
                        self._fail(f"it refused its own credentials ({last})")
                except httpx.HTTPError as error:
                    last = type(error).__name__
                if time.monotonic() >= deadline:
                    self._fail(f"no answer after {self._start_timeout:.0f}s (last: {last})")
                time.sleep(0.05)

    def _take_listed_order(self, collection: dict[str, Any]) -> None:
        # The emulator lists systems in its sqlite key order, not in the order configured.
        listed = [str(m["@odata.id"]).rsplit("/", 1)[-1] for m in collection["Members"]]
        if sorted(listed) != sorted(self._system_ids):
            self._fail(f"it lists systems {listed}, expected {self._system_ids}")
        self._system_ids = listed

    def _check_alive(self) -> None:
        process = self._resources.process
        if process is not None and process.poll() is not None:
            self._fail(f"it exited with code {process.returncode} during start")

    def _fail(self, reason: str) -> None:
        raise BmcEmulatorError(
            f"BMC emulator not ready: {reason}; fix the cause shown in its log "
            f"({self.log_path}):\n{self.log_tail()}"
        )


# -- file helpers ------------------------------------------------------------------------------


def _htpasswd_line(username: str, password: str) -> str:
    import bcrypt  # comes with sushy-tools, a dev dependency: imported only when needed

    if ":" in username:
        raise BmcEmulatorError(f"username {username!r} must not contain ':'")
    digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=_BCRYPT_ROUNDS))
    return f"{username}:{digest.decode()}\n"


def _write_private(path: Path, text: str) -> None:
    path.touch(mode=0o600)
    path.write_text(text)


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
