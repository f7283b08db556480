"""RedfishClient against sushy-tools' emulator: a real Redfish server on loopback."""

from __future__ import annotations

import base64
import logging
import socket

import pytest

from carbide_dpf.errors import DpfError, FlowTimeoutError
from carbide_dpf.kube.ratelimit import ExponentialBackoff
from carbide_dpf.redfish import (
    PowerState,
    RedfishAuthError,
    RedfishClient,
    RedfishError,
    RedfishNotFoundError,
    RedfishServerError,
    RedfishTimeoutError,
    RedfishTLSError,
    RedfishUnavailableError,
    RedfishUnsupportedError,
)
from carbide_dpf.sandbox.bmc import BmcEmulator

# The emulator's fake systems apply a reset 1 to 11 seconds after it is posted.
POWER_TIMEOUT = 30.0
POLL = 0.2


async def test_power_state_is_read_from_the_first_system(shared_bmc: BmcEmulator) -> None:
    async with shared_bmc.client() as client:
        assert await client.power_state() == PowerState.ON
        assert await client.system_path() == f"/redfish/v1/Systems/{shared_bmc.system_ids[0]}"


async def test_allowed_reset_types_come_from_the_system_resource(
    shared_bmc: BmcEmulator,
) -> None:
    async with shared_bmc.client() as client:
        allowed = await client.allowed_reset_types()

    assert allowed is not None
    assert "ForceRestart" in allowed
    assert "PowerCycle" not in allowed  # sushy-tools' fake driver cannot do it


async def test_power_cycle_restarts_the_host_and_waits_until_it_is_on(bmc: BmcEmulator) -> None:
    host = bmc.system_ids[0]
    async with bmc.client() as client:
        result = await client.power_cycle_host(timeout=POWER_TIMEOUT, poll_interval=POLL)

    assert result.reset_types == ("ForceRestart",)
    assert result.power_state == PowerState.ON
    assert [(r.system_id, r.reset_type) for r in bmc.reset_history()] == [(host, "ForceRestart")]
    assert bmc.power_state(host) == PowerState.ON


async def test_power_cycle_without_waiting_returns_while_the_host_is_off(
    bmc: BmcEmulator,
) -> None:
    async with bmc.client() as client:
        result = await client.power_cycle_host(wait=False)
        assert result.power_state == PowerState.OFF

        # The emulator powers the host on again by itself after its reset delay.
        state = await client.wait_power_state("On", timeout=POWER_TIMEOUT, poll_interval=POLL)
    assert state == PowerState.ON


async def test_a_host_found_off_is_powered_on() -> None:
    with BmcEmulator(power_state="Off") as bmc:
        async with bmc.client() as client:
            result = await client.power_cycle_host(timeout=POWER_TIMEOUT, poll_interval=POLL)

        assert result.reset_types == ("On",)
        assert [r.reset_type for r in bmc.reset_history()] == ["On"]
        assert bmc.power_state() == PowerState.ON


async def test_system_id_selects_which_host_is_reset(bmc: BmcEmulator) -> None:
    second = bmc.system_ids[1]
    async with bmc.client(system_id=second) as client:
        await client.power_cycle_host(wait=False)

    assert [r.system_id for r in bmc.reset_history()] == [second]


async def test_a_reset_type_the_bmc_does_not_allow_is_refused_before_posting(
    bmc: BmcEmulator,
) -> None:
    async with bmc.client() as client:
        with pytest.raises(RedfishUnsupportedError, match="ForceRestart") as caught:
            await client.reset("PowerCycle")

    assert "PowerCycle" in str(caught.value)
    assert bmc.reset_history() == []


async def test_waiting_for_a_state_that_never_comes_times_out(shared_bmc: BmcEmulator) -> None:
    async with shared_bmc.client() as client:
        with pytest.raises(RedfishTimeoutError, match="Paused") as caught:
            await client.wait_power_state("Paused", timeout=0.3, poll_interval=0.1)

    assert isinstance(caught.value, FlowTimeoutError)


async def test_wrong_password_is_a_typed_auth_error_without_the_password(
    shared_bmc: BmcEmulator,
) -> None:
    wrong = "not-the-password-7f3a9c"
    client = RedfishClient(shared_bmc.url, username=shared_bmc.username, password=wrong)
    async with client:
        with pytest.raises(RedfishAuthError) as caught:
            await client.power_state()

    error = caught.value
    assert isinstance(error, DpfError)
    assert error.status == 401
    assert "check the username and password" in str(error)
    for text in (str(error), repr(error), str(client), repr(client)):
        assert wrong not in text


async def test_unknown_system_id_is_a_typed_not_found_error_listing_the_real_ones(
    shared_bmc: BmcEmulator,
) -> None:
    async with shared_bmc.client(system_id="no-such-host") as client:
        with pytest.raises(RedfishNotFoundError) as caught:
            await client.power_state()

    message = str(caught.value)
    assert "no-such-host" in message
    assert shared_bmc.system_ids[0] in message and shared_bmc.system_ids[1] in message


async def test_server_errors_are_retried_until_the_bmc_recovers(
    shared_bmc: BmcEmulator, fast_backoff: ExponentialBackoff
) -> None:
    async with shared_bmc.client(backoff=fast_backoff, max_retries=2) as client:
        await client.system_path()
        with shared_bmc.server_errors(), pytest.raises(RedfishServerError) as caught:
            await client.power_state()
        assert caught.value.status == 500
        assert shared_bmc.log_tail(200).count('" 500 -') >= 3  # the first try and 2 retries

        assert await client.power_state() == PowerState.ON


async def test_a_reset_that_got_a_500_is_not_posted_again(
    bmc: BmcEmulator, fast_backoff: ExponentialBackoff
) -> None:
    async with bmc.client(backoff=fast_backoff, max_retries=3) as client:
        await client.allowed_reset_types()  # reads the reset target before the fault
        with bmc.server_errors(), pytest.raises(RedfishServerError) as caught:
            await client.reset("ForceRestart")

    posts = [line for line in bmc.log_tail(200).splitlines() if "POST" in line]
    assert len(posts) == 1, posts
    assert '" 500 -' in posts[0]
    assert caught.value.status == 500


async def test_a_closed_port_is_unavailable_after_bounded_retries(
    fast_backoff: ExponentialBackoff,
) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens once the socket is closed

    client = RedfishClient(
        f"http://127.0.0.1:{port}",
        username="u",
        password="p",
        max_retries=2,
        backoff=fast_backoff,
    )
    async with client:
        with pytest.raises(RedfishUnavailableError, match="after 3 attempt") as caught:
            await client.power_state()
    assert not isinstance(caught.value, RedfishTLSError)


async def test_tls_is_verified_by_default_and_an_untrusted_bmc_is_refused() -> None:
    with BmcEmulator(tls=True) as bmc:
        async with bmc.client(verify=True) as client:
            with pytest.raises(RedfishTLSError, match="verify=False"):
                await client.power_state()

        async with bmc.client() as trusting_its_ca:
            assert await trusting_its_ca.power_state() == PowerState.ON

        async with bmc.client(verify=False) as lab:
            assert await lab.power_state() == PowerState.ON


async def test_the_password_is_never_logged_nor_shown(
    bmc: BmcEmulator, caplog: pytest.LogCaptureFixture, fast_backoff: ExponentialBackoff
) -> None:
    caplog.set_level(logging.DEBUG)
    secrets = {
        bmc.password,
        base64.b64encode(f"{bmc.username}:{bmc.password}".encode()).decode(),
    }
    shown: list[str] = []

    async with bmc.client(backoff=fast_backoff, max_retries=1) as client:
        shown += [repr(client), str(client)]
        await client.power_cycle_host(wait=False)
        for failing in (bmc.server_errors(),):
            with failing, pytest.raises(RedfishError) as caught:
                await client.power_state()
            shown += [repr(caught.value), str(caught.value)]
    async with bmc.client(system_id="missing") as client:
        with pytest.raises(RedfishNotFoundError) as not_found:
            await client.power_state()
        shown += [repr(not_found.value), str(not_found.value), repr(client)]

    assert any(r.name.startswith("carbide_dpf.redfish") for r in caplog.records)
    assert any(r.levelno == logging.DEBUG for r in caplog.records)
    logged = [record.getMessage() for record in caplog.records] + [caplog.text]
    for secret in secrets:
        for text in shown + logged:
            assert secret not in text
