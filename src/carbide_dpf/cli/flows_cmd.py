"""The end-to-end commands: provision, reprovision, cleanup, status and watch."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import json
import logging
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from carbide_dpf.cli.common import (
    ClusterOptions,
    cluster_options,
    handle_errors,
    load_services_file,
    output_option,
    read_password,
    run,
)
from carbide_dpf.cli.output import emit, jsonable, print_table

if TYPE_CHECKING:
    from carbide_dpf.flows import BmcTarget, MonitorResult, PowerCycler
    from carbide_dpf.sdk import DpfSdk, HostSnapshot, SecretStr
    from carbide_dpf.watcher import DpuEvent

__all__ = ["cleanup", "provision", "reprovision", "status", "watch"]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])

_DEFAULT_TIMEOUT = 1800.0


# -- shared options -------------------------------------------------------------------------

def _node_options(fn: F) -> F:
    fn = click.option("--host-id", default=None,
                      help="A stable host identity; the node name is derived from it as "
                           "the SDK does (instead of --node).")(fn)
    return click.option("--node", default=None, help="The host's DPUNode name.")(fn)


def _password_options(fn: F) -> F:
    fn = click.option("--bmc-password", default=None, hidden=True,
                      help="Discouraged: visible in `ps`. Kept for the Rust harness.")(fn)
    fn = click.option("--bmc-password-env", metavar="VAR", default=None,
                      help="Read the BMC password from environment variable VAR.")(fn)
    return click.option("--bmc-password-file", metavar="FILE", default=None,
                        help="Read the BMC password from the first line of FILE.")(fn)


def _host_bmc_options(fn: F) -> F:
    options = [
        click.option("--host-bmc-url", default=None,
                     help="Redfish URL of the host BMC (default: https://<host BMC IP>)."),
        click.option("--host-bmc-user", default="admin", show_default=True,
                     help="Redfish user of the host BMC."),
        click.option("--host-bmc-password-file", metavar="FILE", default=None,
                     help="The host BMC's password, if not the BMC password."),
        click.option("--host-bmc-password-env", metavar="VAR", default=None,
                     help="The host BMC's password from VAR, if not the BMC password."),
        click.option("--host-bmc-ca", metavar="FILE", default=None,
                     help="CA bundle that signed the host BMC's certificate."),
        click.option("--host-bmc-insecure", is_flag=True,
                     help="Do not verify the host BMC's certificate (lab BMCs only)."),
        click.option("--host-bmc-system-id", default=None,
                     help="The Redfish system id of the host (default: the first)."),
        click.option("--power-cycle-timeout", type=float, default=600.0, show_default=True,
                     help="Seconds a host power cycle may take."),
        click.option("--timeout", type=float, default=_DEFAULT_TIMEOUT, show_default=True,
                     help="Seconds to wait for the DPUs to become Ready."),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _resolve_node(node: str | None, host_id: str | None) -> str:
    from carbide_dpf.flows import resolve_node_name

    with handle_errors():
        return resolve_node_name(node, host_id)


def _default_bmc_url(ip: str) -> str:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return f"https://{ip}"
    return f"https://[{ip}]" if address.version == 6 else f"https://{ip}"


def _bmc_target(options: dict[str, Any], password: SecretStr | None,
                host_bmc_ip: str | None) -> BmcTarget:
    from carbide_dpf.flows import BmcTarget

    host_password = read_password(options["host_bmc_password_file"],
                                  options["host_bmc_password_env"], None,
                                  what="--host-bmc-password") or password
    if host_password is None:
        raise click.UsageError("give --bmc-password-file or --bmc-password-env (or the "
                               "--host-bmc-password-* options): the host reboot needs it")
    url = options["host_bmc_url"]
    if url is None:
        if host_bmc_ip is None:
            raise click.UsageError("the host BMC address is unknown; give --host-bmc-url")
        url = _default_bmc_url(host_bmc_ip)
    verify: bool | str = options["host_bmc_ca"] or not options["host_bmc_insecure"]
    return BmcTarget(url, options["host_bmc_user"], host_password, verify=verify,
                     system_id=options["host_bmc_system_id"])


def _cycler(target: BmcTarget, options: dict[str, Any]) -> PowerCycler:
    from carbide_dpf.flows import redfish_power_cycler

    return redfish_power_cycler(target, timeout=options["power_cycle_timeout"],
                                poll_interval=1.0)


def _bmc_keys() -> tuple[str, ...]:
    return ("host_bmc_url", "host_bmc_user", "host_bmc_password_file", "host_bmc_password_env",
            "host_bmc_ca", "host_bmc_insecure", "host_bmc_system_id", "power_cycle_timeout")


def _print_monitor(result: MonitorResult, output: str, extra: dict[str, Any]) -> None:
    def table() -> None:
        rows = [(d.name, d.phase, d.uid, d.host_bmc_ip) for d in result.dpus]
        print_table(None, ("DPU", "PHASE", "UID", "HOST BMC"), rows)
        click.echo(f"node {result.node_name}: {len(result.dpus)} DPU(s) Ready in "
                   f"{result.seconds:.1f}s, holds released {result.holds_released}, "
                   f"power cycles {result.power_cycles}")

    emit({**extra, "monitor": result}, output, table)


# -- provision ------------------------------------------------------------------------------

@click.command("provision")
@cluster_options
@output_option
@click.option("--bfb-url", required=True, help="URL of the BFB image to install.")
@_password_options
@click.option("--host-bmc-ip", required=True, help="IP address of the host's BMC.")
@_node_options
@click.option("--dpus", required=True, metavar="DEVICE:BMC_IP:SERIAL[,...]",
              help="The host's DPUs: DPUDevice name, DPU BMC IPv4 address, serial number.")
@click.option("--services-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="DPU service definitions (JSON or YAML) instead of the defaults.")
@_host_bmc_options
def provision(cluster: ClusterOptions, output: str, bfb_url: str,
              bmc_password_file: str | None, bmc_password_env: str | None,
              bmc_password: str | None, host_bmc_ip: str, node: str | None,
              host_id: str | None, dpus: str, services_file: str | None, timeout: float,
              **bmc: Any) -> None:
    """Provision a host: initialise the deployment, register its DPUs and node, then release
    the hold and power-cycle the host as the operator asks, until every DPU is Ready.

    Safe to run again after an interruption: it resumes where the DPUs stand.
    """
    from carbide_dpf.flows import HostSpec, parse_device_specs, provision_host
    from carbide_dpf.flows.provision import check_provision_input

    password = read_password(bmc_password_file, bmc_password_env, bmc_password)
    if password is None:
        raise click.UsageError("give --bmc-password-file FILE or --bmc-password-env VAR")
    node_name = _resolve_node(node, host_id)
    with handle_errors():
        spec = HostSpec(node_name, host_bmc_ip, parse_device_specs(dpus))
        check_provision_input(spec, bfb_url, password)
    cycler = _cycler(_bmc_target(bmc, password, host_bmc_ip), bmc)
    services = load_services_file(services_file)

    async def action(sdk: DpfSdk) -> Any:
        return await provision_host(sdk, spec, cycler, bfb_url=bfb_url,
                                    bmc_password=password, timeout=timeout)

    result = run(cluster, action, services=services)
    _print_monitor(result.monitor, output, {"init": result.init})


# -- reprovision ----------------------------------------------------------------------------

@click.command("reprovision")
@cluster_options
@output_option
@_node_options
@click.option("--dpu", "dpu", default=None, help="The DPU to reprovision.")
@click.option("--device", "--device-name", "device", default=None,
              help="Or the DPUDevice whose DPU to reprovision.")
@click.option("--expect-uid", default=None, metavar="UID",
              help="Reprovision only the DPU with this uid (default: the uid it has now, "
                   "printed at the start); with it, a rerun of an interrupted reprovision "
                   "finishes instead of starting over.")
@_password_options
@_host_bmc_options
def reprovision(cluster: ClusterOptions, output: str, node: str | None, host_id: str | None,
                dpu: str | None, device: str | None, expect_uid: str | None,
                bmc_password_file: str | None, bmc_password_env: str | None,
                bmc_password: str | None, timeout: float, **bmc: Any) -> None:
    """Reprovision one DPU: delete it, wait for the operator's replacement, then release the
    hold and power-cycle the host as asked, until it is Ready.

    The host BMC address is read from the DPU's host-BMC label unless --host-bmc-url is given.
    """
    from carbide_dpf.flows import reprovision_dpu
    from carbide_dpf.sdk import dpu_name

    if (dpu is None) == (device is None):
        raise click.UsageError("give exactly one of --dpu and --device")
    node_name = _resolve_node(node, host_id)
    target_dpu = dpu if dpu is not None else dpu_name(node_name, str(device))
    password = read_password(bmc_password_file, bmc_password_env, bmc_password)

    async def action(sdk: DpfSdk) -> Any:
        snapshot = await sdk.snapshot_host(node_name)
        current = {d.name: d for d in snapshot.dpus}.get(target_dpu)
        ip = current.host_bmc_ip if current else None
        with _usage_errors():
            cycler = _cycler(_bmc_target(bmc, password, ip), bmc)
        uid = expect_uid or (current.uid if current else None)
        if uid and not expect_uid:
            # Pin the DPU seen now, and say how to finish the job after a Ctrl-C.
            click.echo(f"reprovisioning {target_dpu} uid={uid}; if interrupted, run the same "
                       f"command with --expect-uid {uid}", err=True)
        return await reprovision_dpu(sdk, node_name, target_dpu, cycler, expected_uid=uid,
                                    timeout=timeout)

    result = run(cluster, action)
    _print_monitor(result.monitor, output,
                   {"dpu": target_dpu, "old_uid": result.ticket.old_uid,
                    "new_uid": result.new_uid})


@contextlib.contextmanager
def _usage_errors() -> Any:
    # A usage error found inside the event loop: leave the loop the ordinary way.
    try:
        yield
    except click.UsageError as exc:
        from carbide_dpf.errors import ConfigError

        raise ConfigError(exc.message) from exc


# -- cleanup --------------------------------------------------------------------------------

@click.command("cleanup")
@cluster_options
@output_option
@_node_options
@click.option("--dpu-device-names", default="", metavar="NAME[,...]",
              help="Further DPUDevices to delete (those of the node are found).")
@click.option("--remove-finalizers", is_flag=True,
              help="Also strip finalizers (skips the operator's cleanup).")
def cleanup(cluster: ClusterOptions, output: str, node: str | None, host_id: str | None,
            dpu_device_names: str, remove_finalizers: bool) -> None:
    """Delete a host's DPUNode, DPUDevices and DPUs."""
    from carbide_dpf.flows import cleanup_host

    node_name = _resolve_node(node, host_id)
    devices = [d.strip() for d in dpu_device_names.split(",") if d.strip()]

    async def action(sdk: DpfSdk) -> Any:
        return await cleanup_host(sdk, node_name, device_names=devices,
                                  remove_finalizers=remove_finalizers)

    result = run(cluster, action)

    def table() -> None:
        rows = [(name, "deleted") for name in result.deleted]
        rows += [(name, "already gone") for name in result.already_gone]
        rows += [(name, "waiting for finalizers: " + ", ".join(f))
                 for name, f in result.pending_finalizers.items()]
        print_table(f"cleanup of node {node_name}", ("OBJECT", "RESULT"), rows)

    emit({"node": node_name, "result": result}, output, table)


# -- status ---------------------------------------------------------------------------------

@click.command("status")
@cluster_options
@output_option
@click.option("--node", default=None, help="Show only this DPUNode (default: every node).")
@click.option("--host-bmc-ip", default=None,
              help="Show only the hosts whose devices carry this host BMC address.")
def status(cluster: ClusterOptions, output: str, node: str | None,
           host_bmc_ip: str | None) -> None:
    """Show DPUNodes, their DPUDevices and DPUs with phases and conditions."""
    from carbide_dpf.sdk import validation as v

    if node is not None and host_bmc_ip is not None:
        raise click.UsageError("give at most one of --node and --host-bmc-ip")
    with handle_errors():
        # Checked before connecting, so a typo is a usage error even without a cluster.
        v.raise_if_any([] if host_bmc_ip is None else v.check_ip("host_bmc_ip", host_bmc_ip))

    async def action(sdk: DpfSdk) -> list[HostSnapshot]:
        if node is not None:
            return [await sdk.snapshot_host(node)]
        return await sdk.snapshot_hosts(host_bmc_ip=host_bmc_ip)

    hosts = run(cluster, action)
    emit({"namespace": cluster.namespace, "hosts": hosts}, output,
         functools.partial(_status_table, hosts))


def _conditions_text(conditions: Any) -> str:
    off = [f"{c.type}={c.status}" + (f" ({c.reason})" if c.reason else "")
           for c in conditions if not c.is_true]
    if off:
        return ", ".join(off)
    return "all True" if conditions else "-"


def _status_table(hosts: list[HostSnapshot]) -> None:
    rows: list[tuple[Any, ...]] = []
    for host in hosts:
        node = host.node
        if node is None:
            rows.append(("DPUNode", host.node_name, "missing", ""))
        else:
            state = "reboot required" if node.reboot_required else ""
            rows.append(("DPUNode", node.name, state, _conditions_text(node.conditions)))
        for device in host.devices:
            state = ("missing" if not device.exists
                     else "Ready" if device.ready else "not ready")
            rows.append(("  DPUDevice", device.name, state,
                         _conditions_text(device.conditions)))
        for dpu in host.dpus:
            phase = str(dpu.phase or "-") + (" (deleting)" if dpu.deleting else "")
            rows.append(("  DPU", dpu.name, phase, _conditions_text(dpu.conditions)))
    if not rows:
        click.echo("no DPUNodes found")
        return
    print_table(None, ("KIND", "NAME", "STATE", "CONDITIONS NOT TRUE"), rows)


# -- watch ----------------------------------------------------------------------------------

@click.command("watch")
@cluster_options
@click.option("-o", "--output", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="One line of text or one JSON object per event.")
@click.option("--node", default=None, help="Only the DPUs of this DPUNode.")
def watch(cluster: ClusterOptions, output: str, node: str | None) -> None:
    """Stream DPU events (every observed change) until interrupted."""

    async def action(sdk: DpfSdk) -> None:
        from carbide_dpf.sdk.labels import DPUNODE_NAME_LABEL

        selector = sdk.config.dpu_selector
        if node is not None:
            selector = f"{selector},{DPUNODE_NAME_LABEL}={node}"
        # No ledger: watching must not write to the DPUs.
        watcher = sdk.watcher(label_selector=selector, ledger_annotation=None,
                              resync_period=None)
        watcher.on_dpu_event(functools.partial(_print_event, output))
        await watcher.run()

    with contextlib.suppress(KeyboardInterrupt):
        run(cluster, action)


def _print_event(output: str, event: DpuEvent) -> None:
    if output == "json":
        data = {name: jsonable(getattr(event, name))
                for name in ("type", "name", "namespace", "uid", "node", "device", "phase",
                             "previous_phase", "host_bmc_ip", "deleting", "observed_at")}
        data["conditions"] = [jsonable(c) for c in event.conditions]
        line = json.dumps(data)
    else:
        moved = (f"{event.previous_phase} -> {event.phase}"
                 if event.previous_phase and event.previous_phase != event.phase
                 else str(event.phase or "-"))
        line = (f"{event.observed_at:%H:%M:%S} {event.type:<8} {event.name} {moved}"
                + (" (deleting)" if event.deleting else ""))
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
