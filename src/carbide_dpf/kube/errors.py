"""Errors of the Kubernetes layer, translated in one place from the API server's answers.

```
KubeError                    anything from the Kubernetes layer
 ├── ApiError                the API server answered with a failure Status
 │    ├── BadRequestError    400: the request itself is malformed
 │    ├── UnauthorizedError  401: the credentials were refused; renew them
 │    ├── ForbiddenError     403: RBAC denies it; grant the verb (see deploy/rbac)
 │    ├── NotFoundError      404: the object (or the CRD) does not exist
 │    ├── AlreadyExistsError 409 AlreadyExists: create of an existing object
 │    ├── ConflictError      409: a resourceVersion or uid precondition failed; re-read, retry
 │    ├── GoneError          410: the resourceVersion is too old; relist
 │    ├── InvalidError       422: the object breaks the schema; see .causes
 │    └── ServerError        5xx or 429 after the retries ran out
 └── UnavailableError        the API server could not be reached
```
Response bodies are truncated before they go into a message, so a Secret's data echoed back
by a server never lands in a log.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carbide_dpf.errors import DpfError

__all__ = [
    "AlreadyExistsError",
    "ApiError",
    "BadRequestError",
    "ConflictError",
    "FieldCause",
    "ForbiddenError",
    "GoneError",
    "InvalidError",
    "KubeError",
    "NotFoundError",
    "ServerError",
    "UnauthorizedError",
    "UnavailableError",
    "error_from_status",
]

_MESSAGE_LIMIT = 600


class KubeError(DpfError):
    """Anything that went wrong between carbide-dpf and the Kubernetes API server."""


class UnavailableError(KubeError):
    """The API server could not be reached (connection, TLS or timeout)."""


@dataclass(frozen=True, slots=True)
class FieldCause:
    """One field the API server rejected, from `status.details.causes`."""

    field: str
    reason: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class ApiError(KubeError):
    """The API server answered a request with a failure Status."""

    hint = "see the API server's message"

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        kind: str = "",
        name: str = "",
        namespace: str = "",
    ) -> None:
        self.status = status
        self.reason = reason
        self.message = _truncate(message)
        self.kind = kind
        self.name = name
        self.namespace = namespace
        super().__init__(self._describe())

    def _describe(self) -> str:
        target = self.kind or "object"
        if self.name:
            target = f"{target} {self.namespace + '/' if self.namespace else ''}{self.name}"
        return f"{target}: {self.message} (HTTP {self.status} {self.reason}); {self.hint}"


class BadRequestError(ApiError):
    """400: the request is malformed."""

    hint = "the request is malformed; this is likely a bug in the caller"


class UnauthorizedError(ApiError):
    """401: the API server does not accept the credentials."""

    hint = "check or renew the credentials in the kubeconfig"


class ForbiddenError(ApiError):
    """403: the identity is not allowed to do this."""

    hint = "grant this verb on this resource to the identity (see deploy/rbac.yaml)"


class NotFoundError(ApiError):
    """404: the object, its namespace or its CRD does not exist."""

    hint = "check the name and namespace, and that the DPF CRDs are installed"


class AlreadyExistsError(ApiError):
    """409 AlreadyExists: the object already exists."""

    hint = "the object exists already; read it or apply instead of create"


class ConflictError(ApiError):
    """409: the object changed since it was read (resourceVersion or uid precondition)."""

    hint = "the object changed meanwhile; read it again and retry"


class GoneError(ApiError):
    """410: the requested resourceVersion is no longer available."""

    hint = "the resourceVersion was compacted away; list again"


class InvalidError(ApiError):
    """422: the object does not pass the schema or a validation rule."""

    hint = "fix the fields listed"

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        *,
        causes: list[FieldCause] | None = None,
        kind: str = "",
        name: str = "",
        namespace: str = "",
    ) -> None:
        self.causes = list(causes or [])
        super().__init__(status, reason, message, kind=kind, name=name, namespace=namespace)

    @property
    def fields(self) -> list[str]:
        """The rejected field paths, as the API server names them."""
        return [cause.field for cause in self.causes]


class ServerError(ApiError):
    """5xx, or 429 after the retries ran out."""

    hint = "the API server is failing or overloaded; retry later"


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    410: GoneError,
    422: InvalidError,
}


def error_from_status(
    http_status: int,
    body: Any,
    *,
    kind: str = "",
    name: str = "",
    namespace: str = "",
) -> ApiError:
    """Build the typed error for a failed response from its HTTP status and Status body."""
    status_body = body if isinstance(body, dict) else {}
    code = int(status_body.get("code") or http_status)
    reason = str(status_body.get("reason") or "")
    message = str(status_body.get("message") or (body if isinstance(body, str) else ""))
    details = status_body.get("details") or {}
    name = name or str(details.get("name") or "")
    kind = kind or str(details.get("kind") or "")

    if code == 409 and reason == "AlreadyExists":
        return AlreadyExistsError(code, reason, message, kind=kind, name=name,
                                  namespace=namespace)
    if code == 422:
        causes = [
            FieldCause(str(c.get("field", "")), str(c.get("reason", "")),
                       str(c.get("message", "")))
            for c in details.get("causes") or []
        ]
        return InvalidError(code, reason, message, causes=causes, kind=kind, name=name,
                            namespace=namespace)
    error_class = _BY_STATUS.get(code, ServerError if code >= 429 else ApiError)
    return error_class(code, reason, message, kind=kind, name=name, namespace=namespace)


def _truncate(text: str) -> str:
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "...(truncated)"
