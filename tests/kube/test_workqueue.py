"""The work queue's contract and the rate-limit policies behind it (no server needed)."""

from __future__ import annotations

import asyncio
import math
import random

import pytest

from carbide_dpf.kube.ratelimit import (
    BucketRateLimiter,
    ExponentialBackoff,
    ItemExponentialRateLimiter,
    MaxOfRateLimiter,
    TokenBucket,
    default_item_rate_limiter,
)
from carbide_dpf.kube.workqueue import QueueShutDown, WorkQueue


class FakeClock:
    """A clock the test advances by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


# --- rate limit policies -------------------------------------------------------------------


def test_token_bucket_allows_a_burst_then_spaces_reservations_at_qps() -> None:
    clock = FakeClock()
    bucket = TokenBucket(10.0, 3, clock=clock)

    delays = [bucket.reserve() for _ in range(5)]

    assert delays[:3] == [0.0, 0.0, 0.0]
    assert delays[3] == pytest.approx(0.1)
    assert delays[4] == pytest.approx(0.2)


def test_token_bucket_refills_with_time_but_never_beyond_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(2.0, 2, clock=clock)
    assert bucket.try_acquire() and bucket.try_acquire()
    assert not bucket.try_acquire()

    clock.now += 100.0

    assert bucket.try_acquire() and bucket.try_acquire()
    assert not bucket.try_acquire()


def test_token_bucket_without_limit_never_waits() -> None:
    bucket = TokenBucket(math.inf, 1)

    assert all(bucket.reserve() == 0.0 for _ in range(1000))


def test_token_bucket_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="qps"):
        TokenBucket(0.0, 1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(1.0, 0)


async def test_token_bucket_acquire_waits_for_the_next_token() -> None:
    bucket = TokenBucket(50.0, 1)
    loop = asyncio.get_running_loop()

    start = loop.time()
    for _ in range(4):
        await bucket.acquire()
    elapsed = loop.time() - start

    assert 0.05 <= elapsed < 0.5


async def test_cancelled_acquire_gives_its_token_back() -> None:
    clock = FakeClock()
    bucket = TokenBucket(1.0, 1, clock=clock)
    bucket.reserve()

    waiter = asyncio.create_task(bucket.acquire(), name="acquire")
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter

    # Only the first reservation is outstanding: the next waits one interval, not two.
    assert bucket.reserve() == pytest.approx(1.0)


def test_backoff_doubles_up_to_the_cap_without_jitter() -> None:
    backoff = ExponentialBackoff(0.5, 4.0, jitter=0.0)

    assert [backoff.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff.delay(10_000) == 4.0


def test_backoff_jitter_stays_below_the_undithered_delay() -> None:
    backoff = ExponentialBackoff(1.0, 30.0, jitter=0.5, rng=random.Random(7))

    delays = [backoff.delay(3) for _ in range(200)]

    assert all(4.0 <= d <= 8.0 for d in delays)
    assert len(set(delays)) > 100


def test_item_backoff_is_per_key_and_reset_by_forget() -> None:
    limiter: ItemExponentialRateLimiter[str] = ItemExponentialRateLimiter(0.005, 1000.0)

    assert [limiter.when("a") for _ in range(3)] == [0.005, 0.01, 0.02]
    assert limiter.when("b") == 0.005
    assert limiter.num_requeues("a") == 3

    limiter.forget("a")

    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 0.005


def test_default_limiter_takes_the_longer_of_key_backoff_and_overall_bucket() -> None:
    clock = FakeClock()
    limiter: MaxOfRateLimiter[int | str] = default_item_rate_limiter(clock=clock)

    # 100 distinct keys fit the burst; the 101st waits for the 10 qps bucket.
    first = [limiter.when(k) for k in range(100)]
    assert max(first) == 0.005
    assert limiter.when(100) == pytest.approx(0.1)

    # One key failing many times is held back by its own backoff, well beyond the bucket's.
    for _ in range(20):
        delay = limiter.when("hot")
    assert delay == pytest.approx(min(1000.0, 0.005 * 2**19))
    assert limiter.num_requeues("hot") == 20


def test_bucket_limiter_counts_no_retries() -> None:
    limiter: BucketRateLimiter[str] = BucketRateLimiter(TokenBucket(1.0, 1))

    limiter.when("a")
    limiter.when("a")

    assert limiter.num_requeues("a") == 0


# --- the work queue ------------------------------------------------------------------------


async def test_keys_come_out_in_order_and_duplicates_coalesce() -> None:
    queue: WorkQueue[str] = WorkQueue(name="t")
    for key in ["a", "b", "a", "c", "b"]:
        queue.add(key)

    assert len(queue) == 3
    assert [await queue.get() for _ in range(3)] == ["a", "b", "c"]


async def test_a_key_is_never_handed_to_two_workers_at_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    first = await queue.get()

    queue.add("a")
    second = asyncio.create_task(queue.get(), name="second-worker")
    await asyncio.sleep(0.01)
    assert not second.done()

    queue.done(first)

    assert await asyncio.wait_for(second, 1.0) == "a"


async def test_readding_while_processing_processes_once_more() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = await queue.get()
    for _ in range(5):
        queue.add("a")
    assert len(queue) == 0

    queue.done(key)

    assert len(queue) == 1
    assert await queue.get() == "a"
    queue.done("a")
    assert len(queue) == 0


async def test_blocked_workers_are_woken_first_come_first_served() -> None:
    queue: WorkQueue[str] = WorkQueue()
    got: list[tuple[int, str]] = []

    async def worker(n: int) -> None:
        got.append((n, await queue.get()))

    workers = [asyncio.create_task(worker(n), name=f"worker-{n}") for n in range(3)]
    await asyncio.sleep(0)
    for key in ["x", "y", "z"]:
        queue.add(key)
    await asyncio.gather(*workers)

    assert got == [(0, "x"), (1, "y"), (2, "z")]


async def test_a_cancelled_waiter_does_not_swallow_a_key() -> None:
    queue: WorkQueue[str] = WorkQueue()
    doomed = asyncio.create_task(queue.get(), name="doomed")
    survivor = asyncio.create_task(queue.get(), name="survivor")
    await asyncio.sleep(0)

    queue.add("a")
    doomed.cancel()

    assert await asyncio.wait_for(survivor, 1.0) == "a"
    with pytest.raises(asyncio.CancelledError):
        await doomed


async def test_add_after_delays_and_keeps_the_earliest_time() -> None:
    queue: WorkQueue[str] = WorkQueue()
    loop = asyncio.get_running_loop()
    start = loop.time()

    queue.add_after("slow", 0.2)
    queue.add_after("a", 0.5)
    queue.add_after("a", 0.05)
    queue.add_after("a", 0.3)

    assert len(queue) == 0
    assert await asyncio.wait_for(queue.get(), 1.0) == "a"
    assert 0.04 <= loop.time() - start < 0.15
    assert await asyncio.wait_for(queue.get(), 1.0) == "slow"
    assert loop.time() - start >= 0.19

    # The superseded 0.3 s and 0.5 s entries must not bring "a" back.
    await asyncio.sleep(0.4)
    assert len(queue) == 0


async def test_add_rate_limited_backs_off_per_key_until_forgotten() -> None:
    limiter: ItemExponentialRateLimiter[str] = ItemExponentialRateLimiter(0.02, 1.0)
    queue: WorkQueue[str] = WorkQueue(rate_limiter=limiter)
    loop = asyncio.get_running_loop()

    waits = []
    for _ in range(3):
        start = loop.time()
        queue.add_rate_limited("k")
        queue.done(await asyncio.wait_for(queue.get(), 2.0))
        waits.append(loop.time() - start)

    assert queue.num_requeues("k") == 3
    assert waits[0] >= 0.015 and waits[1] >= 0.035 and waits[2] >= 0.075
    queue.forget("k")
    assert queue.num_requeues("k") == 0


async def test_shutdown_wakes_workers_and_refuses_new_work() -> None:
    queue: WorkQueue[str] = WorkQueue()
    blocked = asyncio.create_task(queue.get(), name="blocked")
    await asyncio.sleep(0)

    await queue.shutdown()

    with pytest.raises(QueueShutDown):
        await blocked
    queue.add("late")
    queue.add_after("later", 0.01)
    assert len(queue) == 0
    with pytest.raises(QueueShutDown):
        await queue.get()


async def test_shutdown_with_drain_waits_for_keys_in_process() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    key = await queue.get()
    queue.add("a")

    stopping = asyncio.create_task(queue.shutdown(drain=True), name="shutdown")
    await asyncio.sleep(0.02)
    assert not stopping.done()

    queue.done(key)

    await asyncio.wait_for(stopping, 1.0)
    # The re-add made while in process is dropped: nothing is handed out after shutdown.
    assert len(queue) == 0


async def test_shutdown_without_drain_returns_at_once() -> None:
    queue: WorkQueue[str] = WorkQueue()
    queue.add("a")
    await queue.get()

    await asyncio.wait_for(queue.shutdown(drain=False), 0.5)

    assert queue.shutting_down


async def test_many_workers_process_every_key_exactly_once_per_add() -> None:
    queue: WorkQueue[int] = WorkQueue()
    in_process: set[int] = set()
    processed: list[int] = []

    async def worker() -> None:
        while True:
            try:
                key = await queue.get()
            except QueueShutDown:
                return
            assert key not in in_process
            in_process.add(key)
            await asyncio.sleep(0)
            in_process.discard(key)
            processed.append(key)
            queue.done(key)

    workers = [asyncio.create_task(worker(), name=f"w{n}") for n in range(8)]
    for key in range(200):
        queue.add(key % 50)
        if key % 7 == 0:
            await asyncio.sleep(0)
    for _ in range(500):
        if not len(queue):
            break
        await asyncio.sleep(0.01)
    await queue.shutdown(drain=True)
    await asyncio.gather(*workers)

    assert set(processed) == set(range(50))
    assert queue.adds_total >= 50
