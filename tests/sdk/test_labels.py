"""The host BMC address label and the owned-labels bookkeeping."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carbide_dpf.sdk import labels
from carbide_dpf.sdk.validation import check_label_value


@given(st.ip_addresses())
def test_every_ip_encodes_to_a_valid_label_value_and_back(
        address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    encoded = labels.encode_ip_label(str(address))
    assert check_label_value("v", encoded) == []
    assert labels.decode_ip_label(encoded) == str(address)


def test_ipv4_is_kept_as_is() -> None:
    assert labels.encode_ip_label("10.1.2.3") == "10.1.2.3"


def test_ipv6_is_written_in_full_with_dashes() -> None:
    assert labels.encode_ip_label("::1") == "0000-0000-0000-0000-0000-0000-0000-0001"


def test_zone_index_cannot_be_encoded() -> None:
    with pytest.raises(ValueError, match="zone"):
        labels.encode_ip_label("fe80::1%eth0")


def test_host_bmc_ip_is_read_back_from_a_dpu() -> None:
    key = "carbide.nvidia.com/host-bmc-ip"
    dpu = {"metadata": {"labels": {key: labels.encode_ip_label("2001:db8::7")}}}
    assert labels.host_bmc_ip_from_dpu(dpu) == "2001:db8::7"
    assert labels.host_bmc_ip_from_dpu({"metadata": {}}) is None
    assert labels.host_bmc_ip_from_dpu({"metadata": {"labels": {key: "garbage"}}}) is None


def test_owned_label_keys_are_the_listed_and_always_keys_present() -> None:
    obj = {"metadata": {
        "labels": {"a": "1", "b": "2", "mine": "x", "theirs": "y"},
        "annotations": {labels.OWNED_LABELS_ANNOTATION: "a,b,gone"},
    }}
    assert labels.owned_label_keys(obj, always=["mine", "absent"]) == ["a", "b", "mine"]
