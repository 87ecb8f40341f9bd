"""`GroupCommitter`'s linger: with nothing in flight a batch starts at once; while a commit is
in flight a small queue waits for it, for `linger_rows` items or for its oldest item to be
`linger_s` old, whichever comes first. The lingers are either far longer than the test's
timeout (so a wait that should not happen fails it) or short (so one that should end does)."""

from __future__ import annotations

import asyncio

from gateway.batcher import GroupCommitter
from tests.unit.test_batcher_delivery import Item, Pipeline, _key, _turns, _wait

FOREVER_S = 60.0  # far beyond the helpers' 2 s timeout


def _committer(p: Pipeline, linger_s: float, linger_rows: int = 64) -> GroupCommitter[Item, int]:
    gc: GroupCommitter[Item, int] = GroupCommitter(
        p.flush, max_in_flight=3, linger_s=linger_s, linger_rows=linger_rows, key=_key
    )
    gc.start()
    return gc


async def _one_in_flight(
    linger_s: float, linger_rows: int = 64
) -> tuple[Pipeline, GroupCommitter[Item, int], asyncio.Future[int]]:
    """A committer whose first commit, of ("a", 1), is held in flight."""
    p = Pipeline()
    p.hold_flush[1] = asyncio.Event()
    gc = _committer(p, linger_s, linger_rows)
    first = await gc.submit(("a", 1))
    await _wait(p.flushing[1].wait())
    return p, gc, first


async def test_with_nothing_in_flight_a_lone_item_commits_at_once() -> None:
    p = Pipeline()
    gc = _committer(p, FOREVER_S)
    assert await _wait(await gc.submit(("a", 1))) == 10
    assert await _wait(await gc.submit(("b", 2))) == 20  # and again once the first is done
    await _wait(gc.drain())


async def test_while_a_commit_is_in_flight_a_small_queue_waits_for_it() -> None:
    p, gc, first = await _one_in_flight(FOREVER_S)
    later = [await gc.submit((key, 2)) for key in "bcde"]  # other sessions: no key is busy
    await _turns()
    assert p.flushes == 1  # without the linger each would start a parallel transaction
    p.hold_flush[1].set()
    assert await _wait(first) == 10
    assert [await _wait(f) for f in later] == [20] * 4
    assert [items for step, items in p.log if step == "flush"] == [
        [("a", 1)],
        [("b", 2), ("c", 2), ("d", 2), ("e", 2)],  # one transaction for the four
    ]
    await _wait(gc.drain())


async def test_a_queue_of_linger_rows_starts_beside_the_commit_in_flight() -> None:
    p, gc, first = await _one_in_flight(FOREVER_S, linger_rows=3)
    await gc.submit(("b", 2))
    await gc.submit(("c", 2))
    await _turns()
    assert p.flushes == 1
    third = await gc.submit(("d", 2))
    await _wait(p.stored[2].wait())  # while the first is still held
    assert not first.done()
    assert await _wait(third) == 20
    p.hold_flush[1].set()
    assert await _wait(first) == 10
    await _wait(gc.drain())


async def test_an_item_waits_at_most_linger_s_however_long_the_commit_in_flight() -> None:
    p, gc, first = await _one_in_flight(0.05)
    late = await gc.submit(("b", 2))
    assert await _wait(late) == 20  # its own transaction, the first one still held
    assert not first.done()
    p.hold_flush[1].set()
    assert await _wait(first) == 10
    await _wait(gc.drain())


async def test_draining_commits_a_lingering_queue_without_waiting_out_the_linger() -> None:
    p, gc, first = await _one_in_flight(FOREVER_S)
    lingering = await gc.submit(("b", 2))
    await _turns()
    draining = asyncio.ensure_future(gc.drain())
    await _wait(p.stored[2].wait())  # closing ends the linger: the queue commits now
    assert await _wait(lingering) == 20
    p.hold_flush[1].set()
    await _wait(draining)
    assert await _wait(first) == 10


async def test_items_of_the_session_in_flight_still_wait_for_their_turn() -> None:
    """The linger never lets a session's frame pass its earlier one (order per key)."""
    p, gc, first = await _one_in_flight(0.01, linger_rows=1)
    second = await gc.submit(("a", 2))
    await asyncio.sleep(0.05)  # past the linger and over linger_rows: still the same key
    assert p.flushes == 1
    p.hold_flush[1].set()
    assert [await _wait(first), await _wait(second)] == [10, 20]
    await _wait(gc.drain())


async def test_items_too_sparse_to_share_a_batch_do_not_linger() -> None:
    """At a rate where no other item is likely within `linger_s`, waiting would only delay:
    two items 1.5 s apart, and the second starts beside the commit in flight at once."""
    p, gc, first = await _one_in_flight(0.4)
    await asyncio.sleep(1.5)  # 2 items in 1.5 s: about 0.5 expected within the 0.4 s linger
    sparse = await gc.submit(("b", 2))
    assert await asyncio.wait_for(sparse, 0.2) == 20  # its own transaction, without waiting
    assert not first.done()
    p.hold_flush[1].set()
    assert await _wait(first) == 10
    await _wait(gc.drain())
