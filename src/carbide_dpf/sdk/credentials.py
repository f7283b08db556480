"""The BMC password: a wrapper that keeps it out of reprs, logs and error messages, and the
`bmc-shared-password` Secret the operator reads it from."""

from __future__ import annotations

import base64
import hmac
from typing import Any

__all__ = ["BMC_SECRET_KEY", "BMC_SECRET_NAME", "SecretStr", "bmc_secret"]

BMC_SECRET_NAME = "bmc-shared-password"
BMC_SECRET_KEY = "password"
_MASK = "**********"


class SecretStr:
    """A string that never shows itself: `str()`, `repr()` and f-strings give a mask.

    Call `reveal()` at the one place the value is needed (building the Secret).
    """

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if isinstance(value, SecretStr):
            value = value.reveal()
        self._value = value

    def reveal(self) -> str:
        """Return the secret value. Never log or print the result."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __str__(self) -> str:
        return _MASK

    def __repr__(self) -> str:
        return f"SecretStr('{_MASK}')"

    def __format__(self, spec: str) -> str:
        return _MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretStr):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((SecretStr, self._value))

    def __reduce__(self) -> Any:
        # Pickling would write the value out in clear; a secret should be re-read instead.
        raise TypeError("SecretStr cannot be pickled")


def as_secret(value: str | SecretStr) -> SecretStr:
    """Wrap `value` unless it is already a `SecretStr`."""
    return value if isinstance(value, SecretStr) else SecretStr(value)


def bmc_secret(namespace: str, password: SecretStr) -> dict[str, Any]:
    """Build the `bmc-shared-password` Secret (key `password`) for server-side apply."""
    encoded = base64.b64encode(password.reveal().encode()).decode()
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": BMC_SECRET_NAME, "namespace": namespace},
        "type": "Opaque",
        "data": {BMC_SECRET_KEY: encoded},
    }
