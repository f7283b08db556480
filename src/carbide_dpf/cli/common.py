"""What every cluster command shares: kubectl-style options, the SDK built from them, running a
coroutine, and turning errors into exit codes.

Exit codes: 0 done, 1 the operation failed (the typed error's message on stderr, a traceback
only with -vv), 2 bad usage or input that breaks a rule (each field and rule listed), 130
interrupted. Imports here stay light: the SDK and the kube client load inside `run`.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import sys
import traceback
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

if TYPE_CHECKING:
    from carbide_dpf.sdk import DpfSdk, SecretStr, ServiceSet

__all__ = [
    "ClusterOptions",
    "cluster_options",
    "fail",
    "handle_errors",
    "output_option",
    "read_password",
    "run",
]

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

DEFAULT_NAMESPACE = "dpf-operator-system"  # the SDK's default, kept here to avoid its import
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@dataclass(frozen=True, slots=True)
class ClusterOptions:
    """Where to act: the kubeconfig, its context and the namespace."""

    kubeconfig: str | None
    context: str | None
    namespace: str

    def sdk_config_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `SdkConfig` that follow from these options."""
        return {"namespace": self.namespace}


def cluster_options(fn: F) -> F:
    """Add `--kubeconfig`, `--context` and `-n/--namespace`; the command gets `cluster`."""

    @click.option("--kubeconfig", type=click.Path(dir_okay=False), default=None,
                  envvar="KUBECONFIG",
                  help="Path to the kubeconfig (default: $KUBECONFIG, ~/.kube/config).")
    @click.option("--context", "kube_context", default=None,
                  help="The kubeconfig context to use.")
    @click.option("-n", "--namespace", default=DEFAULT_NAMESPACE, show_default=True,
                  help="The namespace of the DPF objects.")
    @functools.wraps(fn)
    def wrapper(kubeconfig: str | None, kube_context: str | None, namespace: str,
                **kwargs: Any) -> Any:
        cluster = ClusterOptions(kubeconfig, kube_context, namespace)
        return fn(cluster=cluster, **kwargs)

    return wrapper  # type: ignore[return-value]


def output_option(fn: F) -> F:
    """Add `-o/--output table|json|yaml`; the command gets `output`."""
    return click.option("-o", "--output", type=click.Choice(["table", "json", "yaml"]),
                        default="table", show_default=True, help="Output format.")(fn)


def _verbosity() -> int:
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return 0
    return int(ctx.find_root().params.get("verbose") or 0)


def fail(message: str, code: int = EXIT_FAILED) -> NoReturn:
    """Print `error: message` on stderr and exit with `code`."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@contextmanager
def handle_errors() -> Iterator[None]:
    """Map the package's errors to messages and exit codes (see the module docstring)."""
    from carbide_dpf.errors import DpfError, ValidationError

    try:
        yield
    except ValidationError as exc:
        _maybe_traceback(exc)
        click.echo("error: invalid input, nothing was written:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem.field}: {problem.message} (rule: {problem.rule})", err=True)
        sys.exit(EXIT_USAGE)
    except DpfError as exc:
        _maybe_traceback(exc)
        fail(f"{type(exc).__name__}: {exc}")
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


def _maybe_traceback(exc: BaseException) -> None:
    if _verbosity() >= 2:
        traceback.print_exception(exc, file=sys.stderr)


def run(cluster: ClusterOptions, action: Callable[[DpfSdk], Awaitable[T]],
        *, services: ServiceSet | None = None, **config: Any) -> T:
    """Build a `DpfSdk` for `cluster`, run `action(sdk)` on a fresh event loop, close the
    client; errors become exit codes. `config` goes to `SdkConfig`."""
    with handle_errors():
        return asyncio.run(_run(cluster, action, services, config))


async def _run(cluster: ClusterOptions, action: Callable[[DpfSdk], Awaitable[T]],
               services: ServiceSet | None, config: dict[str, Any]) -> T:
    from carbide_dpf.kube.client import KubeClient
    from carbide_dpf.sdk import DpfSdk, SdkConfig

    sdk_config = SdkConfig(services=services, **cluster.sdk_config_kwargs(), **config)
    kube = KubeClient.from_kubeconfig(cluster.kubeconfig, context=cluster.context)
    async with kube:
        return await action(DpfSdk(kube, sdk_config))


def read_password(file: str | None, env: str | None, plain: str | None,
                  *, what: str = "--bmc-password") -> SecretStr | None:
    """Read a password from a file (first line), an environment variable or, discouraged
    because `ps` shows it, a plain flag value. Returns None when none is given."""
    from carbide_dpf.sdk import SecretStr

    given = [v for v in (file, env, plain) if v is not None]
    if len(given) > 1:
        raise click.UsageError(f"give only one of {what}-file, {what}-env and {what}")
    if file is not None:
        try:
            text = Path(file).read_text()
        except OSError as exc:
            raise click.UsageError(f"cannot read {what}-file {file}: {exc.strerror}") from exc
        return SecretStr(text.splitlines()[0] if text else "")
    if env is not None:
        if env not in os.environ:
            raise click.UsageError(f"{what}-env names {env}, which is not set")
        return SecretStr(os.environ[env])
    if plain is not None:
        click.echo(f"warning: {what} shows the password in the process list; use "
                   f"{what}-file or {what}-env", err=True)
        return SecretStr(plain)
    return None


def load_services_file(path: str | None) -> ServiceSet | None:
    """Load `--services-file`, or None when not given; errors exit as bad input."""
    if path is None:
        return None
    from carbide_dpf.sdk import load_services

    with handle_errors():
        return load_services(path)
