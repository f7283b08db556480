"""The `carbide-dpf` command line: a thin adapter over the SDK, the simulator and the sandbox.

Subcommands are imported only when they run, so `carbide-dpf --help` stays fast: the group
below knows each command's module and one-line help without importing it.
"""

from __future__ import annotations

import importlib
import logging

import click

__all__ = ["main"]

# name -> (module, attribute, short help). Modules load on first use only.
_FLOWS = "carbide_dpf.cli.flows_cmd"
_OPS = "carbide_dpf.cli.ops_cmd"
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "sim": ("carbide_dpf.cli.sim_cmd", "sim", "Run the DPF operator simulator."),
    "sandbox": ("carbide_dpf.cli.sandbox_cmd", "sandbox",
                "Run a local DPF cluster (API server, simulator, BMC emulator)."),
    "provision": (_FLOWS, "provision", "Provision a host end to end (init, register, monitor)."),
    "reprovision": (_FLOWS, "reprovision", "Reprovision one DPU and drive it to Ready."),
    "cleanup": (_FLOWS, "cleanup", "Delete a host's DPUNode, DPUDevices and DPUs."),
    "status": (_FLOWS, "status", "Show nodes, devices and DPUs with phases and conditions."),
    "watch": (_FLOWS, "watch", "Stream DPU events until interrupted."),
    "init": (_OPS, "init", "Create the BMC Secret, BFB, flavor, services and deployment."),
    "register-device": (_OPS, "register_device", "Create or update a DPUDevice."),
    "register-node": (_OPS, "register_node", "Create or update a DPUNode."),
    "release-hold": (_OPS, "release_hold", "Release a DPUNode's maintenance hold."),
    "clear-reboot": (_OPS, "clear_reboot", "Clear a DPUNode's external reboot request."),
    "update-bfb": (_OPS, "update_bfb", "Point the DPUDeployment at another BFB."),
    "get-phase": (_OPS, "get_phase", "Print a DPU's phase."),
    "is-reboot-required": (_OPS, "is_reboot_required", "Print whether a host reboot is requested."),
    "is-device-ready": (_OPS, "is_device_ready", "Print whether a DPUDevice is Ready."),
    "outdated": (_OPS, "outdated", "List DPUs whose BFB or flavor is out of date."),
    "delete-device": (_OPS, "delete_device", "Delete a DPUDevice."),
    "delete-node": (_OPS, "delete_node", "Delete a DPUNode."),
    "force-delete-dpu": (_OPS, "force_delete_dpu", "Unlabel and delete a DPU."),
    "force-delete-node": (_OPS, "force_delete_node", "Unlabel and delete a DPUNode."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in _COMMANDS:
            return None
        module_name, attribute, _ = _COMMANDS[cmd_name]
        command = getattr(importlib.import_module(module_name), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, _COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-v", "--verbose", count=True, help="More logging (-v INFO, -vv DEBUG).")
def main(verbose: int) -> None:
    """Manage NVIDIA BlueField DPUs through the DPF Kubernetes operator."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
