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
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "sim": ("carbide_dpf.cli.sim_cmd", "sim", "Run the DPF operator simulator."),
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
