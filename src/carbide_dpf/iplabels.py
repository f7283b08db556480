"""IP addresses as Kubernetes label values, and the label that carries the host BMC address.

The operator copies every DPUDevice label onto the DPU it creates and never fills
`DPU.spec.bmcIP`, so the SDK writes the host BMC address as a device label and the watcher
reads it back from the DPU. Both sides use this module so they always agree on the encoding.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping

__all__ = [
    "HOST_BMC_IP_LABEL",
    "decode_ip_label",
    "encode_ip_label",
    "host_bmc_ip_from_labels",
]

HOST_BMC_IP_LABEL = "carbide.nvidia.com/host-bmc-ip"


def encode_ip_label(address: str) -> str:
    """Encode an IP address as a label value, reversibly.

    IPv4 is already a valid value. IPv6 is written in full (exploded) form with ':' turned
    into '-', which starts and ends with a hex digit; `decode_ip_label` undoes it.
    """
    parsed = ipaddress.ip_address(address)
    if isinstance(parsed, ipaddress.IPv4Address):
        return str(parsed)
    if parsed.scope_id:
        raise ValueError(f"{address!r} carries a zone index, which a label cannot hold")
    return parsed.exploded.replace(":", "-")


def decode_ip_label(value: str) -> str:
    """Decode a label value made by `encode_ip_label` into the address's canonical text."""
    text = value.replace("-", ":") if "-" in value else value
    return str(ipaddress.ip_address(text))


def host_bmc_ip_from_labels(
    labels: Mapping[str, str], key: str = HOST_BMC_IP_LABEL
) -> str | None:
    """Read the host BMC address from a label map; None when absent or undecodable."""
    value = labels.get(key)
    if not value:
        return None
    try:
        return decode_ip_label(value)
    except ValueError:
        return None
