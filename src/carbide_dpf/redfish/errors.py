"""Errors of the Redfish layer, sorted by what the caller should do next.

```
DpfError                               (carbide_dpf.errors)
 └── RedfishError                      anything from a BMC's Redfish service
      ├── RedfishConfigError           the client was given an unusable URL or option
      ├── RedfishAuthError             401/403: fix the BMC username/password or its role
      ├── RedfishNotFoundError         404 or no such system: fix the system id or the URL
      ├── RedfishUnsupportedError      the BMC offers no reset type we can use
      ├── RedfishRequestError          another 4xx: the BMC refused the request as sent
      ├── RedfishServerError           5xx after the retries: the BMC is unwell, try later
      ├── RedfishUnavailableError      no answer (connection refused, timeout) after retries
      │    └── RedfishTLSError         the BMC's certificate was not trusted
      └── RedfishTimeoutError          the host did not reach the awaited power state in time
                                       (also a carbide_dpf.errors.FlowTimeoutError)
```

No message, ``str()`` or ``repr()`` ever holds the BMC password or a session token: the
client redacts both from any text a BMC sends back before it becomes part of an error.
"""

from __future__ import annotations

from carbide_dpf.errors import DpfError, FlowTimeoutError

__all__ = [
    "RedfishAuthError",
    "RedfishConfigError",
    "RedfishError",
    "RedfishNotFoundError",
    "RedfishRequestError",
    "RedfishServerError",
    "RedfishTLSError",
    "RedfishTimeoutError",
    "RedfishUnavailableError",
    "RedfishUnsupportedError",
]


class RedfishError(DpfError):
    """A Redfish request or operation failed.

    ``bmc`` is the BMC's base URL (never with credentials), ``status`` the HTTP status when
    the BMC answered, ``path`` the request path when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        bmc: str | None = None,
        status: int | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.bmc = bmc
        self.status = status
        self.path = path

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, bmc={self.bmc!r}, "
            f"status={self.status!r}, path={self.path!r})"
        )


class RedfishConfigError(RedfishError):
    """The client cannot be built as asked; the message names the argument to fix."""


class RedfishAuthError(RedfishError):
    """The BMC refused the credentials (401) or the account's rights (403)."""


class RedfishNotFoundError(RedfishError):
    """The BMC has no such resource: usually a wrong system id or base URL."""


class RedfishUnsupportedError(RedfishError):
    """The BMC does not offer what the operation needs (for example a usable reset type)."""


class RedfishRequestError(RedfishError):
    """The BMC rejected the request with a 4xx status other than 401, 403 and 404."""


class RedfishServerError(RedfishError):
    """The BMC kept answering 5xx until the retries ran out."""


class RedfishUnavailableError(RedfishError):
    """The BMC could not be reached (connection refused, reset or timed out) after retries."""


class RedfishTLSError(RedfishUnavailableError):
    """The TLS handshake failed, most often because the BMC's certificate is not trusted."""


class RedfishTimeoutError(RedfishError, FlowTimeoutError):
    """The host did not reach the awaited power state in time; the BMC was left as it was."""
