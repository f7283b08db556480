"""Derived names: stable, valid, and distinct where they must be."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from carbide_dpf.sdk import names


def test_bfb_name_is_stable_for_the_same_url() -> None:
    url = "https://example.com/images/bf-bundle-2.9.1-40_24.11_ubuntu-22.04_prod.bfb"
    assert names.bfb_name_for_url(url) == names.bfb_name_for_url(url)


def test_bfb_name_keeps_the_file_stem_and_adds_a_hash() -> None:
    name = names.bfb_name_for_url("https://example.com/x/BF-Bundle_2.9.bfb")
    assert name.startswith("bf-bundle-2-9-")
    assert len(name.rsplit("-", 1)[1]) == 10


def test_bfb_names_differ_for_urls_with_the_same_file_name() -> None:
    first = names.bfb_name_for_url("https://a.example.com/bf.bfb")
    second = names.bfb_name_for_url("https://b.example.com/bf.bfb")
    assert first != second


def test_bfb_name_of_a_url_without_a_file_falls_back_to_bfb() -> None:
    assert names.bfb_name_for_url("https://example.com/").startswith("bfb-")


@given(st.text(min_size=1, max_size=400))
def test_bfb_name_is_always_a_dns_label(path: str) -> None:
    name = names.bfb_name_for_url(f"https://example.com/{path}")
    assert names.is_dns1123_label(name)


@given(st.text(min_size=1, max_size=200))
def test_node_name_for_host_is_a_valid_node_name(host_id: str) -> None:
    name = names.node_name_for_host(host_id)
    assert names.is_dns1123_label(name, max_len=names.DPU_NODE_NAME_MAX)
    assert name == names.node_name_for_host(host_id)


def test_node_name_for_a_valid_host_id_is_the_id() -> None:
    assert names.node_name_for_host("host-42") == "host-42"


def test_node_names_differ_for_ids_that_sanitise_alike() -> None:
    assert names.node_name_for_host("Host.42") != names.node_name_for_host("host_42")


def test_flavor_name_changes_with_the_spec_and_not_with_key_order() -> None:
    first = names.flavor_name_for_spec("bf3", {"a": 1, "b": [1, 2]})
    assert first == names.flavor_name_for_spec("bf3", {"b": [1, 2], "a": 1})
    assert first != names.flavor_name_for_spec("bf3", {"a": 2, "b": [1, 2]})
    assert first.startswith("bf3-")


def test_dpu_and_hold_names_follow_the_operator() -> None:
    assert names.dpu_name("node1", "dev1") == "node1-dev1"
    assert names.hold_name("node1") == "node1-hold"


def test_dns_label_and_subdomain_rules() -> None:
    assert names.is_dns1123_label("a-b0")
    assert not names.is_dns1123_label("-a")
    assert not names.is_dns1123_label("A")
    assert not names.is_dns1123_label("a" * 64)
    assert names.is_dns1123_subdomain("carbide.nvidia.com")
    assert not names.is_dns1123_subdomain("carbide..com")
