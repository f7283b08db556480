"""Child processes that never outlive the Python process that started them.

The control plane (etcd, kube-apiserver) and the BMC emulator start their servers here. Each
child asks the kernel for SIGKILL when its parent dies (``prctl(PR_SET_PDEATHSIG)``), which
covers a parent killed with SIGKILL, where no Python cleanup runs. The kernel ties that
signal to the *thread* that forked the child, not to the process, so every child is forked
from one long-lived daemon thread (`Spawner`): a server started from a short-lived worker
thread (``asyncio.to_thread``, a thread pool) would otherwise be killed when that thread ends.

Each child also gets its own session, so a Ctrl-C in the terminal reaches only Python, which
then stops the servers in order instead of having them die under the running code.

The helpers below (`terminate`, `free_ports`, `remove_stale_directories`, `tail`) are what
both owners of child processes need around them.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import functools
import logging
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

__all__ = [
    "Spawner",
    "free_ports",
    "pid_alive",
    "remove_stale_directories",
    "spawn",
    "tail",
    "terminate",
]

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None

_Request = tuple[
    concurrent.futures.Future[subprocess.Popen[bytes]],
    Callable[[], subprocess.Popen[bytes]],
]


class Spawner:
    """Forks every child from one daemon thread that lives as long as the interpreter."""

    def __init__(self) -> None:
        """Prepare the spawner; its thread starts with the first child."""
        self._requests: queue.SimpleQueue[_Request] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def popen(
        self,
        argv: list[str],
        log_file: IO[bytes],
        *,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start ``argv`` with stdout and stderr going to ``log_file``; return its `Popen`."""
        parent = os.getpid()

        def start() -> subprocess.Popen[bytes]:
            return subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=None if env is None else dict(env),
                start_new_session=True,
                preexec_fn=functools.partial(_die_with_parent, parent),
            )

        future: concurrent.futures.Future[subprocess.Popen[bytes]] = concurrent.futures.Future()
        self._ensure_thread()
        self._requests.put((future, start))
        return future.result()

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._serve, name="carbide-dpf-spawner", daemon=True
                )
                self._thread.start()

    def _serve(self) -> None:
        while True:
            future, start = self._requests.get()
            try:
                future.set_result(start())
            except BaseException as error:  # handed to the caller, who re-raises it
                future.set_exception(error)


_SPAWNER = Spawner()


def spawn(
    argv: list[str], log_file: IO[bytes], *, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start ``argv`` from the process-wide `Spawner`; it dies when this process dies."""
    return _SPAWNER.popen(argv, log_file, env=env)


def _die_with_parent(parent_pid: int) -> None:
    """Runs in the child between fork and exec: ask for SIGKILL when the parent dies."""
    if _LIBC is None:
        return
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    # The parent may have died before prctl took effect; then nobody would kill us.
    if os.getppid() != parent_pid:
        os._exit(1)


def terminate(process: subprocess.Popen[bytes], name: str, grace: float) -> None:
    """Send SIGTERM, wait up to ``grace`` seconds, then SIGKILL; always reap the process."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log.warning(
                "killing %s pid=%d: no exit %.0fs after SIGTERM", name, process.pid, grace
            )
            process.kill()
            process.wait()
    log.info("stopped %s pid=%d code=%s", name, process.pid, process.returncode)


def free_ports(count: int) -> list[int]:
    """Return ``count`` distinct loopback TCP ports that were free a moment ago."""
    # Hold all sockets open until every port is chosen, so the kernel gives distinct ports.
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def remove_stale_directories(prefix: str, what: str) -> None:
    """Remove temporary directories ``<prefix><pid>-*`` whose creating process is gone."""
    for path in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid_text = path.name.removeprefix(prefix).split("-", 1)[0]
        if pid_text.isdigit() and not pid_alive(int(pid_text)):
            log.info("removing stale %s directory path=%s", what, path)
            shutil.rmtree(path, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    """Whether a process with this id exists (a zombie counts as existing)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of the text file at ``path``, or a note that it is missing."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
