from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from gateway.batcher import BatcherClosed, GroupCommitter
from gateway.outbox import Outbox, OutboxState
from gateway.ratelimit import Abuse, TokenBucket


async def test_outbox_sends_in_order_and_drains_on_close() -> None:
    sent: list[bytes] = []

    async def send(data: bytes) -> None:
        sent.append(data)

    box = Outbox(send, 10, lambda: None)
    writer = asyncio.create_task(box.run())
    for i in range(5):
        assert box.put(str(i).encode())
    box.close()
    await asyncio.wait_for(writer, 1)
    assert sent == [b"0", b"1", b"2", b"3", b"4"]
    assert not box.put(b"late")


async def test_outbox_overflow_calls_back_once_and_stops() -> None:
    gate = asyncio.Event()
    overflows: list[int] = []

    async def blocked_send(data: bytes) -> None:
        await gate.wait()

    box = Outbox(blocked_send, 3, lambda: overflows.append(1))
    writer = asyncio.create_task(box.run())
    await asyncio.sleep(0)
    results = [box.put(b"x") for _ in range(6)]  # a synchronous burst: nothing drains meanwhile
    assert results == [True, True, True, False, False, False]
    assert box.state is OutboxState.OVERFLOWED and overflows == [1]
    gate.set()
    await asyncio.wait_for(writer, 1)


async def test_outbox_send_error_closes() -> None:
    async def broken(data: bytes) -> None:
        raise ConnectionResetError("gone")

    box = Outbox(broken, 3, lambda: None)
    box.put(b"a")
    await asyncio.wait_for(box.run(), 1)
    assert box.state is OutboxState.CLOSED


async def test_group_commit_batches_while_a_commit_is_in_flight() -> None:
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def flush(items: list[int]) -> list[int]:
        batches.append(items)
        if len(batches) == 1:
            await release.wait()
        return [i * 10 for i in items]

    gc: GroupCommitter[int, int] = GroupCommitter(flush, max_batch=100)
    gc.start()
    first = await gc.submit(1)
    await asyncio.sleep(0.01)
    later = [await gc.submit(i) for i in range(2, 7)]
    release.set()
    assert await first == 10
    assert [await f for f in later] == [20, 30, 40, 50, 60]
    assert batches == [[1], [2, 3, 4, 5, 6]]
    await gc.drain()


async def test_group_commit_failure_fails_the_batch_only() -> None:
    calls = 0

    async def flush(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("database went away")
        return items

    gc: GroupCommitter[int, int] = GroupCommitter(flush)
    gc.start()
    doomed = await gc.submit(1)
    with pytest.raises(OSError):
        await doomed
    assert await (await gc.submit(2)) == 2
    await gc.drain()
    with pytest.raises(BatcherClosed):
        await gc.submit(3)


async def test_group_commit_backpressure_and_drain_commits_everything() -> None:
    release = asyncio.Event()

    async def flush(items: list[int]) -> list[int]:
        await release.wait()
        return items

    gc: GroupCommitter[int, int] = GroupCommitter(flush, max_batch=2, max_pending=3)
    gc.start()
    futures = [await gc.submit(i) for i in range(3)]
    await asyncio.sleep(0)  # the loop takes a batch of 2; one stays queued
    futures.append(await gc.submit(3))
    futures.append(await gc.submit(4))
    blocked = asyncio.create_task(gc.submit(5))
    await asyncio.sleep(0.01)
    assert not blocked.done()  # queue full: the submitter waits (socket reads pause)
    release.set()
    futures.append(await asyncio.wait_for(blocked, 1))
    await gc.drain()
    assert [f.result() for f in futures] == [0, 1, 2, 3, 4, 5]


def test_token_bucket_and_abuse_window() -> None:
    now = [0.0]
    bucket = TokenBucket(2.0, 3, clock=lambda: now[0])
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
    now[0] = 0.5
    assert bucket.take() and not bucket.take()
    abuse = Abuse(limit=3, window_s=10, clock=lambda: now[0])
    assert not abuse.strike() and not abuse.strike()
    now[0] = 20.0  # old strikes expire
    assert not abuse.strike() and not abuse.strike()
    assert abuse.strike()


async def test_two_batches_in_flight_never_share_a_key_and_keep_per_key_order() -> None:
    committed: list[tuple[str, int]] = []
    gates: list[asyncio.Event] = []
    in_flight_keys: list[set[str]] = []
    active: set[str] = set()

    async def flush(items: list[tuple[str, int]]) -> list[int]:
        keys = {k for k, _ in items}
        assert not keys & active, "a key is in two batches at once"
        active.update(keys)
        in_flight_keys.append(keys)
        gate = asyncio.Event()
        gates.append(gate)
        await gate.wait()
        active.difference_update(keys)
        committed.extend(items)
        return [n for _, n in items]

    gc: GroupCommitter[tuple[str, int], int] = GroupCommitter(
        flush, max_batch=3, max_in_flight=2, key=lambda item: item[0]
    )

    async def until(condition: Callable[[], bool]) -> None:
        for _ in range(100):
            if condition():
                return
            await asyncio.sleep(0)
        raise AssertionError("condition never held")

    gc.start()
    futures = [await gc.submit(("a", 1))]
    await until(lambda: len(gates) == 1)  # batch 1: a1
    for item in [("a", 2), ("b", 1), ("a", 3), ("c", 1), ("b", 2)]:
        futures.append(await gc.submit(item))
    await until(lambda: len(gates) == 2)
    for _ in range(10):
        await asyncio.sleep(0)
    assert len(gates) == 2  # two in flight at most
    assert in_flight_keys[1] == {"b", "c"}  # batch 2 took b1, c1, b2; a2, a3 wait for batch 1
    assert in_flight_keys[1] == {"b", "c"}
    gates[1].set()
    gates[0].set()
    await until(lambda: len(gates) == 3)
    gates[2].set()  # batch 3: a2, a3
    await asyncio.gather(*futures)
    per_key: dict[str, list[int]] = {}
    for k, n in committed:
        per_key.setdefault(k, []).append(n)
    assert per_key == {"a": [1, 2, 3], "b": [1, 2], "c": [1]}
    await gc.drain()


def test_pipelining_without_a_key_is_refused() -> None:
    async def flush(items: list[int]) -> list[int]:
        return items

    with pytest.raises(ValueError):
        GroupCommitter(flush, max_in_flight=2)


async def test_outbox_writes_directly_when_idle_and_queues_when_backed_up() -> None:
    from gateway.wsframe import text_frame

    direct: list[bytes] = []
    queued: list[bytes] = []
    accept = [True]

    def write_now(wire: bytes) -> bool:
        if accept[0]:
            direct.append(wire)
        return accept[0]

    async def send(data: bytes) -> None:
        queued.append(data)

    box = Outbox(send, 10, lambda: None, write_now)
    writer = asyncio.create_task(box.run())
    assert box.put(b"a")
    assert direct == [text_frame(b"a")] and len(box) == 0
    accept[0] = False  # transport backed up: bytes queue for the writer, in order
    assert box.put(b"b")
    accept[0] = True
    assert box.put(b"c")  # something is queued: must not overtake it
    assert direct == [text_frame(b"a")]
    box.close()
    await asyncio.wait_for(writer, 1)
    assert queued == [b"b", b"c"]


def test_text_frame_lengths() -> None:
    from gateway.wsframe import text_frame

    assert text_frame(b"hi") == b"\x81\x02hi"
    assert text_frame(b"x" * 200)[:4] == b"\x81\x7e\x00\xc8"
    big = text_frame(b"y" * 70_000)
    assert big[:2] == b"\x81\x7f" and int.from_bytes(big[2:10], "big") == 70_000
