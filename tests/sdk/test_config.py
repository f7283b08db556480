"""SdkConfig checks itself when it is made."""

from __future__ import annotations

import pytest

from carbide_dpf.errors import ValidationError
from carbide_dpf.sdk import SdkConfig, defaults


def test_defaults_are_valid_and_use_the_operator_namespace() -> None:
    config = SdkConfig()
    assert config.namespace == "dpf-operator-system"
    assert config.managed_selector == "carbide.nvidia.com/dpf-managed=true"
    assert config.dpu_selector == config.managed_selector


def test_bad_settings_are_listed_together() -> None:
    with pytest.raises(ValidationError) as caught:
        SdkConfig(namespace="Bad_NS", managed_label_key="no spaces allowed", poll_interval=0)
    assert set(caught.value.fields) == {
        "config.namespace", "config.managed_label_key", "config.poll_interval"}


def test_dpu_set_name_must_fit_a_label() -> None:
    with pytest.raises(ValidationError) as caught:
        SdkConfig(deployment_name="d" * 50, dpu_set_suffix="s" * 20)
    assert "config.dpu_set_suffix" in caught.value.fields


def test_flavor_spec_follows_dpu_mode_unless_given() -> None:
    assert SdkConfig(dpu_mode="dpu").resolved_flavor_spec()["dpuMode"] == "dpu"
    assert SdkConfig(flavor_spec={"dpuMode": "nic"}).resolved_flavor_spec() == {"dpuMode": "nic"}
    assert defaults.default_flavor_spec()["dpuMode"] == "zero-trust"


def test_default_flavor_fits_the_dpuflavor_schema() -> None:
    from carbide_dpf.sdk.validation import check_flavor_spec

    assert check_flavor_spec("flavor", defaults.default_flavor_spec()) == []
