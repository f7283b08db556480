"""Per-DPU ordered delivery with bounded concurrency and per-item retries.

Contract of `KeyedDispatcher`:

- Items of one key are handled in the order they were submitted, one at a time.
- At most `concurrency` keys are handled at once; keys take turns in FIFO order, one item per
  turn, so a DPU with a long backlog does not starve the others.
- An item whose handler raises is retried after an exponential backoff; meanwhile the key's
  later items wait (ordering) but other keys proceed (no worker sleeps through a backoff).
  After `max_retries` retries the item is given up: `on_give_up` is called and the key moves
  on to its next item.
- `reset()` cancels the items in flight and forgets everything pending (the watcher calls it
  when it loses leadership); `stop()` drains what is in flight, then cancels the workers.

Why not `kube.workqueue.WorkQueue`: it coalesces a key's pending additions into one, which is
right for level-triggered reconcilers but would merge the events of a DPU into one, and its
`add()` of a key waiting out a backoff queues the key at once. Callbacks here are per event,
in order, and a backoff must hold the whole key.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from carbide_dpf.kube.ratelimit import ExponentialBackoff

__all__ = ["KeyedDispatcher"]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class KeyedDispatcher(Generic[K, T]):
    """Run `handler(key, item)` for submitted items: ordered per key, concurrent across keys."""

    def __init__(
        self,
        handler: Callable[[K, T, int], Awaitable[None]],
        *,
        concurrency: int,
        max_retries: int,
        backoff: ExponentialBackoff,
        on_give_up: Callable[[K, T, BaseException, int], Awaitable[None]],
        on_retry: Callable[[K, T, BaseException, float], None] | None = None,
        name: str = "dispatcher",
    ) -> None:
        """Create a stopped dispatcher; `handler` gets the attempt number (0 first)."""
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if max_retries < 0:
            raise ValueError(f"max_retries must not be negative, got {max_retries}")

        self._handler = handler
        self._concurrency = concurrency
        self._max_retries = max_retries
        self._backoff = backoff
        self._on_give_up = on_give_up
        self._on_retry = on_retry
        self._name = name
        # Invariant: a key with items is in exactly one of `_ready`, `_running`, `_timers`.
        self._pending: dict[K, deque[T]] = {}
        self._attempts: dict[K, int] = {}
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._running: set[K] = set()
        self._timers: dict[K, asyncio.TimerHandle] = {}
        self._workers: list[asyncio.Task[None]] = []
        self._size = 0
        self._closed = False
        # Set whenever an item finishes or is dropped, for `join` and `stop` to re-check.
        self._progress = asyncio.Event()

    def __len__(self) -> int:
        """The number of items submitted and not yet finished (the queue depth)."""
        return self._size

    @property
    def in_flight(self) -> int:
        """The number of items being handled right now."""
        return len(self._running)

    def submit(self, key: K, item: T) -> None:
        """Queue `item` behind the other items of `key`."""
        items = self._pending.get(key)
        if items is None:
            items = self._pending[key] = deque()
        items.append(item)
        self._size += 1

        idle = len(items) == 1 and key not in self._running and key not in self._timers
        if idle and not self._closed:
            self._ready.put_nowait(key)

    def has_pending(self, key: K) -> bool:
        """Whether `key` has items submitted and not yet finished."""
        return key in self._pending

    def start(self) -> None:
        """Start the workers (idempotent)."""
        if self._workers:
            return
        self._workers = [
            asyncio.create_task(self._work(), name=f"{self._name}-worker-{i}")
            for i in range(self._concurrency)
        ]

    async def reset(self) -> None:
        """Cancel the items in flight and drop every pending item; running workers restart."""
        was_started = bool(self._workers)
        await self._cancel_workers()
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._pending.clear()
        self._attempts.clear()
        self._running.clear()
        self._ready = asyncio.Queue()
        self._size = 0
        self._progress.set()
        if was_started:
            self.start()

    async def stop(self, grace: float) -> bool:
        """Wait up to `grace` seconds for the items in flight, then cancel the workers.

        Items not yet started are dropped; nothing new starts once `stop` is called. Returns
        whether every item in flight finished within `grace` (False: some were cancelled).
        """
        self._closed = True
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
        self._ready = asyncio.Queue()

        drained = True
        try:
            async with asyncio.timeout(grace):
                await self._wait_until(lambda: not self._running)
        except TimeoutError:
            drained = False
        await self._cancel_workers()
        return drained

    async def join(self) -> None:
        """Wait until every submitted item has finished (tests and benchmarks)."""
        await self._wait_until(lambda: self._size == 0)

    async def _wait_until(self, predicate: Callable[[], bool]) -> None:
        while not predicate():
            self._progress.clear()
            await self._progress.wait()

    async def _cancel_workers(self) -> None:
        workers, self._workers = self._workers, []
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)

    async def _work(self) -> None:
        while True:
            ready = self._ready
            key = await ready.get()
            if ready is not self._ready:
                continue  # a reset or stop replaced the queue while we waited
            self._running.add(key)
            try:
                await self._handle_head(key)
            finally:
                self._running.discard(key)
                self._progress.set()

    async def _handle_head(self, key: K) -> None:
        items = self._pending.get(key)
        if not items:
            return
        item = items[0]
        attempt = self._attempts.get(key, 0)

        try:
            await self._handler(key, item, attempt)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if attempt < self._max_retries:
                self._schedule_retry(key, item, exc, attempt)
                return
            await self._on_give_up(key, item, exc, attempt + 1)

        self._finish_head(key)

    def _schedule_retry(self, key: K, item: T, exc: BaseException, attempt: int) -> None:
        delay = self._backoff.delay(attempt)
        self._attempts[key] = attempt + 1
        if self._on_retry is not None:
            self._on_retry(key, item, exc, delay)

        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(delay, self._retry_due, key)

    def _retry_due(self, key: K) -> None:
        self._timers.pop(key, None)
        if key in self._pending and not self._closed:
            self._ready.put_nowait(key)

    def _finish_head(self, key: K) -> None:
        items = self._pending[key]
        items.popleft()
        self._size -= 1
        self._attempts.pop(key, None)
        if not items:
            del self._pending[key]
        elif not self._closed:
            self._ready.put_nowait(key)  # back of the line: keys take turns
