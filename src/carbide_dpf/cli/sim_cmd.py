"""`carbide-dpf sim`: run the DPF operator simulator against the cluster in the kubeconfig."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import MappingProxyType

import click

from carbide_dpf.errors import ConfigError
from carbide_dpf.kube.client import KubeClient
from carbide_dpf.sim import Fault, SimConfig, Simulator

__all__ = ["parse_dwell", "sim"]

log = logging.getLogger(__name__)

# The simulator is the only writer of most of its objects; a fleet at zero dwell needs
# hundreds of requests per second, far above the interactive client default of 50.
_DEFAULT_QPS = 1000.0


def parse_dwell(values: tuple[str, ...]) -> dict[str, float]:
    """Parse `PHASE=SECONDS` pairs (e.g. "OS Installing=5") into a dwell mapping."""
    result: dict[str, float] = {}
    for value in values:
        phase, sep, seconds = value.rpartition("=")
        if not sep or not phase:
            raise ConfigError(f"bad --dwell {value!r}; write PHASE=SECONDS, e.g. 'Pending=2'")
        try:
            result[phase.strip()] = float(seconds)
        except ValueError as exc:
            raise ConfigError(f"bad --dwell {value!r}: {seconds!r} is not a number") from exc
    return result


@click.command("sim")
@click.option("-n", "--namespace", default=None,
              help="Act on this namespace only (default: every namespace).")
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None,
              help="Path to the kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster).")
@click.option("--context", "kube_context", default=None, help="The kubeconfig context to use.")
@click.option("--dwell", multiple=True, metavar="PHASE=SECONDS",
              help="Seconds a DPU stays in PHASE; repeatable.")
@click.option("--default-dwell", type=float, default=0.0, show_default=True,
              help="Seconds a DPU stays in every other phase.")
@click.option("--bfb-download-seconds", type=float, default=0.0, show_default=True,
              help="Seconds a BFB stays Downloading.")
@click.option("--fault", "faults", multiple=True, metavar="KIND:PHASE[:GLOB[:FRACTION[:SEED]]]",
              help="Inject a fault (kinds: error, stall); repeatable.")
@click.option("--auto-release-hold", is_flag=True, help="Also release every hold (benchmarks).")
@click.option("--auto-reboot", is_flag=True, help="Also play every external reboot (benchmarks).")
@click.option("--metrics-port", type=int, default=None,
              help="Serve Prometheus metrics on this port.")
@click.option("--qps", type=float, default=_DEFAULT_QPS, show_default=True,
              help="Request rate limit of the simulator's client.")
def sim(
    namespace: str | None,
    kubeconfig: str | None,
    kube_context: str | None,
    dwell: tuple[str, ...],
    default_dwell: float,
    bfb_download_seconds: float,
    faults: tuple[str, ...],
    auto_release_hold: bool,
    auto_reboot: bool,
    metrics_port: int | None,
    qps: float,
) -> None:
    """Play the DPF operator (v25.10.1) until interrupted."""
    try:
        config = SimConfig(
            namespace=namespace,
            dwell=MappingProxyType(parse_dwell(dwell)),
            default_dwell=default_dwell,
            bfb_download_seconds=bfb_download_seconds,
            faults=tuple(Fault.parse(f) for f in faults),
            auto_release_hold=auto_release_hold,
            auto_reboot=auto_reboot,
        )
        kube = KubeClient.from_kubeconfig(kubeconfig, context=kube_context, qps=qps,
                                          burst=int(qps))
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc

    if metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(metrics_port)
        log.info("serving metrics port=%d", metrics_port)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(kube, config))


async def _run(kube: KubeClient, config: SimConfig) -> None:
    async with kube:
        await Simulator(kube, config).run_forever()
