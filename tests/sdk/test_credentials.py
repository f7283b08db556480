"""The BMC password wrapper never shows its value."""

from __future__ import annotations

import base64
import logging
import pickle

import pytest

from carbide_dpf.sdk.credentials import SecretStr, as_secret, bmc_secret

PASSWORD = "hunter2-Very-Secret"


def test_str_repr_and_format_are_masked() -> None:
    secret = SecretStr(PASSWORD)
    for shown in (str(secret), repr(secret), f"{secret}", f"{secret!r}", f"{secret:>40}"):
        assert PASSWORD not in shown
        assert "***" in shown


def test_logging_a_secret_shows_the_mask(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("t").debug("password=%s %r", SecretStr(PASSWORD), SecretStr(PASSWORD))
    assert PASSWORD not in caplog.text


def test_reveal_returns_the_value_and_wrapping_twice_keeps_it() -> None:
    assert SecretStr(SecretStr(PASSWORD)).reveal() == PASSWORD  # type: ignore[arg-type]
    assert as_secret(PASSWORD) == SecretStr(PASSWORD)
    assert SecretStr("a") != SecretStr("b")


def test_a_secret_cannot_be_pickled() -> None:
    with pytest.raises(TypeError):
        pickle.dumps(SecretStr(PASSWORD))


def test_bmc_secret_holds_the_password_under_key_password() -> None:
    secret = bmc_secret("ns", SecretStr(PASSWORD))
    assert secret["metadata"] == {"name": "bmc-shared-password", "namespace": "ns"}
    assert base64.b64decode(secret["data"]["password"]).decode() == PASSWORD
