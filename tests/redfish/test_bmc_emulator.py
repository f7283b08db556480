"""BmcEmulator's lifecycle: it starts quickly, serves Redfish, and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from carbide_dpf.sandbox.bmc import BmcEmulator, BmcEmulatorError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes once it is not running.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ", 1)[1][0] != "Z"


def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_start_is_measured_and_stop_leaves_no_process_nor_file(
    record_property: Callable[[str, object], None],
) -> None:
    emulator = BmcEmulator()
    emulator.start()
    try:
        pid = emulator.pid
        assert pid is not None
        directory = emulator.log_path.parent
        startup = emulator.startup_seconds
        answer = httpx.get(f"{emulator.url}/redfish/v1/Systems", timeout=5.0)
    finally:
        emulator.stop()

    record_property("bmc_emulator_start_seconds", startup)
    print(f"bmc emulator started in {startup:.2f}s")
    assert startup is not None and 0 < startup < 30
    assert answer.status_code == 401  # credentials are required beyond the service root
    assert not _alive(pid)
    assert not directory.exists()


def test_given_system_ids_are_served_with_those_ids() -> None:
    with BmcEmulator(systems=["1", "2"], username="root", password="calvin-0") as emulator:
        assert emulator.system_ids == ["1", "2"]
        assert emulator.power_state("2") == "On"
        auth = ("root", "calvin-0")
        answer = httpx.get(f"{emulator.url}/redfish/v1/Systems/1", auth=auth, timeout=5.0)
        assert answer.json()["Id"] == "1"


def test_reading_a_stopped_emulator_says_to_start_it() -> None:
    emulator = BmcEmulator()
    with pytest.raises(BmcEmulatorError, match=r"call start\(\)"):
        emulator.power_state()


def test_the_emulator_dies_with_its_parent_and_its_files_go_at_the_next_start() -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from carbide_dpf.sandbox.bmc import BmcEmulator
        emulator = BmcEmulator()
        emulator.start()
        print(emulator.pid, emulator.log_path.parent, flush=True)
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child_text, directory_text = parent.stdout.readline().split()
        child, directory = int(child_text), Path(directory_text)
        assert _alive(child)

        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        assert _wait_gone(child, 10.0), "the emulator outlived its SIGKILLed parent"
        assert directory.exists()  # nobody could clean up after a SIGKILL...
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()

    with BmcEmulator():
        assert not directory.exists()  # ...so the next start removes it
