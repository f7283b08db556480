"""The reprovision flow: delete one DPU, wait for the operator's replacement, monitor it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from carbide_dpf.flows.monitor import Host, MonitorResult, PowerCycler, monitor_host
from carbide_dpf.sdk import DpfSdk, ReprovisionTicket
from carbide_dpf.sdk import validation as v

__all__ = ["ReprovisionResult", "reprovision_dpu"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReprovisionResult:
    """The deleted DPU, its replacement's uid, and how the monitor ended."""

    ticket: ReprovisionTicket
    new_uid: str
    monitor: MonitorResult


async def reprovision_dpu(
    sdk: DpfSdk,
    node_name: str,
    dpu_name: str,
    power_cycle: PowerCycler,
    *,
    expected_uid: str | None = None,
    timeout: float = 1800.0,  # noqa: ASYNC109 - seconds, for the wait and the monitor
    **watcher_options: object,
) -> ReprovisionResult:
    """Delete DPU `dpu_name` of DPUNode `node_name`, wait for the DPU the DPUSet creates after
    the delete (another uid), then drive it to Ready as `monitor_host` does.

    The watcher covers every DPU of the node: a reboot the operator asks for on behalf of
    the new DPU is a reboot of the whole host. With `expected_uid` (the uid of the DPU to
    replace, as a first run reported it) a run interrupted after the delete finishes the
    job when run again instead of deleting the replacement a second time.
    """
    problems = v.check_node_name("node", node_name)
    problems += v.check_dns_label("dpu", dpu_name, "DPU")
    v.raise_if_any(problems)

    started = time.monotonic()
    ticket = await sdk.reprovision_dpu(dpu_name, expected_uid=expected_uid)
    fresh = await sdk.wait_for_dpu(dpu_name, not_uid=ticket.old_uid,
                                   created_after=ticket.deleted_at, timeout=timeout)
    log.info("dpu recreated dpu=%s old_uid=%s new_uid=%s ns=%s", dpu_name, ticket.old_uid,
             fresh.uid, sdk.namespace)

    remaining = max(1.0, timeout - (time.monotonic() - started))
    result = await monitor_host(sdk, Host(node_name, (dpu_name,)), power_cycle,
                                timeout=remaining, **watcher_options)
    return ReprovisionResult(ticket, fresh.uid, result)
