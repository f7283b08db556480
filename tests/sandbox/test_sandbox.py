"""The sandbox: `up` starts everything in the background, `status` reports it, a second `up`
changes nothing, `down` leaves no process and no file, and a killed supervisor takes its
servers with it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from carbide_dpf.cli import main
from carbide_dpf.errors import ConfigError
from carbide_dpf.kube.client import KubeClient
from carbide_dpf.kube.resource import NAMESPACE
from carbide_dpf.models.registry import BFB
from carbide_dpf.sandbox import sandbox as box
from carbide_dpf.sandbox.sandbox import SANDBOX_NAMESPACE, SandboxError, SandboxInfo

pytestmark = pytest.mark.timeout(240)


def _gone(pid: int) -> bool:
    """True when ``pid`` no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return True
    return state in ("Z", "X")


def _wait_gone(pids: list[int], seconds: float = 15.0) -> list[int]:
    """Wait until every pid is gone; return those still running after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        alive = [pid for pid in pids if not _gone(pid)]
        if not alive or time.monotonic() >= deadline:
            return alive
        time.sleep(0.1)


@pytest.fixture
def sandbox_dir(tmp_path: Path) -> Iterator[Path]:
    """A sandbox directory for one test; the sandbox is brought down whatever happens."""
    directory = tmp_path / "sandbox"
    try:
        yield directory
    finally:
        box.down(directory)


async def _bfb_becomes_ready(info: SandboxInfo) -> str:
    """Create a BFB as the sandbox's admin and return the phase the simulator gives it."""
    async with KubeClient.from_kubeconfig(info.kubeconfig) as kube:
        assert kube.config.namespace == SANDBOX_NAMESPACE
        await kube.get(NAMESPACE, SANDBOX_NAMESPACE)
        bfb = {"metadata": {"name": "probe"}, "spec": {"url": "http://bfb.example/probe.bfb"}}
        await kube.create(BFB, bfb)
        for _ in range(100):
            phase = ((await kube.get(BFB, "probe")).get("status") or {}).get("phase")
            if phase == "Ready":
                return str(phase)
            await asyncio.sleep(0.1)
        return str(phase)


def test_up_status_second_up_and_down_leave_nothing_behind(
    sandbox_dir: Path, crds_dir: Path
) -> None:
    info, started = box.up(sandbox_dir, hosts=2, crds_dir=crds_dir)

    assert started
    assert info.namespace == SANDBOX_NAMESPACE and info.bmc_systems == ["host-1", "host-2"]
    password_file = Path(info.bmc_password_file)
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(Path(info.kubeconfig).stat().st_mode) == 0o600
    password = password_file.read_text().strip()
    systems = httpx.get(f"{info.bmc_url}/redfish/v1/Systems", auth=(info.bmc_username, password))
    assert systems.status_code == 200 and systems.json()["Members@odata.count"] == 2
    assert asyncio.run(_bfb_becomes_ready(info)) == "Ready"

    found = box.status(sandbox_dir)
    assert found.running and found.apiserver_ready
    assert found.processes == {"supervisor": True, "etcd": True, "kube-apiserver": True,
                               "bmc-emulator": True}

    again, started_again = box.up(sandbox_dir, hosts=5)
    assert not started_again and again == info

    pids = [info.supervisor_pid, *info.pids.values()]
    assert box.down(sandbox_dir)
    assert _wait_gone(pids) == []
    assert not sandbox_dir.exists()
    assert not Path(info.control_plane_dir).exists() and not Path(info.bmc_dir).exists()
    assert not box.status(sandbox_dir).running


def test_cli_prints_the_kubeconfig_export_and_a_second_up_is_a_no_op(
    sandbox_dir: Path, crds_dir: Path
) -> None:
    runner = CliRunner()
    args = ["--dir", str(sandbox_dir)]

    first = runner.invoke(main, ["sandbox", "up", *args, "--crds-dir", str(crds_dir)])
    second = runner.invoke(main, ["sandbox", "up", *args])
    shown = runner.invoke(main, ["sandbox", "status", *args, "-o", "json"])
    stopped = runner.invoke(main, ["sandbox", "down", *args])
    after = runner.invoke(main, ["sandbox", "status", *args])

    assert first.exit_code == 0, first.output
    assert f"export KUBECONFIG={sandbox_dir / 'kubeconfig'}" in first.output
    assert f"BMC password   in {sandbox_dir / 'bmc-password'}" in first.output
    assert second.exit_code == 0 and "already running; nothing started" in second.output
    assert first.output.splitlines()[0] in second.output  # the same supervisor, same info
    assert shown.exit_code == 0 and json.loads(shown.output)["apiserver_ready"] is True
    assert stopped.exit_code == 0 and "sandbox stopped" in stopped.output
    assert after.exit_code == 3 and "not running" in after.output
    assert not sandbox_dir.exists()


def test_a_killed_supervisor_takes_its_servers_with_it(
    sandbox_dir: Path, crds_dir: Path
) -> None:
    info, _ = box.up(sandbox_dir, crds_dir=crds_dir)

    os.kill(info.supervisor_pid, signal.SIGKILL)

    assert _wait_gone([info.supervisor_pid, *info.pids.values()]) == []
    assert not box.status(sandbox_dir).running
    assert not box.down(sandbox_dir)  # nothing ran any more; the files still go
    assert not sandbox_dir.exists()
    assert not Path(info.control_plane_dir).exists()


def test_a_failed_start_says_where_the_log_is_and_leaves_no_server(
    sandbox_dir: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "no-crds"
    empty.mkdir()

    with pytest.raises(SandboxError) as caught:
        box.up(sandbox_dir, crds_dir=empty)

    message = str(caught.value)
    assert str(sandbox_dir / "supervisor.log") in message
    assert "holds no CustomResourceDefinition" in message
    assert not (sandbox_dir / "state.json").exists()
    assert not (sandbox_dir / "supervisor.pid").exists()
    assert not list(Path("/tmp").glob(f"carbide-dpf-*-{_supervisor_pid(message)}-*"))
    box.down(sandbox_dir)
    assert not sandbox_dir.exists()


def _supervisor_pid(log_text: str) -> str:
    """The supervisor's pid, read from a control plane directory name in its log."""
    marker = "carbide-dpf-cp-"
    start = log_text.find(marker)
    return log_text[start + len(marker):].split("-", 1)[0] if start >= 0 else "none"


def test_down_without_a_sandbox_is_harmless(tmp_path: Path) -> None:
    assert not box.down(tmp_path / "never-created")
    assert not box.status(tmp_path / "never-created").running


@pytest.mark.parametrize(("dwell", "hosts"), [(-1.0, 1), (float("nan"), 1), (0.0, 0)])
def test_up_refuses_bad_settings_before_starting_anything(
    tmp_path: Path, dwell: float, hosts: int
) -> None:
    with pytest.raises(ConfigError):
        box.up(tmp_path / "sandbox", dwell=dwell, hosts=hosts)
    assert not (tmp_path / "sandbox").exists()
