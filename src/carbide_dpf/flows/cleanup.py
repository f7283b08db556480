"""The cleanup flow: remove one host's DPUNode, DPUDevices and DPUs.

The node is named explicitly or derived from the host's identity with
`carbide_dpf.sdk.node_name_for_host`, the SDK's own derivation: never from a device name
(the Rust harness's mistake, which left the second DPU's node behind).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from carbide_dpf.errors import FieldProblem
from carbide_dpf.sdk import DeleteResult, DpfSdk, node_name_for_host
from carbide_dpf.sdk import validation as v

__all__ = ["cleanup_host", "resolve_node_name"]

log = logging.getLogger(__name__)


def resolve_node_name(node_name: str | None, host_id: str | None) -> str:
    """Return `node_name`, or the SDK's node name for `host_id`; exactly one must be given."""
    if (node_name is None) == (host_id is None):
        v.raise_if_any([FieldProblem("node", "one-of",
                                     "give either the node name or the host id, not both")])
    if node_name is not None:
        return node_name
    assert host_id is not None
    return node_name_for_host(host_id)


async def cleanup_host(
    sdk: DpfSdk,
    node_name: str,
    *,
    device_names: Sequence[str] = (),
    remove_finalizers: bool = False,
) -> DeleteResult:
    """Delete the host of `node_name`: node labels first (so no DPU is recreated), then its
    DPUs, its DPUDevices (those the node lists or that carry its label, plus
    `device_names`) and the node. Objects already gone are fine."""
    result = await sdk.force_delete_host(node_name, device_names=device_names,
                                         remove_finalizers=remove_finalizers)
    log.info("cleaned up host dpunode=%s deleted=%d ns=%s", node_name, len(result.deleted),
             sdk.namespace)
    return result
