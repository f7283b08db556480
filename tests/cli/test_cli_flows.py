"""The CLI end to end: provision, reprovision, interrupt and resume, status, cleanup, against
the real API server, the operator simulator and a Redfish BMC emulator."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.models.registry import DPU, DPU_DEVICE, DPU_NODE, DPU_NODE_MAINTENANCE
from carbide_dpf.sandbox.bmc import BmcEmulator
from carbide_dpf.sim import Simulator
from tests.cli.cli_helpers import BFB_URL, Cli, finish

NODE = "host-0042"
DPUS = "dpu-a:10.0.0.11:MT2301X00001,dpu-b:10.0.0.12:MT2301X00002"


def provision_args(bmc: BmcEmulator, password_file: Path) -> list[str]:
    return ["provision", "--bfb-url", BFB_URL, "--bmc-password-file", str(password_file),
            "--host-bmc-ip", "127.0.0.1", "--host-bmc-url", bmc.url,
            "--host-bmc-user", bmc.username, "--node", NODE, "--dpus", DPUS,
            "--timeout", "120", "-o", "json"]


async def test_provision_makes_both_dpus_ready_with_one_power_cycle_and_no_password_shown(
        cli: Cli, simulator: Simulator, bmc: BmcEmulator, password_file: Path,
        kube: KubeClient, namespace: str) -> None:
    result = await cli(*provision_args(bmc, password_file), verbose=2)

    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    dpus = report["monitor"]["dpus"]
    assert [d["name"] for d in dpus] == [f"{NODE}-dpu-a", f"{NODE}-dpu-b"]
    assert [d["phase"] for d in dpus] == ["Ready", "Ready"]
    assert report["monitor"]["power_cycles"] == 1
    assert len(bmc.reset_history()) == 1
    # The hold was released and finished: the operator removed the DPUNodeMaintenance.
    assert (await kube.list(DPU_NODE_MAINTENANCE, namespace)).items == []
    assert report["monitor"]["holds_released"] >= 1
    # -vv logs at DEBUG, and still no trace of the password.
    assert "DEBUG" in result.stderr
    assert bmc.password not in result.stdout + result.stderr


async def test_reprovision_one_dpu_reboots_the_host_once_more(
        cli: Cli, simulator: Simulator, bmc: BmcEmulator, password_file: Path,
        kube: KubeClient, namespace: str) -> None:
    assert (await cli(*provision_args(bmc, password_file))).code == 0
    old = await kube.get(DPU, f"{NODE}-dpu-a", namespace)

    # No --host-bmc-ip: the BMC address comes from the DPU's label; the URL is the emulator's.
    result = await cli("reprovision", "--node", NODE, "--device", "dpu-a",
                       "--bmc-password-file", str(password_file), "--host-bmc-url", bmc.url,
                       "--host-bmc-user", bmc.username, "--timeout", "120", "-o", "json")

    assert result.code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["old_uid"] == old["metadata"]["uid"]
    assert f"--expect-uid {report['old_uid']}" in result.stderr
    assert report["new_uid"] != old["metadata"]["uid"]
    assert report["monitor"]["dpus"][0]["phase"] == "Ready"
    assert len(bmc.reset_history()) == 2


async def test_an_interrupted_provision_finishes_when_run_again(
        cli: Cli, simulator: Simulator, bmc: BmcEmulator, password_file: Path,
        kube: KubeClient, namespace: str) -> None:
    process = await cli.start(*provision_args(bmc, password_file))
    while len((await kube.list(DPU, namespace)).items) < 2:  # noqa: ASYNC110 - polls
        await asyncio.sleep(0.05)
    process.send_signal(signal.SIGINT)  # Ctrl-C mid-flight
    interrupted = await finish(process)
    assert interrupted.code == 130, interrupted.stderr

    result = await cli(*provision_args(bmc, password_file))

    assert result.code == 0, result.stderr
    assert [d["phase"] for d in json.loads(result.stdout)["monitor"]["dpus"]] == ["Ready"] * 2
    assert len(bmc.reset_history()) == 1


async def test_status_json_then_cleanup_removes_the_host(
        cli: Cli, simulator: Simulator, bmc: BmcEmulator, password_file: Path,
        kube: KubeClient, namespace: str) -> None:
    assert (await cli(*provision_args(bmc, password_file))).code == 0

    status = await cli("status", "-o", "json")
    assert status.code == 0, status.stderr
    hosts = json.loads(status.stdout)["hosts"]
    assert [h["node_name"] for h in hosts] == [NODE]
    assert [d["name"] for d in hosts[0]["devices"]] == ["dpu-a", "dpu-b"]
    assert {d["phase"] for d in hosts[0]["dpus"]} == {"Ready"}
    assert any(c["type"] == "Ready" and c["status"] == "True"
               for c in hosts[0]["dpus"][0]["conditions"])
    table = await cli("status", "--node", NODE)
    assert table.code == 0 and f"{NODE}-dpu-b" in table.stdout and "Ready" in table.stdout
    by_bmc = await cli("status", "--host-bmc-ip", "127.0.0.1", "-o", "json")
    assert [h["node_name"] for h in json.loads(by_bmc.stdout)["hosts"]] == [NODE]
    other = await cli("status", "--host-bmc-ip", "127.0.0.2", "-o", "json")
    assert json.loads(other.stdout)["hosts"] == []

    cleanup = await cli("cleanup", "--node", NODE, "-o", "json")
    assert cleanup.code == 0, cleanup.stderr
    assert f"DPUNode/{NODE}" in json.loads(cleanup.stdout)["result"]["deleted"]
    for _ in range(100):
        left = [len((await kube.list(k, namespace)).items) for k in (DPU, DPU_DEVICE, DPU_NODE)]
        if left == [0, 0, 0]:
            break
        await asyncio.sleep(0.05)
    assert left == [0, 0, 0]


async def test_small_commands_query_and_act_on_one_object(
        cli: Cli, simulator: Simulator, bmc: BmcEmulator, password_file: Path) -> None:
    assert (await cli(*provision_args(bmc, password_file))).code == 0

    assert (await cli("get-phase", f"{NODE}-dpu-a")).stdout.strip() == "Ready"
    assert (await cli("is-reboot-required", NODE)).stdout.strip() == "false"
    assert (await cli("is-device-ready", "dpu-a")).code == 0
    outdated = await cli("outdated", "-o", "json")
    assert outdated.code == 0 and json.loads(outdated.stdout) == []
    missing = await cli("get-phase", "no-such-dpu")
    assert missing.code == 1
    assert "NotFoundError" in missing.stderr and "Traceback" not in missing.stderr
