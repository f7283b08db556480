"""`carbide-dpf sandbox up|status|down`: a local DPF cluster running in the background.

The work happens in `carbide_dpf.sandbox.sandbox`; this module parses options and prints.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from carbide_dpf.errors import DpfError
from carbide_dpf.sandbox import sandbox as box
from carbide_dpf.sandbox.sandbox import SandboxStatus

__all__ = ["sandbox"]

# `status` exits with this code when no sandbox runs, as `systemctl status` does, so that
# scripts can tell "not running" (3) from "could not tell" (1).
NOT_RUNNING_EXIT = 3

_DIR_OPTION = click.option(
    "--dir", "directory", type=click.Path(file_okay=False, path_type=Path), default=None,
    help="The sandbox directory (default: $CARBIDE_DPF_SANDBOX_DIR or "
         "~/.cache/carbide-dpf/sandbox).")


@click.group("sandbox")
def sandbox() -> None:
    """A local DPF cluster: kube-apiserver + etcd, the DPF CRDs, the operator simulator
    and a Redfish BMC emulator, all on loopback."""


@sandbox.command("up")
@_DIR_OPTION
@click.option("--dwell", type=float, default=0.0, show_default=True,
              help="Seconds a simulated DPU stays in each phase.")
@click.option("--hosts", type=int, default=1, show_default=True,
              help="Host systems the BMC emulator serves (host-1 .. host-N).")
@click.option("--crds-dir", type=click.Path(file_okay=False, exists=True, path_type=Path),
              default=None, help="DPF CRD yaml files (default: $DPF_CRDS_DIR, or "
                                 "../shared/dpf-crds/v25.10.1 beside a source checkout).")
@click.option("--timeout", type=float, default=600.0, show_default=True,
              help="Seconds to wait until ready (a first run may build kube-apiserver).")
def up_command(directory: Path | None, dwell: float, hosts: int, crds_dir: Path | None,
               timeout: float) -> None:
    """Start the sandbox in the background and wait until it is ready; a no-op when it
    already runs."""
    try:
        info, started = box.up(directory, dwell=dwell, hosts=hosts, crds_dir=crds_dir,
                               timeout=timeout)
    except DpfError as error:
        raise click.ClickException(str(error)) from error
    if not started:
        click.echo("sandbox already running; nothing started")
    for line in info.describe():
        click.echo(line)


@sandbox.command("status")
@_DIR_OPTION
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
def status_command(directory: Path | None, output: str) -> None:
    """Show what the sandbox runs; exit code 3 when it does not run."""
    found = box.status(directory)
    if output == "json":
        click.echo(json.dumps(found.to_dict(), indent=2))
    else:
        for line in _status_lines(found):
            click.echo(line)
    if not found.running:
        raise SystemExit(NOT_RUNNING_EXIT)


def _status_lines(found: SandboxStatus) -> list[str]:
    if found.info is None:
        state = "starting" if found.starting else "not running"
        return [f"sandbox {state} (directory {found.directory})"]

    lines = found.info.describe()[:-2]
    processes = ", ".join(f"{name} {'up' if alive else 'DOWN'}"
                          for name, alive in found.processes.items())
    ready = "ready" if found.apiserver_ready else "NOT READY"
    phases = ", ".join(f"{phase}: {count}" for phase, count in sorted(found.dpu_phases.items()))
    lines += [f"  processes      {processes}", f"  API /readyz    {ready}",
              f"  DPUs           {phases or 'none'}", "", *found.info.describe()[-1:]]
    return lines


@sandbox.command("down")
@_DIR_OPTION
@click.option("--keep-logs", is_flag=True,
              help="Keep supervisor.log and copy the servers' logs to <dir>/logs.")
def down_command(directory: Path | None, keep_logs: bool) -> None:
    """Stop the sandbox and remove its files."""
    try:
        was_running = box.down(directory, keep_logs=keep_logs)
    except DpfError as error:
        raise click.ClickException(str(error)) from error
    click.echo("sandbox stopped" if was_running else "sandbox was not running; files removed")
