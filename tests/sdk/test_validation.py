"""Validation rules, each named in the problem it reports; fuzzed with hypothesis."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from carbide_dpf.errors import FieldProblem, ValidationError
from carbide_dpf.sdk import names
from carbide_dpf.sdk import validation as v


def _rules(problems: list[FieldProblem]) -> set[str]:
    return {problem.rule for problem in problems}


def test_node_name_longer_than_48_is_rejected() -> None:
    problems = v.check_node_name("name", "a" * 49)
    assert _rules(problems) == {"max-length"}
    assert problems[0].field == "name"


def test_device_name_of_63_is_accepted_and_64_rejected() -> None:
    assert v.check_device_name("name", "d" * 63) == []
    assert _rules(v.check_device_name("name", "d" * 64)) == {"max-length"}


@pytest.mark.parametrize("bad", ["", "Upper", "under_score", "-lead", "trail-", "dot.ted"])
def test_node_name_that_is_no_dns_label_is_rejected(bad: str) -> None:
    assert v.check_node_name("name", bad)


def test_dpu_name_too_long_is_reported_on_the_device() -> None:
    problems = v.check_dpu_name("device_names[0]", "n" * 40, "d" * 30)
    assert _rules(problems) == {"dpu-name-length"}
    assert problems[0].field == "device_names[0]"


@pytest.mark.parametrize("value", ["10.0.0.1", "2001:db8::1"])
def test_ip_addresses_are_accepted(value: str) -> None:
    assert v.check_ip("ip", value) == []


def test_ipv6_is_rejected_where_ipv4_is_required() -> None:
    assert _rules(v.check_ip("bmc_ip", "2001:db8::1", version=4)) == {"ipv4-address"}


@pytest.mark.parametrize("value", ["", "10.0.0", "10.0.0.256", "host", "fe80::1%eth0"])
def test_bad_ip_addresses_are_rejected(value: str) -> None:
    assert v.check_ip("ip", value)


@pytest.mark.parametrize(("value", "rule"), [
    ("ftp://example.com/a.bfb", "url-scheme"),
    ("https:///a.bfb", "url-host"),
    ("https://example.com/a b.bfb", "url-charset"),
    ("example.com/a.bfb", "url-scheme"),
    ("http://[::1/a", "url"),
])
def test_bad_urls_name_the_rule(value: str, rule: str) -> None:
    assert _rules(v.check_url("bfb_url", value)) == {rule}


def test_good_url_is_accepted() -> None:
    assert v.check_url("bfb_url", "http://10.0.0.1:8080/bf.bfb") == []


@pytest.mark.parametrize(("value", "rule"), [
    ("", "required"), ("MT 123", "serial-charset"), ("-MT1", "serial-charset"),
    ("M" * 65, "max-length"),
])
def test_bad_serial_numbers_name_the_rule(value: str, rule: str) -> None:
    assert _rules(v.check_serial_number("serial_number", value)) == {rule}


def test_label_rules() -> None:
    assert v.check_labels("labels", {"example.com/rack": "r1", "zone": ""}) == []
    assert _rules(v.check_labels("labels", {"bad key": "x"})) == {"label-key"}
    assert _rules(v.check_labels("labels", {"k": "bad value"})) == {"label-value"}
    assert v.check_labels("labels", {"k": "x" * 64})[0].field == "labels[k]"


def test_raise_if_any_lists_every_problem() -> None:
    problems = v.check_node_name("a", "A") + v.check_ip("b", "x")
    with pytest.raises(ValidationError) as caught:
        v.raise_if_any(problems)
    assert caught.value.fields == ["a", "b"]
    assert "a:" in str(caught.value) and "b:" in str(caught.value)


@given(st.text(max_size=80))
def test_fuzzed_node_names_are_accepted_exactly_when_valid(text: str) -> None:
    valid = names.is_dns1123_label(text, max_len=names.DPU_NODE_NAME_MAX)
    assert (v.check_node_name("name", text) == []) == valid


@given(st.text(max_size=60))
def test_fuzzed_ip_check_agrees_with_ipaddress(text: str) -> None:
    try:
        parsed = ipaddress.ip_address(text)
        ok = not (isinstance(parsed, ipaddress.IPv6Address) and parsed.scope_id)
    except ValueError:
        ok = False
    assert (v.check_ip("ip", text) == []) == ok


@given(st.ip_addresses())
def test_fuzzed_ip_addresses_are_accepted(address: ipaddress.IPv4Address) -> None:
    assert v.check_ip("ip", str(address)) == []


@given(st.text(max_size=100))
def test_fuzzed_urls_never_crash_and_accepted_ones_have_a_host(text: str) -> None:
    problems = v.check_url("url", text)
    assert all(p.field == "url" for p in problems)
    if not problems:
        assert text.startswith(("http://", "https://"))


@given(st.text(max_size=70))
def test_fuzzed_serials_accepted_ones_are_label_safe(text: str) -> None:
    assume(text.strip() == text)
    if v.check_serial_number("serial", text) == []:
        assert 0 < len(text) <= v.SERIAL_MAX
        assert all(c.isascii() and (c.isalnum() or c in "._/-") for c in text)


@given(st.dictionaries(st.text(max_size=70), st.text(max_size=70), max_size=4))
def test_fuzzed_labels_report_each_bad_key_by_field(labels: dict[str, str]) -> None:
    for problem in v.check_labels("labels", labels):
        assert problem.field.startswith("labels[")
        assert problem.rule in {"label-key", "label-value"}
