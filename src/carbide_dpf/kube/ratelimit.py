"""Rate limiting and backoff policies shared by the client, the informer and the work queue.

Three pieces, each a small policy object with time injected so tests can drive it:

- `TokenBucket`: an overall request rate (qps) with a burst allowance. The client awaits
  `acquire()` before each request; the work queue asks `reserve()` how long a key must wait.
- `ExponentialBackoff`: the delay before attempt *n* of something that keeps failing
  (reconnecting a watch, retrying a request), capped and optionally jittered.
- `ItemRateLimiter` and its implementations: per-key delays for the work queue. The default,
  `default_item_rate_limiter()`, follows client-go's controller default: the larger of a
  per-key exponential backoff (5 ms doubling up to 1000 s) and an overall bucket of 10 qps
  with a burst of 100.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, Protocol, TypeVar

__all__ = [
    "BucketRateLimiter",
    "ExponentialBackoff",
    "ItemExponentialRateLimiter",
    "ItemRateLimiter",
    "MaxOfRateLimiter",
    "TokenBucket",
    "default_item_rate_limiter",
]

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)

Clock = Callable[[], float]


class TokenBucket:
    """Limit an average rate to `qps` events per second while allowing bursts of `burst`.

    The bucket starts full. Taking a token from an empty bucket is allowed and reserves the
    next token to arrive: the caller is told how long to wait for it. Reservations are
    therefore served in the order they were made, which keeps concurrent callers fair.
    `qps=math.inf` disables the limit.
    """

    def __init__(self, qps: float, burst: int, clock: Clock = time.monotonic) -> None:
        """Create a full bucket; `clock` returns monotonic seconds (injected by tests)."""
        if not qps > 0:
            raise ValueError(f"qps must be positive (use math.inf for no limit), got {qps}")
        if burst < 1:
            raise ValueError(f"burst must be at least 1, got {burst}")

        self._qps = qps
        self._burst = burst
        self._clock = clock
        # May go negative: -n means n callers hold reservations for tokens not yet refilled.
        self._tokens = float(burst)
        self._last = clock()

    @property
    def qps(self) -> float:
        """The sustained rate, in tokens per second."""
        return self._qps

    @property
    def burst(self) -> int:
        """The bucket's capacity."""
        return self._burst

    def reserve(self) -> float:
        """Take a token and return how many seconds to wait before using it (0 if none)."""
        if math.isinf(self._qps):
            return 0.0

        self._refill()
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        return -self._tokens / self._qps

    def try_acquire(self) -> bool:
        """Take a token if one is available now; never wait and never reserve."""
        if math.isinf(self._qps):
            return True

        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    async def acquire(self) -> None:
        """Wait until a token is available and take it.

        If the wait is cancelled, the reserved token is given back so that a cancelled caller
        does not slow down the others.
        """
        delay = self.reserve()
        if delay <= 0:
            return

        try:
            await asyncio.sleep(delay)
        except asyncio.CancelledError:
            self._tokens = min(float(self._burst), self._tokens + 1.0)
            raise

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(float(self._burst), self._tokens + elapsed * self._qps)


class ExponentialBackoff:
    """Compute delays that double (by `factor`) per attempt, up to `cap`, with jitter.

    `delay(attempt)` for attempt 0, 1, 2, ... is `base * factor**attempt` capped at `cap`.
    With `jitter` in [0, 1] the delay is drawn uniformly from `[d * (1 - jitter), d]`: the cap
    stays a true maximum, and many clients that failed together do not retry together.
    """

    def __init__(
        self,
        base: float = 0.8,
        cap: float = 30.0,
        jitter: float = 0.5,
        *,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        """Create the policy. The defaults (0.8 s doubling to 30 s) follow client-go's
        reflector backoff; `rng` is injected by tests that want repeatable jitter."""
        if base < 0 or cap < base:
            raise ValueError(f"need 0 <= base <= cap, got base={base} cap={cap}")
        if not 0.0 <= jitter <= 1.0:
            raise ValueError(f"jitter must be within [0, 1], got {jitter}")
        if factor < 1.0:
            raise ValueError(f"factor must be at least 1, got {factor}")

        self.base = base
        self.cap = cap
        self.jitter = jitter
        self.factor = factor
        self._rng = rng or random.Random()

    def delay(self, attempt: int) -> float:
        """Return the delay in seconds before retry number `attempt` (counted from 0)."""
        attempt = max(0, attempt)
        # Stop multiplying once past the cap: factor**attempt overflows a float near 1024.
        if self.base == 0 or attempt >= 64:
            bare = self.cap if self.base > 0 else 0.0
        else:
            bare = min(self.cap, self.base * self.factor**attempt)

        if self.jitter == 0.0:
            return bare
        return bare * (1.0 - self.jitter * self._rng.random())


class ItemRateLimiter(Protocol[K_contra]):
    """How long a work-queue key must wait before it is retried.

    `when(key)` is called once per retry and counts it; `forget(key)` resets the key once it
    succeeded; `num_requeues(key)` reports how many retries were counted since.
    """

    def when(self, key: K_contra) -> float:
        """Count a retry of `key` and return its delay in seconds."""
        ...

    def forget(self, key: K_contra) -> None:
        """Reset the retry count of `key`."""
        ...

    def num_requeues(self, key: K_contra) -> int:
        """Return how many retries of `key` were counted since it was last forgotten."""
        ...


class ItemExponentialRateLimiter(Generic[K]):
    """Per-key exponential backoff: `base * 2**failures`, capped (no jitter, like client-go)."""

    def __init__(self, base: float = 0.005, cap: float = 1000.0) -> None:
        """Create the limiter; the defaults are client-go's (5 ms doubling to 1000 s)."""
        self._backoff = ExponentialBackoff(base, cap, jitter=0.0)
        # Only keys that failed at least once since they were last forgotten are here.
        self._failures: dict[K, int] = {}

    def when(self, key: K) -> float:
        """Count a failure of `key` and return its backoff."""
        attempt = self._failures.get(key, 0)
        self._failures[key] = attempt + 1
        return self._backoff.delay(attempt)

    def forget(self, key: K) -> None:
        """Reset the backoff of `key`."""
        self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        """Return the number of failures of `key` since it was last forgotten."""
        return self._failures.get(key, 0)


class BucketRateLimiter(Generic[K]):
    """An overall rate for all keys together, through a `TokenBucket`; keeps no per-key state."""

    def __init__(self, bucket: TokenBucket) -> None:
        """Wrap `bucket`; each `when()` reserves one token of it."""
        self.bucket = bucket

    def when(self, key: K) -> float:
        """Reserve a token and return the wait for it."""
        return self.bucket.reserve()

    def forget(self, key: K) -> None:
        """Do nothing: the bucket is shared, not per key."""

    def num_requeues(self, key: K) -> int:
        """Return 0: the bucket counts no retries."""
        return 0


class MaxOfRateLimiter(Generic[K]):
    """Combine limiters: the delay is the longest of theirs, the retry count the largest."""

    def __init__(self, limiters: Iterable[ItemRateLimiter[K]]) -> None:
        """Combine `limiters`; every one of them sees every call."""
        self._limiters = list(limiters)
        if not self._limiters:
            raise ValueError("MaxOfRateLimiter needs at least one limiter")

    def when(self, key: K) -> float:
        """Ask every limiter (so each counts the retry) and return the longest delay."""
        return max([limiter.when(key) for limiter in self._limiters])

    def forget(self, key: K) -> None:
        """Reset `key` in every limiter."""
        for limiter in self._limiters:
            limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """Return the largest retry count any limiter reports."""
        return max(limiter.num_requeues(key) for limiter in self._limiters)


def default_item_rate_limiter(clock: Clock = time.monotonic) -> MaxOfRateLimiter[K]:
    """Return client-go's default controller limiter: per-key 5 ms..1000 s, overall 10 qps.

    A burst of failures across many keys is thus spread out at 10 per second after the first
    100, while a single key that keeps failing backs off on its own schedule.
    """
    per_key: ItemExponentialRateLimiter[K] = ItemExponentialRateLimiter(0.005, 1000.0)
    overall: BucketRateLimiter[K] = BucketRateLimiter(TokenBucket(10.0, 100, clock=clock))
    return MaxOfRateLimiter([per_key, overall])
