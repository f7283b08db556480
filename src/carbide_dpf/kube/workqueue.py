"""A client-go style work queue for controllers: coalescing, one worker per key, backoff.

The contract, which every controller in the package relies on:

1. Fair order: keys are handed out first in, first out.
2. A key is never handed to two workers at once.
3. A key may be re-added while it is being processed; it is then processed again after
   `done(key)`, once, however many times it was re-added meanwhile.
4. `shutdown()` stops handing out keys at once; with `drain=True` it also waits until every
   key already handed out is `done`.

A worker's loop::

    while True:
        try:
            key = await queue.get()
        except QueueShutDown:
            return
        try:
            await reconcile(key)
        except Exception:
            queue.add_rate_limited(key)      # retry later, backing off per key
        else:
            queue.forget(key)                # success resets the key's backoff
        finally:
            queue.done(key)
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections import deque
from collections.abc import Hashable
from typing import Generic, TypeVar

from carbide_dpf.kube.ratelimit import ItemRateLimiter, default_item_rate_limiter

__all__ = ["ItemRateLimiter", "QueueShutDown", "WorkQueue"]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)


class QueueShutDown(Exception):
    """Raised by `WorkQueue.get()` once the queue is shut down: the worker should return.

    Not a `DpfError`: it reports no failure, only the end of the work, like
    `StopAsyncIteration`.
    """


class WorkQueue(Generic[K]):
    """A queue of keys to reconcile; see the module docstring for the contract."""

    def __init__(self, *, rate_limiter: ItemRateLimiter[K] | None = None, name: str = "") -> None:
        """Create an empty queue.

        `rate_limiter` decides the delays of `add_rate_limited`; the default combines a per-key
        exponential backoff (5 ms doubling to 1000 s) with an overall 10 qps, burst 100 bucket,
        as client-go's controllers do. `name` appears in log messages.
        """
        self.name = name
        self._limiter: ItemRateLimiter[K] = rate_limiter or default_item_rate_limiter()

        # Keys waiting to be handed out, in order. Invariant: each key appears at most once,
        # and every key here is in `_dirty` and not in `_processing`.
        self._queue: deque[K] = deque()
        # Keys that need processing: those in `_queue`, plus those re-added while processing
        # (in `_processing` too, and moved to `_queue` by `done`).
        self._dirty: set[K] = set()
        # Keys handed out by `get()` and not yet `done()`. Never in `_queue`.
        self._processing: set[K] = set()

        # Workers blocked in `get()`, oldest first; each future is resolved to wake one.
        self._getters: deque[asyncio.Future[None]] = deque()

        # Delayed adds: a heap of (due time, tie-breaker, key) plus each key's earliest due
        # time. A heap entry whose time differs from `_due[key]` was superseded: skip it.
        self._delayed: list[tuple[float, int, K]] = []
        self._due: dict[K, float] = {}
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0

        self._shutting_down = False
        self._idle = asyncio.Event()
        self._idle.set()

        # Counters for metrics: plain attributes, read by whoever exports them.
        self.adds_total = 0
        self.retries_total = 0

    def __len__(self) -> int:
        """Return the number of keys waiting to be handed out (not delayed, not in process)."""
        return len(self._queue)

    @property
    def shutting_down(self) -> bool:
        """Whether `shutdown()` was called."""
        return self._shutting_down

    def add(self, key: K) -> None:
        """Queue `key` unless it is already waiting; ignored after shutdown."""
        if self._shutting_down or key in self._dirty:
            return

        self.adds_total += 1
        self._dirty.add(key)
        # A key being processed is queued again by `done()`, never handed out twice.
        if key in self._processing:
            return

        self._queue.append(key)
        self._wake_one()

    def add_after(self, key: K, delay: float) -> None:
        """Queue `key` after `delay` seconds; a key already delayed keeps its earlier time."""
        if self._shutting_down:
            return
        if delay <= 0:
            self.add(key)
            return

        loop = asyncio.get_running_loop()
        due = loop.time() + delay
        current = self._due.get(key)
        if current is not None and current <= due:
            return

        self._due[key] = due
        heapq.heappush(self._delayed, (due, next(self._seq), key))
        self._arm_timer(loop)

    def add_rate_limited(self, key: K) -> None:
        """Queue `key` after the delay its rate limiter gives, and count the retry."""
        self.retries_total += 1
        self.add_after(key, self._limiter.when(key))

    def forget(self, key: K) -> None:
        """Reset the backoff of `key`, typically after it was processed successfully."""
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """Return how many times `key` was rate-limited since it was last forgotten."""
        return self._limiter.num_requeues(key)

    async def get(self) -> K:
        """Wait for a key and mark it as processing; the caller must call `done(key)`.

        Raises `QueueShutDown` once the queue is shut down.
        """
        while True:
            if self._shutting_down:
                raise QueueShutDown(f"work queue {self.name!r} is shut down")
            if self._queue:
                return self._hand_out()

            waiter = asyncio.get_running_loop().create_future()
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                self._abandon(waiter)
                raise

    def done(self, key: K) -> None:
        """Mark `key` as processed; if it was re-added meanwhile, queue it again."""
        if key not in self._processing:
            log.debug("done for a key not in process queue=%s key=%s", self.name, key)
            return

        self._processing.discard(key)
        if key in self._dirty and not self._shutting_down:
            self._queue.append(key)
            self._wake_one()
        if not self._processing:
            self._idle.set()

    async def shutdown(self, drain: bool = True) -> None:
        """Stop handing out keys; with `drain`, wait until the keys in process are done.

        Keys still waiting or delayed are dropped: a controller relists on restart anyway.
        Blocked `get()` calls raise `QueueShutDown`.
        """
        if not self._shutting_down:
            log.debug(
                "shutting down queue=%s waiting=%d processing=%d",
                self.name,
                len(self._queue),
                len(self._processing),
            )
        self._shutting_down = True
        self._drop_pending()
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)

        if drain:
            await self._idle.wait()

    def _hand_out(self) -> K:
        key = self._queue.popleft()
        self._dirty.discard(key)
        self._processing.add(key)
        self._idle.clear()
        return key

    def _wake_one(self) -> None:
        while self._getters:
            waiter = self._getters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _abandon(self, waiter: asyncio.Future[None]) -> None:
        # A getter cancelled after it was woken must pass the wake-up on, or a key could sit
        # in the queue while other workers sleep.
        if waiter.done() and not waiter.cancelled():
            if self._queue:
                self._wake_one()
            return
        with contextlib.suppress(ValueError):
            self._getters.remove(waiter)

    def _drop_pending(self) -> None:
        self._queue.clear()
        self._dirty.clear()
        self._delayed.clear()
        self._due.clear()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        due = self._delayed[0][0]
        if self._timer is not None:
            if self._timer_at <= due:
                return
            self._timer.cancel()
        self._timer = loop.call_at(due, self._fire_timer, loop)
        self._timer_at = due

    def _fire_timer(self, loop: asyncio.AbstractEventLoop) -> None:
        # The loop may run a timer a clock tick early, so whatever the timer was set for is
        # due even if `loop.time()` has not quite reached it.
        limit = max(loop.time(), self._timer_at)
        self._timer = None
        while self._delayed and self._delayed[0][0] <= limit:
            due, _, key = heapq.heappop(self._delayed)
            if self._due.get(key) != due:
                continue
            del self._due[key]
            self.add(key)

        if self._delayed:
            self._arm_timer(loop)
