"""The single SDK operations as commands: initialise, register, release, reboot, delete, and
the queries (`get-phase`, `is-reboot-required`, `is-device-ready`, `outdated`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import click

from carbide_dpf.cli.common import (
    ClusterOptions,
    cluster_options,
    load_services_file,
    output_option,
    read_password,
    run,
)
from carbide_dpf.cli.output import emit, print_table

if TYPE_CHECKING:
    from carbide_dpf.sdk import DeleteResult, DpfSdk

__all__ = [
    "clear_reboot",
    "delete_device",
    "delete_node",
    "force_delete_dpu",
    "force_delete_node",
    "get_phase",
    "init",
    "is_device_ready",
    "is_reboot_required",
    "outdated",
    "register_device",
    "register_node",
    "release_hold",
    "update_bfb",
]

_finalizers_option = click.option(
    "--remove-finalizers", is_flag=True,
    help="Also strip the finalizers (skips the operator's cleanup; last resort).")


def _call(cluster: ClusterOptions, action: Callable[[DpfSdk], Awaitable[Any]],
          **config: Any) -> Any:
    return run(cluster, action, **config)


def _print_delete(result: DeleteResult, output: str) -> None:
    def table() -> None:
        rows = [(n, "deleted") for n in result.deleted]
        rows += [(n, "already gone") for n in result.already_gone]
        rows += [(n, "labels removed: " + ", ".join(k)) for n, k in result.labels_removed.items()]
        rows += [(n, "finalizers removed: " + ", ".join(f))
                 for n, f in result.finalizers_removed.items()]
        rows += [(n, "waiting for finalizers: " + ", ".join(f))
                 for n, f in result.pending_finalizers.items()]
        print_table(None, ("OBJECT", "RESULT"), rows)

    emit(result, output, table)


# -- provisioning steps ---------------------------------------------------------------------

@click.command("init")
@cluster_options
@output_option
@click.option("--bfb-url", required=True, help="URL of the BFB image.")
@click.option("--bmc-password-file", metavar="FILE", default=None,
              help="Read the BMC password from the first line of FILE.")
@click.option("--bmc-password-env", metavar="VAR", default=None,
              help="Read the BMC password from environment variable VAR.")
@click.option("--services-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="DPU service definitions (JSON or YAML) instead of the defaults.")
def init(cluster: ClusterOptions, output: str, bfb_url: str, bmc_password_file: str | None,
         bmc_password_env: str | None, services_file: str | None) -> None:
    """Create or update the BMC Secret, BFB, DPUFlavor, services and DPUDeployment."""
    password = read_password(bmc_password_file, bmc_password_env, None)
    if password is None:
        raise click.UsageError("give --bmc-password-file FILE or --bmc-password-env VAR")
    services = load_services_file(services_file)
    result = _call(cluster, lambda sdk: sdk.create_initialization_objects(bfb_url, password),
                   services=services)
    emit(result, output, lambda: print_table(None, ("OBJECT", "NAME"), [
        ("BFB", result.bfb), ("DPUFlavor", result.flavor),
        ("DPUDeployment", result.deployment),
        *(("DPUService", s) for s in result.services)]))


@click.command("register-device")
@cluster_options
@click.argument("name")
@click.option("--bmc-ip", required=True, help="IPv4 address of the DPU's BMC.")
@click.option("--serial", "serial_number", required=True, help="The DPU's serial number.")
@click.option("--host-bmc-ip", default=None, help="The host BMC address, kept as a label.")
def register_device(cluster: ClusterOptions, name: str, bmc_ip: str, serial_number: str,
                    host_bmc_ip: str | None) -> None:
    """Create or update the DPUDevice NAME."""
    _call(cluster, lambda sdk: sdk.register_dpu_device(
        name, bmc_ip=bmc_ip, serial_number=serial_number, host_bmc_ip=host_bmc_ip))
    click.echo(f"dpudevice/{name} registered")


@click.command("register-node")
@cluster_options
@click.argument("name")
@click.option("--devices", required=True, metavar="NAME[,...]",
              help="The DPUDevices of the node.")
def register_node(cluster: ClusterOptions, name: str, devices: str) -> None:
    """Create or update the DPUNode NAME listing its DPUDevices (external reboot)."""
    names = [d.strip() for d in devices.split(",") if d.strip()]
    _call(cluster, lambda sdk: sdk.register_dpu_node(name, names))
    click.echo(f"dpunode/{name} registered")


@click.command("release-hold")
@cluster_options
@click.argument("node")
def release_hold(cluster: ClusterOptions, node: str) -> None:
    """Release the maintenance hold of DPUNode NODE."""
    released = _call(cluster, lambda sdk: sdk.release_maintenance_hold(node))
    click.echo(f"hold of {node} released" if released else f"no hold on {node}")


@click.command("clear-reboot")
@cluster_options
@click.argument("node")
def clear_reboot(cluster: ClusterOptions, node: str) -> None:
    """Tell the operator the host of NODE was power-cycled (remove the reboot request)."""
    _call(cluster, lambda sdk: sdk.reboot_complete(node))
    click.echo(f"reboot request of {node} cleared")


@click.command("update-bfb")
@cluster_options
@click.option("--bfb-url", required=True, help="URL of the new BFB image.")
def update_bfb(cluster: ClusterOptions, bfb_url: str) -> None:
    """Point the DPUDeployment at another BFB; the operator rolls the DPUs."""
    bfb = _call(cluster, lambda sdk: sdk.update_deployment_bfb(bfb_url))
    click.echo(f"dpudeployment now uses bfb/{bfb}")


# -- queries --------------------------------------------------------------------------------

@click.command("get-phase")
@cluster_options
@click.argument("dpu")
def get_phase(cluster: ClusterOptions, dpu: str) -> None:
    """Print the phase of DPU (empty before the operator set one)."""
    phase = _call(cluster, lambda sdk: sdk.get_dpu_phase(dpu))
    click.echo("" if phase is None else str(phase))


@click.command("is-reboot-required")
@cluster_options
@click.argument("node")
def is_reboot_required(cluster: ClusterOptions, node: str) -> None:
    """Print true when the operator asks for a reboot of the host of NODE, else false."""
    required = _call(cluster, lambda sdk: sdk.is_reboot_required(node))
    click.echo("true" if required else "false")


@click.command("is-device-ready")
@cluster_options
@click.argument("device")
def is_device_ready(cluster: ClusterOptions, device: str) -> None:
    """Print true when DPUDevice DEVICE has condition Ready=True, else false."""
    ready = _call(cluster, lambda sdk: sdk.is_dpu_device_ready(device))
    click.echo("true" if ready else "false")


@click.command("outdated")
@cluster_options
@output_option
def outdated(cluster: ClusterOptions, output: str) -> None:
    """List DPUs whose BFB or flavor differs from the DPUDeployment's."""
    found = _call(cluster, lambda sdk: sdk.find_outdated_dpus())
    emit(found, output, lambda: print_table(None, ("DPU", "BFB", "WANTED BFB", "FLAVOR",
                                                    "WANTED FLAVOR"),
                                             [(d.name, d.bfb, d.wanted_bfb, d.flavor,
                                               d.wanted_flavor) for d in found]))


# -- deletes --------------------------------------------------------------------------------

@click.command("delete-device")
@cluster_options
@output_option
@click.argument("name")
def delete_device(cluster: ClusterOptions, output: str, name: str) -> None:
    """Delete DPUDevice NAME (the operator then deletes its DPU)."""
    _print_delete(_call(cluster, lambda sdk: sdk.delete_dpu_device(name)), output)


@click.command("delete-node")
@cluster_options
@output_option
@click.argument("name")
def delete_node(cluster: ClusterOptions, output: str, name: str) -> None:
    """Delete DPUNode NAME (the operator then deletes its DPUs)."""
    _print_delete(_call(cluster, lambda sdk: sdk.delete_dpu_node(name)), output)


@click.command("force-delete-dpu")
@cluster_options
@output_option
@_finalizers_option
@click.argument("name")
def force_delete_dpu(cluster: ClusterOptions, output: str, remove_finalizers: bool,
                     name: str) -> None:
    """Remove our labels from DPU NAME and delete it."""
    _print_delete(_call(cluster, lambda sdk: sdk.force_delete_dpu(
        name, remove_finalizers=remove_finalizers)), output)


@click.command("force-delete-node")
@cluster_options
@output_option
@_finalizers_option
@click.argument("name")
def force_delete_node(cluster: ClusterOptions, output: str, remove_finalizers: bool,
                      name: str) -> None:
    """Remove our labels from DPUNode NAME and delete it."""
    _print_delete(_call(cluster, lambda sdk: sdk.force_delete_dpu_node(
        name, remove_finalizers=remove_finalizers)), output)

