"""`RedfishClient`: power-cycle a host through its BMC's Redfish service.

The provisioning flow uses it once per external reboot (DPF-OPERATOR.md, "External reboot"):
`power_cycle_host()` resets the host's ComputerSystem and waits until it is powered on again,
after which the caller clears the DPUNode annotation.

How the client picks what to do, and why:

- The system is the first member of the Systems collection unless a system id is given:
  single-host BMCs (the common case) expose exactly one.
- The reset target and the allowed ``ResetType`` values are read from the system resource
  (inline ``ResetType@Redfish.AllowableValues``, else the action's ``@Redfish.ActionInfo``),
  never assumed: vendors differ. ``PowerCycle`` is preferred because it removes power like a
  person would; ``ForceRestart`` is next; ``ForceOff`` then ``On`` is the last resort. A host
  found powered off is simply powered ``On``. When the BMC does not say what it allows, the
  same order is tried and a rejected type (400/405/501) moves on to the next.
- Retries: GETs are retried on 429/5xx and on any connection failure. A reset POST is retried
  only when it certainly was not carried out (429, 503, or no connection at all), because
  resetting a host twice can interrupt the boot that the first reset started.
- Authentication: ``auth="auto"`` opens a Redfish session when the service root links a
  session collection and falls back to HTTP basic auth otherwise; ``"basic"`` and
  ``"session"`` force one. The password and the session token are never logged, never part of
  ``repr()``/``str()`` and are redacted from any BMC text copied into an error.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import ssl
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal
from urllib.parse import quote

import httpx

from carbide_dpf.kube.ratelimit import ExponentialBackoff
from carbide_dpf.redfish._http import (
    DETAIL_LIMIT,
    REDACTED,
    TOKEN_FILTER,
    TRACE_LOGGERS,
    Secret,
    describe_verify,
    error_detail,
    is_tls_failure,
    json_object,
    may_retry_error,
    may_retry_status,
    normalize_base_url,
    ssl_verify,
)
from carbide_dpf.redfish.errors import (
    RedfishAuthError,
    RedfishConfigError,
    RedfishError,
    RedfishNotFoundError,
    RedfishRequestError,
    RedfishServerError,
    RedfishTimeoutError,
    RedfishTLSError,
    RedfishUnavailableError,
    RedfishUnsupportedError,
)

__all__ = [
    "AuthMode",
    "PowerCycleResult",
    "PowerState",
    "RedfishClient",
    "ResetType",
    "plan_power_cycle",
]

log = logging.getLogger(__name__)

AuthMode = Literal["auto", "basic", "session"]

_SERVICE_ROOT = "/redfish/v1/"
_DEFAULT_SYSTEMS = "/redfish/v1/Systems"
_RESET_ACTION = "#ComputerSystem.Reset"


class PowerState(StrEnum):
    """The Redfish ``PowerState`` values (a BMC may still report others)."""

    ON = "On"
    OFF = "Off"
    POWERING_ON = "PoweringOn"
    POWERING_OFF = "PoweringOff"
    PAUSED = "Paused"


class ResetType(StrEnum):
    """The Redfish ``ResetType`` values this client may post."""

    ON = "On"
    FORCE_OFF = "ForceOff"
    FORCE_RESTART = "ForceRestart"
    POWER_CYCLE = "PowerCycle"
    GRACEFUL_RESTART = "GracefulRestart"
    GRACEFUL_SHUTDOWN = "GracefulShutdown"


# Each plan is the sequence of resets that power-cycles a running host, best first.
_CYCLE_PLANS: tuple[tuple[ResetType, ...], ...] = (
    (ResetType.POWER_CYCLE,),
    (ResetType.FORCE_RESTART,),
    (ResetType.FORCE_OFF, ResetType.ON),
)


def plan_power_cycle(
    allowed: Collection[str] | None, power_state: str
) -> list[tuple[ResetType, ...]]:
    """Return the reset sequences to try, best first, for a host in ``power_state``.

    ``allowed`` is the BMC's list of ``ResetType`` values, or None when it does not say; then
    every plan is returned and the caller moves on when the BMC rejects one. Raises
    `RedfishUnsupportedError` when the BMC allows none of them.
    """
    if power_state == PowerState.OFF:
        plans: list[tuple[ResetType, ...]] = [(ResetType.ON,)]
    else:
        plans = list(_CYCLE_PLANS)

    if allowed is None:
        return plans
    usable = [plan for plan in plans if all(step in allowed for step in plan)]
    if not usable:
        wanted = " or ".join("+".join(plan) for plan in plans)
        raise RedfishUnsupportedError(
            f"the BMC allows reset types {sorted(allowed)} but a power cycle of a host that "
            f"is {power_state} needs {wanted}; power-cycle the host by hand, then clear the "
            "reboot annotation"
        )
    return usable


@dataclass(frozen=True, slots=True)
class PowerCycleResult:
    """What `RedfishClient.power_cycle_host` did: the resets posted and the final state."""

    system: str
    reset_types: tuple[str, ...]
    power_state: str
    seconds: float


@dataclass(frozen=True, slots=True)
class _ResetAction:
    """Where to post resets and which types the BMC allows (None: it does not say)."""

    target: str
    allowed: tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class _Wait:
    """The bound on one power operation: a deadline shared by all its waits."""

    deadline: float
    timeout: float
    poll_interval: float

    @classmethod
    def starting_now(cls, timeout: float, poll_interval: float) -> _Wait:
        return cls(time.monotonic() + timeout, timeout, poll_interval)

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())


class RedfishClient:
    """An async client for one BMC's Redfish service; use as ``async with RedfishClient(...)``.

    ``verify`` is True (the system CA store), False (no verification: lab BMCs with
    self-signed certificates only), a CA bundle path or an `ssl.SSLContext`. ``system_id``
    picks a member of ``/redfish/v1/Systems``; by default the first one is used.
    ``transport`` and ``backoff`` are seams for tests and tuning.
    """

    def __init__(
        self,
        base_url: str,
        *,
        username: str,
        password: str,
        system_id: str | None = None,
        verify: bool | str | ssl.SSLContext = True,
        auth: AuthMode = "auto",
        timeout: float = 30.0,
        max_retries: int = 4,
        backoff: ExponentialBackoff | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Prepare the client; nothing is sent until the first call."""
        self._base = normalize_base_url(base_url)
        if auth not in ("auto", "basic", "session"):
            raise RedfishConfigError(f"auth must be auto, basic or session, got {auth!r}")
        if max_retries < 0:
            raise RedfishConfigError(f"max_retries must be 0 or more, got {max_retries}")

        self._username = username
        self._password = Secret(password)
        self._system_id = system_id
        self._verify = verify
        self._auth_mode: AuthMode = auth
        self._max_retries = max_retries
        self._backoff = backoff or ExponentialBackoff(base=0.5, cap=8.0)
        self._http = httpx.AsyncClient(
            base_url=self._base,
            verify=ssl_verify(verify),
            timeout=timeout,
            transport=transport,
            follow_redirects=True,
            headers={"Accept": "application/json", "OData-Version": "4.0"},
        )

        self._use_session: bool | None = None if auth == "auto" else auth == "session"
        self._token: Secret | None = None
        self._session_uri: str | None = None
        self._root: dict[str, Any] | None = None
        self._system_path: str | None = None
        self._action: _ResetAction | None = None
        self._login_lock = asyncio.Lock()

    def __repr__(self) -> str:
        return (
            f"RedfishClient(base_url={self._base!r}, username={self._username!r}, "
            f"system_id={self._system_id!r}, auth={self._auth_mode!r}, "
            f"verify={describe_verify(self._verify)})"
        )

    __str__ = __repr__

    @property
    def base_url(self) -> str:
        """The BMC's base URL, ``scheme://host[:port]``."""
        return self._base

    async def __aenter__(self) -> RedfishClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Log out of the Redfish session, if one was opened, and close the connections."""
        try:
            await self._logout()
        finally:
            await self._http.aclose()

    # -- the system ------------------------------------------------------------------------

    async def system_path(self) -> str:
        """Return the ComputerSystem's path (its ``@odata.id``), finding it on first use."""
        if self._system_path is None:
            self._system_path = await self._find_system()
        return self._system_path

    async def system(self) -> dict[str, Any]:
        """Fetch the ComputerSystem resource as the BMC sends it."""
        return await self._get(await self.system_path())

    async def power_state(self) -> str:
        """Return the system's ``PowerState`` (see `PowerState`; a BMC may report others)."""
        return _power_state_of(await self.system())

    async def allowed_reset_types(self) -> tuple[str, ...] | None:
        """Return the ``ResetType`` values the BMC allows, or None when it does not say."""
        return (await self._reset_action()).allowed

    async def reset(self, reset_type: str) -> None:
        """Post ``reset_type`` to the system's ``#ComputerSystem.Reset`` action target.

        Raises `RedfishUnsupportedError` when the BMC lists allowed types without this one.
        """
        action = await self._reset_action()
        allowed = action.allowed
        if allowed is not None and reset_type not in allowed:
            raise RedfishUnsupportedError(
                f"reset type {reset_type!r} is not allowed by the BMC (allowed: "
                f"{', '.join(allowed)}); pick one of those",
                bmc=self._base,
                path=self._system_path,
            )
        await self._post_reset(action, reset_type)

    async def wait_power_state(
        self,
        state: str,
        *,
        timeout: float = 300.0,  # noqa: ASYNC109 - seconds, bounding the polls
        poll_interval: float = 5.0,
    ) -> str:
        """Poll until the system reports ``state``; return it.

        Raises `RedfishTimeoutError` (a `FlowTimeoutError`) after ``timeout`` seconds.
        """
        return await self._wait_state(state, _Wait.starting_now(timeout, poll_interval))

    async def power_cycle_host(
        self,
        *,
        wait: bool = True,
        timeout: float = 600.0,  # noqa: ASYNC109 - seconds, bounding the whole cycle
        poll_interval: float = 5.0,
    ) -> PowerCycleResult:
        """Power-cycle the host, and with ``wait`` poll until it reports On again.

        See the module docstring for the order of reset types. ``timeout`` bounds the whole
        operation, including the wait for Off between ``ForceOff`` and ``On``.
        """
        started = time.monotonic()
        bound = _Wait.starting_now(timeout, poll_interval)
        system = await self.system()
        state = _power_state_of(system)
        action = await self._reset_action(system)
        plans = plan_power_cycle(action.allowed, state)
        log.info(
            "power cycling host bmc=%s system=%s power_state=%s plan=%s",
            self._base,
            self._system_path,
            state,
            "+".join(plans[0]),
        )

        posted = await self._run_plans(action, plans, bound)
        if wait:
            final = await self._wait_state(PowerState.ON, bound)
        else:
            final = await self.power_state()
        result = PowerCycleResult(
            self._system_path or "", posted, final, round(time.monotonic() - started, 3)
        )
        log.info(
            "host power cycled bmc=%s system=%s resets=%s power_state=%s seconds=%.1f",
            self._base,
            result.system,
            "+".join(result.reset_types),
            result.power_state,
            result.seconds,
        )
        return result

    # -- power cycle steps ---------------------------------------------------------------

    async def _run_plans(
        self,
        action: _ResetAction,
        plans: Sequence[tuple[ResetType, ...]],
        bound: _Wait,
    ) -> tuple[str, ...]:
        last_error: RedfishError | None = None
        for plan in plans:
            try:
                return await self._run_plan(action, plan, bound)
            except (RedfishUnsupportedError, RedfishRequestError) as error:
                # Only reached when the BMC did not list its allowed types: try the next.
                log.debug(
                    "reset rejected bmc=%s plan=%s status=%s", self._base, plan, error.status
                )
                last_error = error
        raise RedfishUnsupportedError(
            f"the BMC rejected every way to power-cycle the host (last: {last_error}); "
            "power-cycle it by hand, then clear the reboot annotation",
            bmc=self._base,
            path=self._system_path,
        ) from last_error

    async def _run_plan(
        self, action: _ResetAction, plan: tuple[ResetType, ...], bound: _Wait
    ) -> tuple[str, ...]:
        for index, step in enumerate(plan):
            if index > 0:
                # ForceOff then On: the BMC may ignore On while the host is still powered.
                await self._wait_state(PowerState.OFF, bound)
            await self._post_reset(action, step)
        return tuple(str(step) for step in plan)

    async def _wait_state(self, state: str, bound: _Wait) -> str:
        while True:
            current = await self.power_state()
            if current == state:
                return current
            if bound.remaining() <= 0:
                raise RedfishTimeoutError(
                    f"host did not reach power state {state} within {bound.timeout:.0f}s (last "
                    f"seen: {current}); check the host on the BMC console, then retry",
                    bmc=self._base,
                    path=self._system_path,
                )
            log.debug(
                "waiting for power state bmc=%s want=%s have=%s", self._base, state, current
            )
            await asyncio.sleep(min(bound.poll_interval, bound.remaining()))

    async def _post_reset(self, action: _ResetAction, reset_type: str) -> None:
        log.info(
            "resetting host bmc=%s system=%s reset_type=%s",
            self._base,
            self._system_path,
            reset_type,
        )
        body = {"ResetType": reset_type}
        await self._request("POST", action.target, json=body, idempotent=False)

    async def _reset_action(self, system: dict[str, Any] | None = None) -> _ResetAction:
        # The target and the allowed types are fixed by the BMC's firmware: read them once.
        if self._action is None:
            system = system if system is not None else await self.system()
            path = self._system_path or ""
            target = _reset_target(system, path)
            allowed = await self._allowed_reset_types(_reset_action_of(system, path))
            self._action = _ResetAction(target, allowed)
        return self._action

    async def _allowed_reset_types(self, action: dict[str, Any]) -> tuple[str, ...] | None:
        inline = action.get("ResetType@Redfish.AllowableValues")
        if isinstance(inline, list):
            return tuple(str(value) for value in inline)

        info_path = action.get("@Redfish.ActionInfo")
        if not isinstance(info_path, str):
            return None
        info = await self._get(info_path)
        for parameter in info.get("Parameters", []):
            if parameter.get("Name") == "ResetType":
                values = parameter.get("AllowableValues")
                if isinstance(values, list):
                    return tuple(str(value) for value in values)
        return None

    # -- finding the system --------------------------------------------------------------

    async def _find_system(self) -> str:
        collection_path = await self._systems_collection_path()
        if self._system_id is None:
            members = await self._member_paths(collection_path)
            if not members:
                raise RedfishNotFoundError(
                    f"the BMC lists no computer system at {collection_path}; check that the "
                    "base URL points at the host's BMC",
                    bmc=self._base,
                    path=collection_path,
                )
            return members[0]

        path = f"{collection_path.rstrip('/')}/{quote(self._system_id, safe='')}"
        try:
            await self._get(path)
        except RedfishNotFoundError as error:
            raise await self._system_not_found(collection_path, path) from error
        return path

    async def _system_not_found(self, collection_path: str, path: str) -> RedfishNotFoundError:
        members = await self._member_paths(collection_path)
        known = ", ".join(member.rstrip("/").rsplit("/", 1)[-1] for member in members)
        return RedfishNotFoundError(
            f"the BMC has no system {self._system_id!r} (it lists: {known or 'none'}); pass "
            "one of those as system_id, or none to use the first",
            bmc=self._base,
            status=404,
            path=path,
        )

    async def _systems_collection_path(self) -> str:
        root = await self._service_root()
        systems = root.get("Systems")
        if isinstance(systems, dict) and isinstance(systems.get("@odata.id"), str):
            return str(systems["@odata.id"])
        return _DEFAULT_SYSTEMS

    async def _member_paths(self, collection_path: str) -> list[str]:
        collection = await self._get(collection_path)
        members = collection.get("Members", [])
        return [str(m["@odata.id"]) for m in members if isinstance(m, dict) and "@odata.id" in m]

    async def _service_root(self) -> dict[str, Any]:
        if self._root is None:
            # The service root is readable without credentials (Redfish spec, DSP0266).
            response = await self._send_with_retries("GET", _SERVICE_ROOT, None, True, False)
            if response.status_code == 401:
                # Some BMCs protect the service root too: ask again with basic auth.
                response = await self._send_with_retries("GET", _SERVICE_ROOT, None, True, True)
            self._raise_for_status(response, "GET", _SERVICE_ROOT)
            self._root = json_object(response, self._base, _SERVICE_ROOT)
        return self._root

    # -- authentication ------------------------------------------------------------------

    async def _ensure_auth(self) -> None:
        if self._token is not None or self._use_session is False:
            return
        async with self._login_lock:
            if self._token is not None:
                return
            sessions = await self._sessions_path()
            if sessions is None:
                self._use_session = False
                return
            await self._login(sessions)

    async def _sessions_path(self) -> str | None:
        root = await self._service_root()
        links = root.get("Links")
        sessions = links.get("Sessions") if isinstance(links, dict) else None
        if isinstance(sessions, dict) and isinstance(sessions.get("@odata.id"), str):
            return str(sessions["@odata.id"])
        if self._use_session:
            # auth="session" on a BMC whose root omits the link: the standard location.
            return "/redfish/v1/SessionService/Sessions"
        return None

    async def _login(self, sessions_path: str) -> None:
        body = {"UserName": self._username, "Password": self._password.reveal()}
        response = await self._send_with_retries("POST", sessions_path, body, False, False)
        if response.status_code in (404, 405, 501) and self._auth_mode == "auto":
            log.debug("no usable session service bmc=%s: using basic auth", self._base)
            self._use_session = False
            return
        self._raise_for_status(response, "POST", sessions_path)

        token = response.headers.get("X-Auth-Token")
        if not token:
            raise RedfishAuthError(
                "the BMC opened a session but sent no X-Auth-Token; use auth='basic'",
                bmc=self._base,
                path=sessions_path,
            )
        self._remember_token(token)
        self._session_uri = response.headers.get("Location")
        self._use_session = True
        log.debug("opened redfish session bmc=%s user=%s", self._base, self._username)

    def _remember_token(self, token: str) -> None:
        self._token = Secret(token)
        TOKEN_FILTER.tokens.add(token)
        for name in TRACE_LOGGERS:
            logger = logging.getLogger(name)
            if TOKEN_FILTER not in logger.filters:
                logger.addFilter(TOKEN_FILTER)

    async def _logout(self) -> None:
        token, uri = self._token, self._session_uri
        self._token = self._session_uri = None
        if token is None:
            return
        TOKEN_FILTER.tokens.discard(token.reveal())
        if uri is None:
            return
        try:
            await self._http.delete(uri, headers={"X-Auth-Token": token.reveal()})
        except httpx.HTTPError as error:
            # The BMC expires abandoned sessions itself; nothing for the caller to do.
            log.debug("session logout failed bmc=%s error=%s", self._base, type(error).__name__)

    # -- the request path ------------------------------------------------------------------

    async def _get(self, path: str) -> dict[str, Any]:
        response = await self._request("GET", path, idempotent=True)
        return json_object(response, self._base, path)

    async def _request(
        self, method: str, path: str, *, json: Any = None, idempotent: bool
    ) -> httpx.Response:
        await self._ensure_auth()
        response = await self._send_with_retries(method, path, json, idempotent, True)
        if response.status_code == 401 and self._token is not None:
            # The session expired (BMCs drop idle ones): log in again, once.
            await self._logout()
            await self._ensure_auth()
            response = await self._send_with_retries(method, path, json, idempotent, True)
        self._raise_for_status(response, method, path)
        return response

    async def _send_with_retries(
        self, method: str, path: str, json: Any, idempotent: bool, authenticate: bool
    ) -> httpx.Response:
        attempt = 0
        while True:
            try:
                response = await self._send(method, path, json, authenticate)
            except httpx.TransportError as error:
                if attempt >= self._max_retries or not may_retry_error(error, idempotent):
                    raise self._unreachable(error, method, path, attempt + 1) from error
                reason, delay = type(error).__name__, self._backoff.delay(attempt)
            else:
                status = response.status_code
                if attempt >= self._max_retries or not may_retry_status(status, idempotent):
                    return response
                reason, delay = f"HTTP {status}", self._retry_delay(response, attempt)

            log.debug(
                "retrying redfish request bmc=%s method=%s path=%s attempt=%d reason=%s",
                self._base,
                method,
                path,
                attempt + 1,
                reason,
            )
            await asyncio.sleep(delay)
            attempt += 1

    async def _send(
        self, method: str, path: str, json: Any, authenticate: bool
    ) -> httpx.Response:
        headers: dict[str, str] = {}
        auth: httpx.Auth | None = None
        if authenticate and self._token is not None:
            headers["X-Auth-Token"] = self._token.reveal()
        elif authenticate:
            auth = httpx.BasicAuth(self._username, self._password.reveal())
        return await self._http.request(method, path, json=json, headers=headers, auth=auth)

    def _retry_delay(self, response: httpx.Response, attempt: int) -> float:
        delay = self._backoff.delay(attempt)
        retry_after = response.headers.get("Retry-After", "")
        if retry_after.isdigit():
            # Honour the BMC's wish, within the backoff's cap so one answer cannot stall us.
            delay = max(delay, min(float(retry_after), self._backoff.cap))
        return delay

    # -- errors ----------------------------------------------------------------------------

    def _raise_for_status(self, response: httpx.Response, method: str, path: str) -> None:
        if response.is_success:
            return
        raise self._error_for(response, method, path)

    def _error_for(self, response: httpx.Response, method: str, path: str) -> RedfishError:
        status = response.status_code
        detail = self._redact(error_detail(response))
        where = f"{method} {path}"
        kwargs: dict[str, Any] = {"bmc": self._base, "status": status, "path": path}
        if status == 401:
            return RedfishAuthError(
                f"the BMC rejected the credentials of user {self._username!r} (HTTP 401 on "
                f"{where}: {detail}); check the username and password stored for this BMC",
                **kwargs,
            )
        if status == 403:
            return RedfishAuthError(
                f"user {self._username!r} may not {where} (HTTP 403: {detail}); give the "
                "account a role that may reset the host (Operator or Administrator)",
                **kwargs,
            )
        if status == 404:
            return RedfishNotFoundError(
                f"the BMC has nothing at {path} (HTTP 404: {detail}); check the base URL "
                "and the system id",
                **kwargs,
            )
        if status in (405, 501):
            return RedfishUnsupportedError(
                f"the BMC does not support {where} (HTTP {status}: {detail})", **kwargs
            )
        if status >= 500:
            return RedfishServerError(
                f"the BMC answered HTTP {status} to {where} after {self._max_retries + 1} "
                f"attempts ({detail}); it may be busy or restarting: retry later",
                **kwargs,
            )
        return RedfishRequestError(
            f"the BMC refused {where} (HTTP {status}: {detail}); check the request against "
            "the BMC's Redfish documentation",
            **kwargs,
        )

    def _unreachable(
        self, error: httpx.TransportError, method: str, path: str, attempts: int
    ) -> RedfishError:
        detail = self._redact(str(error) or type(error).__name__)[:DETAIL_LIMIT]
        if is_tls_failure(error):
            return RedfishTLSError(
                f"TLS with the BMC failed on {method} {path} ({detail}); give the BMC's CA "
                "bundle as verify=<path>, or verify=False for a lab BMC you trust",
                bmc=self._base,
                path=path,
            )
        return RedfishUnavailableError(
            f"could not reach the BMC for {method} {path} after {attempts} attempt(s) "
            f"({type(error).__name__}: {detail}); check the address, the port and that the "
            "BMC is up",
            bmc=self._base,
            path=path,
        )

    def _redact(self, text: str) -> str:
        secrets = [self._password.reveal()]
        if self._token is not None:
            secrets.append(self._token.reveal())
        basic = f"{self._username}:{self._password.reveal()}".encode()
        secrets.append(base64.b64encode(basic).decode())
        for secret in secrets:
            if secret:
                text = text.replace(secret, REDACTED)
        return text


# -- helpers ---------------------------------------------------------------------------------


def _power_state_of(system: dict[str, Any]) -> str:
    return str(system.get("PowerState", "Unknown"))


def _reset_action_of(system: dict[str, Any], path: str) -> dict[str, Any]:
    actions = system.get("Actions")
    action = actions.get(_RESET_ACTION) if isinstance(actions, dict) else None
    if not isinstance(action, dict):
        raise RedfishUnsupportedError(
            f"the system {path} offers no {_RESET_ACTION} action; power-cycle the host by "
            "hand, then clear the reboot annotation",
            path=path,
        )
    return action


def _reset_target(system: dict[str, Any], path: str) -> str:
    target = _reset_action_of(system, path).get("target")
    if not isinstance(target, str) or not target:
        raise RedfishUnsupportedError(
            f"the system {path} has a {_RESET_ACTION} action without a target; "
            "power-cycle the host by hand",
            path=path,
        )
    return target
