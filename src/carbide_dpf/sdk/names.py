"""Object names: the DNS-1123 rules, and names derived so that re-running a flow reuses them.

Every derived name is a pure function of its input (a URL, a host identity, a flavor spec), so
initialising twice, or after a crash, finds the objects of the first run instead of leaking
new randomly named ones (the Rust SDK created a new BFB on every initialisation).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import orjson

__all__ = [
    "DNS1123_LABEL_MAX",
    "DPU_DEVICE_NAME_MAX",
    "DPU_NAME_MAX",
    "DPU_NODE_NAME_MAX",
    "bfb_name_for_url",
    "dpu_name",
    "flavor_name_for_spec",
    "hold_name",
    "is_dns1123_label",
    "is_dns1123_subdomain",
    "node_name_for_host",
    "sanitize",
    "short_hash",
]

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
# The operator's own limits (DPF-OPERATOR.md): it derives longer names from these.
DPU_NODE_NAME_MAX = 48
DPU_DEVICE_NAME_MAX = 63
# A DPU is named `<node>-<device>` and becomes a host name in the DPU cluster and a label
# value (`provisioning.dpu.nvidia.com/dpu-name`-style), so it must itself be a DNS-1123 label.
DPU_NAME_MAX = 63

_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_INVALID_RUN = re.compile(r"[^a-z0-9]+")
_HASH_LEN = 10


def is_dns1123_label(name: str, max_len: int = DNS1123_LABEL_MAX) -> bool:
    """Return whether `name` is a DNS-1123 label: lowercase alphanumerics and '-', at most
    `max_len` (63) characters, starting and ending with an alphanumeric."""
    return len(name) <= max_len and _LABEL.fullmatch(name) is not None


def is_dns1123_subdomain(name: str) -> bool:
    """Return whether `name` is a DNS-1123 subdomain: dot-separated labels, <= 253 chars."""
    if not name or len(name) > DNS1123_SUBDOMAIN_MAX:
        return False
    return all(_LABEL.fullmatch(part) is not None for part in name.split("."))


def short_hash(text: str, length: int = _HASH_LEN) -> str:
    """Return the first `length` hex digits of the SHA-256 of `text`."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def sanitize(text: str, max_len: int = DNS1123_LABEL_MAX) -> str:
    """Turn `text` into a DNS-1123 label fragment (may be empty): lowercase, runs of other
    characters to '-', trimmed to `max_len` without a leading or trailing '-'."""
    cleaned = _INVALID_RUN.sub("-", text.lower()).strip("-")
    return cleaned[:max_len].rstrip("-")


def hashed_name(stem: str, key: str, *, max_len: int = DNS1123_LABEL_MAX,
                fallback: str = "obj") -> str:
    """Return `<sanitised stem>-<hash of key>`, a DNS-1123 label of at most `max_len`."""
    suffix = short_hash(key)
    prefix = sanitize(stem, max_len - len(suffix) - 1) or fallback
    return f"{prefix}-{suffix}"


def bfb_name_for_url(url: str) -> str:
    """Return the BFB name for `url`: its file stem plus a short hash of the whole URL.

    Stable (the same URL always gives the same name, so re-initialising reuses the BFB), and
    distinct for distinct URLs that share a file name.
    """
    path = urlsplit(url).path
    stem = path.rsplit("/", 1)[-1]
    if stem.lower().endswith(".bfb"):
        stem = stem[: -len(".bfb")]
    return hashed_name(stem, url, fallback="bfb")


def flavor_name_for_spec(base: str, spec: Mapping[str, Any]) -> str:
    """Return `<base>-<hash of spec>`: the DPUFlavor spec is immutable, so a changed spec
    needs a new name, and an unchanged one must keep its name."""
    canonical = orjson.dumps(spec, option=orjson.OPT_SORT_KEYS).decode()
    return hashed_name(base, canonical, fallback="flavor")


def node_name_for_host(host_id: str) -> str:
    """Return a DPUNode name for a stable host identity (machine id, chassis serial, ...).

    An identity that is already a valid node name is used as is; anything else becomes its
    sanitised form plus a short hash of the identity, at most 48 characters. Never derive the
    node from a DPU device name: a host with two DPUs would get two nodes.
    """
    if len(host_id) <= DPU_NODE_NAME_MAX and is_dns1123_label(host_id):
        return host_id
    return hashed_name(host_id, host_id, max_len=DPU_NODE_NAME_MAX, fallback="host")


def dpu_name(node_name: str, device_name: str) -> str:
    """Return the name the operator gives the DPU of `device_name` on `node_name`."""
    return f"{node_name}-{device_name}"


def hold_name(node_name: str) -> str:
    """Return the name of the DPUNodeMaintenance the operator creates for a held node."""
    return f"{node_name}-hold"
