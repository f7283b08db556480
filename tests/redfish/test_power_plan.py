"""The choice of reset types, and client construction checks: pure logic, no BMC needed."""

from __future__ import annotations

import pytest

from carbide_dpf.errors import DpfError
from carbide_dpf.redfish import (
    RedfishClient,
    RedfishConfigError,
    RedfishUnsupportedError,
    ResetType,
    plan_power_cycle,
)

SUSHY_ALLOWED = ["On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart", "Nmi"]


def test_power_cycle_is_preferred_when_allowed() -> None:
    plans = plan_power_cycle(["ForceRestart", "PowerCycle", "On", "ForceOff"], "On")
    assert plans[0] == (ResetType.POWER_CYCLE,)


def test_force_restart_is_used_when_power_cycle_is_not_allowed() -> None:
    assert plan_power_cycle(SUSHY_ALLOWED, "On")[0] == (ResetType.FORCE_RESTART,)


def test_force_off_then_on_is_the_last_resort() -> None:
    assert plan_power_cycle(["On", "ForceOff"], "On") == [(ResetType.FORCE_OFF, ResetType.ON)]


def test_a_host_that_is_off_is_powered_on() -> None:
    assert plan_power_cycle(SUSHY_ALLOWED, "Off") == [(ResetType.ON,)]


def test_unknown_allowed_types_try_every_plan_in_order() -> None:
    plans = plan_power_cycle(None, "On")
    assert plans == [
        (ResetType.POWER_CYCLE,),
        (ResetType.FORCE_RESTART,),
        (ResetType.FORCE_OFF, ResetType.ON),
    ]


def test_no_usable_reset_type_is_a_typed_error_that_says_what_to_do() -> None:
    with pytest.raises(RedfishUnsupportedError, match="by hand") as caught:
        plan_power_cycle(["Nmi", "GracefulShutdown"], "On")
    assert isinstance(caught.value, DpfError)


@pytest.mark.parametrize("url", ["ftp://bmc.example", "bmc.example", "https://"])
def test_base_url_must_be_http_or_https(url: str) -> None:
    with pytest.raises(RedfishConfigError, match="base_url"):
        RedfishClient(url, username="root", password="pw")


def test_credentials_in_the_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(RedfishConfigError) as caught:
        RedfishClient("https://root:s3cr3t-in-url@bmc.example", username="root", password="x")
    assert "s3cr3t-in-url" not in str(caught.value)
    assert "s3cr3t-in-url" not in repr(caught.value)


def test_base_url_is_normalised_to_scheme_host_port() -> None:
    client = RedfishClient("https://BMC.example:8443/redfish/v1/", username="u", password="p")
    assert client.base_url == "https://bmc.example:8443"
