"""The hub without sockets or a database: ordering, gap fill, resume parking, replacement."""

from __future__ import annotations

import asyncio
import uuid

from analysis.models import TranscriptLine
from gateway.bus import Audience, BusMessage, LocalBus
from gateway.errors import CloseCode
from gateway.hub import MAX_PARKED, SessionHub
from gateway.metrics import sample
from gateway.outbox import Outbox
from gateway.ports import SessionSeed, SessionStatus


class FakeStore:
    def __init__(self, sid: uuid.UUID, last_event_id: int = 0) -> None:
        self.sid = sid
        self.last_event_id = last_event_id
        self.events: dict[int, bytes] = {}
        self.loads = 0
        self.recent = [TranscriptLine(role="user", text="from db")]

    async def load_session(self, session_id: uuid.UUID, window: int) -> SessionSeed | None:
        self.loads += 1
        await asyncio.sleep(0)
        if session_id != self.sid:
            return None
        return SessionSeed(
            session_id, SessionStatus.ACTIVE, 1, "sales", "en", 5, self.last_event_id, self.recent
        )

    async def fetch_events(
        self, session_id: uuid.UUID, after: int, until: int | None = None, limit: int = 5000
    ) -> list[tuple[int, bytes]]:
        top = until if until is not None else max(self.events, default=0)
        return [(i, self.events[i]) for i in range(after + 1, top + 1) if i in self.events][:limit]


class Sink(Outbox):
    """An outbox that records what the hub put into it."""

    def __init__(self) -> None:
        super().__init__(self._never, 100, lambda: None)
        self.got: list[bytes] = []

    @staticmethod
    async def _never(data: bytes) -> None:
        raise AssertionError("unit tests do not send")

    def put(self, data: bytes, wire: bytes | None = None) -> bool:
        if wire is not None:
            assert wire.endswith(data)  # the shared, pre-framed copy of the same bytes
        self.got.append(data)
        return True


def sink() -> tuple[Outbox, list[bytes]]:
    box = Sink()
    return box, box.got


def msg(sid: uuid.UUID, event_id: int) -> BusMessage:
    return BusMessage(sid, Audience.PANELS, f"e{event_id}".encode(), event_id)


async def test_acquire_is_single_flight_and_unknown_is_none() -> None:
    sid = uuid.uuid4()
    store = FakeStore(sid)
    hub = SessionHub(store)
    a, b = await asyncio.gather(hub.acquire(sid), hub.acquire(sid))
    assert a is b and store.loads == 1
    assert await hub.acquire(uuid.uuid4()) is None


async def test_out_of_order_events_are_held_then_delivered_in_order() -> None:
    sid = uuid.uuid4()
    hub = SessionHub(FakeStore(sid, last_event_id=10))
    state = await hub.acquire(sid)
    assert state is not None
    box, got = sink()
    with hub.panel(state, box, lambda c, r: None) as sub:
        sub.go_live(10)
        for event_id in (12, 13, 11, 11, 14):
            hub.on_message(msg(sid, event_id))
    assert got == [b"e11", b"e12", b"e13", b"e14"]


def _fan_outs() -> int:
    return int(sample("gateway_fanout_seconds_count"))


async def test_each_event_to_its_panels_is_one_timed_fan_out() -> None:
    sid = uuid.uuid4()
    hub = SessionHub(FakeStore(sid))
    state = await hub.acquire(sid)
    assert state is not None
    before = _fan_outs()
    hub.on_message(msg(sid, 1))  # nobody watches yet: nothing handed out, nothing timed
    assert _fan_outs() == before
    boxes = [sink() for _ in range(3)]
    with (
        hub.panel(state, boxes[0][0], lambda c, r: None) as a,
        hub.panel(state, boxes[1][0], lambda c, r: None) as b,
        hub.panel(state, boxes[2][0], lambda c, r: None) as c,
    ):
        for sub in (a, b, c):
            sub.go_live(1)
        hub.on_message(msg(sid, 2))
        hub.on_message(msg(sid, 3))
    assert [got for _, got in boxes] == [[b"e2", b"e3"]] * 3
    assert _fan_outs() == before + 2


async def test_a_gap_that_does_not_fill_is_read_from_the_store() -> None:
    sid = uuid.uuid4()
    store = FakeStore(sid, last_event_id=0)
    store.events = {1: b"e1", 2: b"e2"}
    hub = SessionHub(store, gap_timeout_s=0.01)
    state = await hub.acquire(sid)
    assert state is not None
    box, got = sink()
    with hub.panel(state, box, lambda c, r: None) as sub:
        sub.go_live(0)
        hub.on_message(msg(sid, 3))  # 1 and 2 were published before this hub existed
        assert got == []
        await asyncio.sleep(0.1)
    assert got == [b"e1", b"e2", b"e3"]


async def test_resuming_panel_parks_live_events_until_backlog_is_sent() -> None:
    sid = uuid.uuid4()
    hub = SessionHub(FakeStore(sid, last_event_id=3))
    state = await hub.acquire(sid)
    assert state is not None
    box, got = sink()
    with hub.panel(state, box, lambda c, r: None) as sub:
        hub.on_message(msg(sid, 4))
        hub.on_message(msg(sid, 5))
        assert got == []  # parked while the transport reads the backlog
        got.append(b"backlog up to 4")
        sub.go_live(4)
        hub.on_message(msg(sid, 6))
    assert got == [b"backlog up to 4", b"e5", b"e6"]
    assert not state.panels


async def test_a_panel_flooded_while_joining_is_closed_and_sent_nothing_more() -> None:
    """Parking is bounded. A panel whose join outlasts MAX_PARKED events is closed to resume
    with ?after=, and gets nothing after that, not even once it goes live: events after the
    dropped ones would be a gap its resume point could not fill."""
    sid = uuid.uuid4()
    hub = SessionHub(FakeStore(sid))
    state = await hub.acquire(sid)
    assert state is not None
    box, got = sink()
    closes: list[CloseCode] = []
    with hub.panel(state, box, lambda c, r: closes.append(c)) as sub:
        for event_id in range(1, MAX_PARKED + 3):
            hub.on_message(msg(sid, event_id))
        assert closes == [CloseCode.TRY_AGAIN_LATER]
        assert sub.backlog == []
        sub.go_live(0)
        hub.on_message(msg(sid, MAX_PARKED + 3))
    assert got == []
    assert closes == [CloseCode.TRY_AGAIN_LATER]


async def test_newer_candidate_replaces_older_and_commands_reach_it() -> None:
    sid = uuid.uuid4()
    hub = SessionHub(FakeStore(sid))
    state = await hub.acquire(sid)
    assert state is not None
    closed: list[CloseCode] = []
    old_box, old_got = sink()
    new_box, new_got = sink()
    async with hub.candidate(state, old_box, lambda c, r: closed.append(c)) as old:
        old.go_live()
        async with hub.candidate(state, new_box, lambda c, r: None) as new:
            new.go_live()
            assert closed == [CloseCode.REPLACED]
            hub.on_message(BusMessage(sid, Audience.CANDIDATE, b"cmd"))
        assert state.candidate is None or state.candidate.outbox is old_box
    assert new_got == [b"cmd"] and old_got == []


async def test_candidate_frames_wait_for_the_greeting() -> None:
    """A command published while a candidate socket is being greeted (its `hello` needs a
    database read) reaches it after the greeting, not before: `hello` is always first."""
    sid = uuid.uuid4()
    hub = SessionHub(FakeStore(sid))
    state = await hub.acquire(sid)
    assert state is not None
    box, got = sink()
    async with hub.candidate(state, box, lambda c, r: None) as link:
        hub.on_message(BusMessage(sid, Audience.CANDIDATE, b"cmd1"))
        hub.on_message(BusMessage(sid, Audience.CANDIDATE, b"cmd2"))
        assert got == []
        box.put(b"hello")  # what the transport queues first
        link.go_live()
        hub.on_message(BusMessage(sid, Audience.CANDIDATE, b"cmd3"))
    assert got == [b"hello", b"cmd1", b"cmd2", b"cmd3"]


async def test_a_candidate_flooded_while_greeted_is_closed_not_grown() -> None:
    sid = uuid.uuid4()
    hub = SessionHub(FakeStore(sid))
    state = await hub.acquire(sid)
    assert state is not None
    box, got = sink()
    closes: list[CloseCode] = []
    async with hub.candidate(state, box, lambda c, r: closes.append(c)) as link:
        for i in range(MAX_PARKED + 3):
            hub.on_message(BusMessage(sid, Audience.CANDIDATE, b"cmd%d" % i))
        assert closes == [CloseCode.TRY_AGAIN_LATER]
        assert link.parked == []
        link.go_live()  # the greeting finished after all: still nothing, it is reconnecting
        hub.on_message(BusMessage(sid, Audience.CANDIDATE, b"later"))
    assert got == []
    assert closes == [CloseCode.TRY_AGAIN_LATER]


async def test_end_delivers_then_closes_everyone_with_4000() -> None:
    sid = uuid.uuid4()
    bus = LocalBus()
    hub = SessionHub(FakeStore(sid))
    bus.subscribe(hub.on_message)
    state = await hub.acquire(sid)
    assert state is not None
    closes: list[CloseCode] = []
    pbox, pgot = sink()
    cbox, cgot = sink()
    with hub.panel(state, pbox, lambda c, r: closes.append(c)) as sub:
        sub.go_live(0)
        async with hub.candidate(state, cbox, lambda c, r: closes.append(c)) as link:
            link.go_live()
            bus.publish(BusMessage(sid, Audience.END, b"ended", 1))
    assert pgot == [b"ended"] and cgot == [b"ended"]
    assert closes == [CloseCode.SESSION_ENDED, CloseCode.SESSION_ENDED]
    assert state.ended


async def test_window_tracks_messages_and_reloads_when_another_writer_interleaves() -> None:
    sid = uuid.uuid4()
    store = FakeStore(sid)
    hub = SessionHub(store, window=3)
    state = await hub.acquire(sid)
    assert state is not None
    for i, count in ((1, 6), (2, 7), (3, 8)):
        hub.record_transcript(state, TranscriptLine(role="user", text=f"m{i}"), count)
    assert [line.text for line in await hub.window(sid)] == ["m1", "m2", "m3"]
    hub.record_transcript(state, TranscriptLine(role="user", text="m5"), 10)  # 9 came elsewhere
    assert [line.text for line in await hub.window(sid)] == ["from db"]
    assert store.loads == 2


async def test_idle_sessions_are_evicted() -> None:
    sid = uuid.uuid4()
    hub = SessionHub(FakeStore(sid), idle_ttl_s=1)
    state = await hub.acquire(sid)
    assert state is not None and len(hub) == 1
    assert hub.evict_idle(now=state.last_active + 0.5) == 0
    assert hub.evict_idle(now=state.last_active + 2) == 1
    assert hub.get(sid) is None
