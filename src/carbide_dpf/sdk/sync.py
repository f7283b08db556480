"""`SyncDpfSdk`: the blocking facade of `DpfSdk`, for callers without an event loop.

It owns one event loop running in a background thread and the `KubeClient` created on that
loop. Each method is a `_blocking(DpfSdk.method)` one-liner that submits the coroutine to the
loop and waits for its result, so the facade has the async class's signatures and docstrings
and no logic of its own; `tests/sdk/test_sync.py` checks that every public coroutine method
of `DpfSdk` has its twin here.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from carbide_dpf.kube.client import KubeClient
from carbide_dpf.sdk.config import SdkConfig
from carbide_dpf.sdk.core import DpfSdk

if TYPE_CHECKING:
    from carbide_dpf.watcher import DpuWatcher

__all__ = ["SyncDpfSdk"]

P = ParamSpec("P")
R = TypeVar("R")


class _Blocking(Generic[P, R]):
    """Descriptor: the blocking twin of one `DpfSdk` coroutine method."""

    def __init__(self, method: Callable[Concatenate[DpfSdk, P], Coroutine[Any, Any, R]]) -> None:
        self.method = method
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, obj: None, owner: type[Any]) -> _Blocking[P, R]: ...

    @overload
    def __get__(self, obj: SyncDpfSdk, owner: type[Any]) -> Callable[P, R]: ...

    def __get__(self, obj: SyncDpfSdk | None,
                owner: type[Any]) -> _Blocking[P, R] | Callable[P, R]:
        if obj is None:
            return self
        method, sdk = self.method, obj.sdk

        @functools.wraps(method)
        def call(*args: P.args, **kwargs: P.kwargs) -> R:
            return obj.run(method(sdk, *args, **kwargs))

        return call


_blocking = _Blocking


class SyncDpfSdk:
    """The `DpfSdk` operations as blocking calls. Close it (or use `with`) when done."""

    def __init__(self, kube_factory: Callable[[], KubeClient],
                 config: SdkConfig | None = None) -> None:
        """Start the loop thread and build the client there with `kube_factory()`."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever,
                                        name="carbide-dpf-sync-loop", daemon=True)
        self._thread.start()
        self._kube = self.run(_build(kube_factory))
        self.sdk = DpfSdk(self._kube, config)

    @classmethod
    def from_kubeconfig(cls, path: str | Path | None = None, *, context: str | None = None,
                        config: SdkConfig | None = None, **client_kwargs: Any) -> SyncDpfSdk:
        """Connect with a kubeconfig (or `$KUBECONFIG`, or in-cluster configuration)."""
        return cls(lambda: KubeClient.from_kubeconfig(path, context=context, **client_kwargs),
                   config)

    def run(self, coro: Coroutine[Any, Any, R]) -> R:
        """Run `coro` on the facade's loop and return its result (or raise its error)."""
        future: Future[R] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result()
        except BaseException:
            # Interrupted (KeyboardInterrupt) or failed: do not leave the request running.
            future.cancel()
            raise

    def close(self) -> None:
        """Close the client and stop the loop thread; idempotent."""
        if self._loop.is_closed():
            return
        self.run(self._kube.aclose())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def __enter__(self) -> SyncDpfSdk:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def watcher(self, **kwargs: Any) -> DpuWatcher:
        """Return a `DpuWatcher` like `DpfSdk.watcher`, bound to this facade's loop: its
        `start()`/`stop()` (or `with watcher:`) run it there; plain-function callbacks may
        call this facade's blocking methods."""
        kwargs.setdefault("loop", self._loop)
        return self.sdk.watcher(**kwargs)

    create_initialization_objects = _blocking(DpfSdk.create_initialization_objects)
    set_bmc_password = _blocking(DpfSdk.set_bmc_password)
    register_dpu_device = _blocking(DpfSdk.register_dpu_device)
    register_dpu_node = _blocking(DpfSdk.register_dpu_node)
    release_maintenance_hold = _blocking(DpfSdk.release_maintenance_hold)
    is_reboot_required = _blocking(DpfSdk.is_reboot_required)
    reboot_complete = _blocking(DpfSdk.reboot_complete)
    get_dpu_phase = _blocking(DpfSdk.get_dpu_phase)
    is_dpu_device_ready = _blocking(DpfSdk.is_dpu_device_ready)
    snapshot_host = _blocking(DpfSdk.snapshot_host)
    snapshot_hosts = _blocking(DpfSdk.snapshot_hosts)
    find_outdated_dpus = _blocking(DpfSdk.find_outdated_dpus)
    reprovision_dpu = _blocking(DpfSdk.reprovision_dpu)
    wait_for_dpu = _blocking(DpfSdk.wait_for_dpu)
    update_deployment_bfb = _blocking(DpfSdk.update_deployment_bfb)
    delete_dpu_device = _blocking(DpfSdk.delete_dpu_device)
    delete_dpu_node = _blocking(DpfSdk.delete_dpu_node)
    force_delete_dpu = _blocking(DpfSdk.force_delete_dpu)
    force_delete_dpu_node = _blocking(DpfSdk.force_delete_dpu_node)
    force_delete_host = _blocking(DpfSdk.force_delete_host)


async def _build(factory: Callable[[], KubeClient]) -> KubeClient:
    # Built on the loop that will use it: the connection pool binds to that loop.
    return factory()
