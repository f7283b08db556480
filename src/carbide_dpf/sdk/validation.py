"""Input validation: every rule the SDK checks before it writes anything.

Each `check_*` function returns the problems it found (an empty list when the value is fine)
instead of raising, so an operation can check all its inputs and raise one `ValidationError`
that lists every offending field at once (`raise_if_any`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

import pydantic

from carbide_dpf.errors import FieldProblem, ValidationError
from carbide_dpf.models.dpu_flavor import DPUFlavorSpec
from carbide_dpf.sdk import names

__all__ = [
    "check_device_name",
    "check_dns_label",
    "check_dpu_name",
    "check_flavor_spec",
    "check_ip",
    "check_label_key",
    "check_label_value",
    "check_labels",
    "check_node_name",
    "check_port",
    "check_serial_number",
    "check_url",
    "raise_if_any",
]

SERIAL_MAX = 64
_SERIAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]*")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_LABEL_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")


def raise_if_any(problems: Iterable[FieldProblem]) -> None:
    """Raise one `ValidationError` listing `problems`, if there are any."""
    found = list(problems)
    if found:
        raise ValidationError(found)


def _dns_label(field: str, value: str, max_len: int, what: str) -> list[FieldProblem]:
    problems = []
    if not value:
        return [FieldProblem(field, "required", f"the {what} name must not be empty")]
    if len(value) > max_len:
        problems.append(FieldProblem(
            field, "max-length",
            f"the {what} name has {len(value)} characters; the limit is {max_len}",
        ))
    if not names.is_dns1123_label(value, max_len=len(value)):
        problems.append(FieldProblem(
            field, "dns1123-label",
            f"{value!r} is not a DNS-1123 label: use lowercase letters, digits and '-', "
            "starting and ending with a letter or digit",
        ))
    return problems


def check_dns_label(field: str, value: str, what: str = "object",
                    max_len: int = names.DNS1123_LABEL_MAX) -> list[FieldProblem]:
    """Check a DNS-1123 label of at most `max_len` characters; `what` names it in messages."""
    return _dns_label(field, value, max_len, what)


def check_node_name(field: str, value: str) -> list[FieldProblem]:
    """Check a DPUNode name: a DNS-1123 label of at most 48 characters."""
    return _dns_label(field, value, names.DPU_NODE_NAME_MAX, "DPUNode")


def check_device_name(field: str, value: str) -> list[FieldProblem]:
    """Check a DPUDevice name: a DNS-1123 label of at most 63 characters."""
    return _dns_label(field, value, names.DPU_DEVICE_NAME_MAX, "DPUDevice")


def check_dpu_name(field: str, node_name: str, device_name: str) -> list[FieldProblem]:
    """Check that the DPU the operator will name `<node>-<device>` gets a valid name."""
    value = names.dpu_name(node_name, device_name)
    if len(value) > names.DPU_NAME_MAX:
        return [FieldProblem(
            field, "dpu-name-length",
            f"the DPU name {value!r} (<node>-<device>) has {len(value)} characters; the "
            f"limit is {names.DPU_NAME_MAX}: shorten the node or the device name",
        )]
    return []


def check_ip(field: str, value: str, *, version: int | None = None) -> list[FieldProblem]:
    """Check an IP address (of `version` 4 or 6 when given); no zone index allowed."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return [FieldProblem(field, "ip-address", f"{value!r} is not an IP address")]
    if version is not None and address.version != version:
        return [FieldProblem(
            field, f"ipv{version}-address", f"{value!r} is not an IPv{version} address",
        )]
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return [FieldProblem(field, "ip-no-zone", f"{value!r} carries a zone index; drop it")]
    return []


def check_url(field: str, value: str) -> list[FieldProblem]:
    """Check an http or https URL with a host and no whitespace."""
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return [FieldProblem(field, "url", f"{value!r} is not a URL")]
    # The BFB CRD's pattern `^(http|https)://.+$` is case-sensitive, while urlsplit lowers
    # the scheme: test the text itself, or `HTTPS://` would pass here and fail on the server.
    if not value.startswith(("http://", "https://")):
        return [FieldProblem(field, "url-scheme",
                             f"{value!r} must start with http:// or https:// (lowercase)")]
    if not host:
        return [FieldProblem(field, "url-host", f"{value!r} has no host")]
    if any(c.isspace() or not c.isprintable() for c in value):
        return [FieldProblem(field, "url-charset", f"{value!r} contains whitespace")]
    return []


def check_serial_number(field: str, value: str) -> list[FieldProblem]:
    """Check a DPU serial number: non-empty, <= 64 of letters, digits and `._/-`."""
    if not value:
        return [FieldProblem(field, "required", "the serial number must not be empty")]
    if len(value) > SERIAL_MAX:
        return [FieldProblem(field, "max-length", f"the serial number exceeds {SERIAL_MAX}")]
    if _SERIAL.fullmatch(value) is None:
        return [FieldProblem(
            field, "serial-charset",
            f"{value!r} may hold only letters, digits and '._/-', starting with a letter "
            "or digit",
        )]
    return []


def check_port(field: str, value: int) -> list[FieldProblem]:
    """Check a TCP port number (1-65535)."""
    if isinstance(value, bool) or not 1 <= value <= 65535:
        return [FieldProblem(field, "port", f"{value!r} is not a port number (1-65535)")]
    return []


def check_label_key(field: str, key: str) -> list[FieldProblem]:
    """Check a label key: `[prefix/]name`, prefix a DNS subdomain, name <= 63 chars."""
    prefix, _, name = key.rpartition("/")
    if "/" in key and not names.is_dns1123_subdomain(prefix):
        return [FieldProblem(field, "label-key", f"label key prefix {prefix!r} is invalid")]
    if len(name) > names.DNS1123_LABEL_MAX or _LABEL_NAME.fullmatch(name) is None:
        return [FieldProblem(field, "label-key", f"label key {key!r} is invalid")]
    return []


def check_label_value(field: str, value: str) -> list[FieldProblem]:
    """Check a label value: empty, or <= 63 alphanumerics and `-_.` inside."""
    if len(value) > names.DNS1123_LABEL_MAX or _LABEL_VALUE.fullmatch(value) is None:
        return [FieldProblem(field, "label-value", f"label value {value!r} is invalid")]
    return []


def check_labels(field: str, labels: Mapping[str, str]) -> list[FieldProblem]:
    """Check every key and value of a label map; fields are named `field[key]`."""
    problems: list[FieldProblem] = []
    for key, value in labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            problems.append(FieldProblem(f"{field}[{key}]", "label-type",
                                         "label keys and values must be strings"))
            continue
        problems += check_label_key(f"{field}[{key}]", key)
        problems += check_label_value(f"{field}[{key}]", value)
    return problems


_FLAVOR_FIELDS = frozenset(
    info.alias or name for name, info in DPUFlavorSpec.model_fields.items())


def check_flavor_spec(field: str, spec: Mapping[str, object]) -> list[FieldProblem]:
    """Check a DPUFlavor spec against the CRD's fields and types.

    The API server silently prunes unknown fields, so a misspelt key (`bfcfgParameter`) would
    otherwise vanish; the spec is immutable, so a mistake found later needs a new flavor.
    """
    problems = [FieldProblem(f"{field}.{key}", "unknown-field",
                             f"{key!r} is not a DPUFlavor spec field")
                for key in spec if key not in _FLAVOR_FIELDS]
    try:
        DPUFlavorSpec.model_validate(spec)
    except pydantic.ValidationError as error:
        for item in error.errors(include_url=False):
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in item["loc"])
            problems.append(FieldProblem(f"{field}{path}", str(item["type"]), item["msg"]))
    return problems
