"""HTTP plumbing of the Redfish client: secrets, URLs, TLS, retry rules, error bodies.

Private to `carbide_dpf.redfish`; `client.py` holds the Redfish logic on top of it.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any
from urllib.parse import urlsplit

import httpx

from carbide_dpf.redfish.errors import RedfishConfigError, RedfishRequestError

DETAIL_LIMIT = 300  # characters of a BMC's error text kept in a message
REDACTED = "***"


class Secret:
    """A string that never shows itself in repr(), str() or a traceback's locals."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that sends it."""
        return self._value

    def __repr__(self) -> str:
        return repr(REDACTED)

    __str__ = __repr__


class SessionTokenFilter(logging.Filter):
    """Hides ``X-Auth-Token`` values in httpcore's DEBUG trace of response headers."""

    def __init__(self) -> None:
        super().__init__("carbide-dpf-redfish")
        self.tokens: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.tokens:
            return True
        message = record.getMessage()
        if any(token in message for token in self.tokens):
            for token in self.tokens:
                message = message.replace(token, REDACTED)
            record.msg, record.args = message, ()
        return True


TOKEN_FILTER = SessionTokenFilter()
TRACE_LOGGERS = ("httpcore.http11", "httpcore.http2")


def normalize_base_url(base_url: str) -> str:
    """Return ``scheme://host[:port]``; refuse other schemes and URLs with credentials."""
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RedfishConfigError(
            "base_url must look like https://<bmc-address>[:port], got a URL with scheme "
            f"{parts.scheme!r}"
        )
    if parts.username is not None or parts.password is not None:
        # The URL would carry the password into logs and errors: refuse it, show no part.
        raise RedfishConfigError(
            "base_url must not contain credentials; pass username= and password= instead"
        )
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


def ssl_verify(verify: bool | str | ssl.SSLContext) -> bool | ssl.SSLContext:
    """httpx 0.28 deprecates a CA bundle path for ``verify``: build the context here."""
    if not isinstance(verify, str):
        return verify
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as error:
        raise RedfishConfigError(
            f"cannot load the CA bundle {verify!r} given as verify ({error}); give a PEM file"
        ) from error


def describe_verify(verify: bool | str | ssl.SSLContext) -> str:
    """How the TLS verification setting is shown in repr()."""
    if isinstance(verify, ssl.SSLContext):
        return "'<ssl context>'"
    return repr(verify)


def json_object(response: httpx.Response, bmc: str, path: str) -> dict[str, Any]:
    """The response body as a JSON object, or a `RedfishRequestError` saying it is not one."""
    try:
        body = response.json()
    except ValueError as error:
        raise RedfishRequestError(
            f"the BMC sent a body that is not JSON for {path}; check that the base URL is "
            "the BMC's Redfish service",
            bmc=bmc,
            status=response.status_code,
            path=path,
        ) from error
    if not isinstance(body, dict):
        raise RedfishRequestError(
            f"the BMC sent a JSON {type(body).__name__} for {path} where an object belongs",
            bmc=bmc,
            status=response.status_code,
            path=path,
        )
    return body


def error_detail(response: httpx.Response) -> str:
    """The BMC's own explanation: the Redfish error's messages, else the start of the body."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:DETAIL_LIMIT].strip() or response.reason_phrase
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return str(body)[:DETAIL_LIMIT]

    messages = [str(error.get("message", ""))]
    for info in error.get("@Message.ExtendedInfo", []) or []:
        if isinstance(info, dict) and info.get("Message"):
            messages.append(str(info["Message"]))
    return "; ".join(m for m in messages if m)[:DETAIL_LIMIT] or response.reason_phrase


def may_retry_status(status: int, idempotent: bool) -> bool:
    """Whether an answer with ``status`` may be retried."""
    if idempotent:
        return status == 429 or status in (500, 502, 503, 504)
    # 429 and 503 mean the BMC did not take the request on: safe to send it again.
    return status in (429, 503)


def may_retry_error(error: httpx.TransportError, idempotent: bool) -> bool:
    """Whether a request that failed with ``error`` (no answer) may be sent again."""
    if is_tls_failure(error):
        return False
    if idempotent:
        return True
    # Only a failed connect proves the request never reached the BMC.
    return isinstance(error, httpx.ConnectError | httpx.ConnectTimeout)


def is_tls_failure(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) is a TLS handshake or verification failure."""
    seen: BaseException | None = error
    for _ in range(8):
        if seen is None:
            return False
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "CERTIFICATE_VERIFY_FAILED" in str(error) or "SSL" in str(error)
