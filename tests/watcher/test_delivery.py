"""The per-DPU dispatcher: ordering, concurrency, retries, give-up, reset (no server)."""

from __future__ import annotations

import asyncio

from carbide_dpf.kube.ratelimit import ExponentialBackoff
from carbide_dpf.watcher.delivery import KeyedDispatcher

Record = list[tuple[str, int]]


def _dispatcher(
    handler: object,
    *,
    concurrency: int = 4,
    max_retries: int = 3,
    gave_up: list[tuple[str, int, int]] | None = None,
    base: float = 0.01,
) -> KeyedDispatcher[str, int]:
    async def give_up(key: str, item: int, exc: BaseException, attempts: int) -> None:
        if gave_up is not None:
            gave_up.append((key, item, attempts))

    return KeyedDispatcher(
        handler,  # type: ignore[arg-type]
        concurrency=concurrency,
        max_retries=max_retries,
        backoff=ExponentialBackoff(base, base * 5, jitter=0.0),
        on_give_up=give_up,
    )


async def test_items_of_one_key_run_in_order_one_at_a_time() -> None:
    seen: Record = []
    busy: set[str] = set()
    overlap: list[str] = []

    async def handle(key: str, item: int, attempt: int) -> None:
        if key in busy:
            overlap.append(key)
        busy.add(key)
        await asyncio.sleep(0.001 * (item % 3))
        seen.append((key, item))
        busy.discard(key)

    dispatcher = _dispatcher(handle)
    dispatcher.start()
    for item in range(30):
        dispatcher.submit(f"dpu-{item % 3}", item)
    await asyncio.wait_for(dispatcher.join(), 5)
    await dispatcher.stop(1)

    assert overlap == []
    for key in ("dpu-0", "dpu-1", "dpu-2"):
        assert [i for k, i in seen if k == key] == [i for i in range(30) if f"dpu-{i % 3}" == key]


async def test_concurrency_across_keys_is_bounded() -> None:
    running = 0
    peak = 0

    async def handle(key: str, item: int, attempt: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.01)
        running -= 1

    dispatcher = _dispatcher(handle, concurrency=3)
    dispatcher.start()
    for item in range(12):
        dispatcher.submit(f"dpu-{item}", item)
    await asyncio.wait_for(dispatcher.join(), 5)
    await dispatcher.stop(1)

    assert peak == 3


async def test_failing_key_backs_off_while_other_keys_proceed() -> None:
    attempts: list[float] = []
    others_done: list[float] = []
    loop = asyncio.get_running_loop()

    async def handle(key: str, item: int, attempt: int) -> None:
        if key == "bad":
            attempts.append(loop.time())
            if attempt < 2:
                raise RuntimeError("transient")
            return
        others_done.append(loop.time())

    # A backoff long enough that even a loaded machine serves the good keys within it.
    dispatcher = _dispatcher(handle, concurrency=1, base=0.3)
    dispatcher.start()
    dispatcher.submit("bad", 0)
    for item in range(5):
        dispatcher.submit(f"good-{item}", item)
    await asyncio.wait_for(dispatcher.join(), 5)
    await dispatcher.stop(1)

    assert len(attempts) == 3
    # Even with one worker, every good key finished before the bad key's first retry.
    assert len(others_done) == 5 and max(others_done) < attempts[1]
    assert attempts[1] - attempts[0] >= 0.29
    assert attempts[2] - attempts[1] >= 0.59


async def test_later_items_of_a_failing_key_wait_then_run_after_give_up() -> None:
    seen: Record = []
    gave_up: list[tuple[str, int, int]] = []

    async def handle(key: str, item: int, attempt: int) -> None:
        if item == 0:
            raise RuntimeError("permanent")
        seen.append((key, item))

    dispatcher = _dispatcher(handle, max_retries=2, gave_up=gave_up)
    dispatcher.start()
    for item in range(3):
        dispatcher.submit("dpu", item)
    await asyncio.wait_for(dispatcher.join(), 5)
    await dispatcher.stop(1)

    assert gave_up == [("dpu", 0, 3)]
    assert seen == [("dpu", 1), ("dpu", 2)]


async def test_reset_cancels_in_flight_and_drops_pending() -> None:
    started = asyncio.Event()
    cancelled: list[int] = []
    finished: list[int] = []

    async def handle(key: str, item: int, attempt: int) -> None:
        started.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            cancelled.append(item)
            raise
        finished.append(item)

    dispatcher = _dispatcher(handle)
    dispatcher.start()
    dispatcher.submit("dpu", 1)
    dispatcher.submit("dpu", 2)
    await asyncio.wait_for(started.wait(), 5)

    await dispatcher.reset()

    assert cancelled == [1] and finished == []
    assert len(dispatcher) == 0 and not dispatcher.has_pending("dpu")
    await dispatcher.stop(1)
