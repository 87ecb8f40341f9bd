"""A scripted stand-in for the ElevenLabs conversation WebSocket and its real-time monitor socket.

It ships with the product for `interview-gateway demo` (VOICE_AGENT_PROVIDER=offline: the
candidate page talks to it instead of ElevenLabs) and is the tests' fake
(`tests/fakes/fake_elevenlabs_conversation.py`).

    server = FakeConversationServer(load_script(Path("seeds/transcripts/strong.json")))
    await server.start()                      # 127.0.0.1, a free port; server.ws_url
    # a candidate opens {ws_url}/v1/convai/conversation?agent_id=…[&conversation_signature=…]
    # monitor mode     {ws_url}/v1/convai/conversations/{conversation_id}/monitor
    conv = await server.wait_conversation()   # the first conversation, once it started
    conv.contextual_updates                   # texts received, from either socket
    await server.stop()

The conversation socket speaks the ElevenLabs wire format (the SDK's subprotocol `convai` is
accepted): it waits briefly for `conversation_initiation_client_data`, answers with
`conversation_initiation_metadata`, then plays the script — `agent_response` for assistant lines,
`user_transcript` for user lines, an `agent_response_correction` after a line that has a
`corrected` text — and pings every `ping_interval_s` (the `pong`s are recorded). Everything the
client sends is recorded; `contextual_update` texts in `contextual_updates`. A client that closes
ends the conversation ("client_closed"); `end_after_script` ends it after the last line.

The monitor socket (`xi-api-key` header) first replays the conversation's last 100 events, then
streams new ones (never pings), and takes the control commands
`{"command_type": "contextual_update", "parameters": {"contextual_update": text}}` and
`{"command_type": "end_call"}` (which closes the conversation with 1000, reason "end_call").

Faults (`Faults`): a delay before each event, garbage (non-JSON) frames, a dropped connection
(aborted without a close frame) after N events; on the monitor, duplicated and out-of-order
(neighbours swapped) events and a drop. With `signatures` (a `SignatureBook` shared with the HTTP
fake, which issues them in signed URLs) the conversation socket requires a valid
`conversation_signature` and refuses the upgrade with 403 otherwise; without, any agent id opens.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson
from aiohttp import WSMsgType, web


class SignatureBook(Protocol):
    """Signed-URL signatures (the tests' HTTP fake issues them): None means it opens."""

    def redeem(self, token: str, agent_id: str) -> str | None: ...

__all__ = [
    "Conversation",
    "FakeConversationServer",
    "Faults",
    "ScriptLine",
    "load_script",
    "script_of",
]

Role = Literal["user", "assistant"]
MONITOR_CACHE = 100  # events a new monitor socket gets replayed (ElevenLabs: "about 100")


@dataclass(frozen=True, slots=True)
class ScriptLine:
    role: Role
    text: str
    corrected: str | None = None  # assistant lines: cut off, then corrected to this


def load_script(path: Path) -> list[ScriptLine]:
    """A seed transcript (`{"messages": [{"role", "text", "corrected"?}]}`) or a bare list."""
    data = orjson.loads(path.read_bytes())
    items = data.get("messages") if isinstance(data, dict) else data
    if not isinstance(items, list) or not items:
        raise ValueError(f"{path}: no messages")
    lines: list[ScriptLine] = []
    for n, item in enumerate(items, 1):
        if not isinstance(item, dict) or item.get("role") not in ("user", "assistant"):
            raise ValueError(f"{path}: message {n} needs role user or assistant")
        text, corrected = item.get("text"), item.get("corrected")
        if not isinstance(text, str) or not text:
            raise ValueError(f"{path}: message {n} needs a text")
        wrong = item["role"] != "assistant" or not isinstance(corrected, str)
        if corrected is not None and wrong:
            raise ValueError(f"{path}: message {n}: only assistant lines have a corrected text")
        lines.append(ScriptLine(item["role"], text, corrected))
    return lines


@dataclass(frozen=True, slots=True)
class Faults:
    delay_s: float = 0.0  # extra pause before each scripted event
    garbage_every: int | None = None  # a non-JSON frame before every Nth scripted event
    drop_after: int | None = None  # abort the conversation socket after N scripted events
    monitor_duplicates: bool = False  # every monitor event sent twice
    monitor_out_of_order: bool = False  # neighbouring monitor events swapped
    monitor_drop_after: int | None = None  # abort the first monitor socket after N events


@dataclass(eq=False)
class Conversation:
    conversation_id: str
    agent_id: str
    initiation: dict[str, Any] | None = None  # conversation_initiation_client_data
    events: list[dict[str, Any]] = field(default_factory=list)  # text events sent (monitorable)
    client_events: list[dict[str, Any]] = field(default_factory=list)
    contextual_updates: list[str] = field(default_factory=list)
    pongs: list[int] = field(default_factory=list)
    monitor_commands: list[dict[str, Any]] = field(default_factory=list)
    ended: str | None = None  # client_closed, end_call, script_done, dropped
    script_done: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)  # set: the script plays
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    _ws: web.WebSocketResponse | None = None
    _monitors: set[asyncio.Queue[dict[str, Any] | None]] = field(default_factory=set)
    _tick: asyncio.Event = field(default_factory=asyncio.Event)

    async def until(self, check: Callable[[Conversation], bool]) -> None:
        """Wait until `check(self)` holds after something was recorded (give up after 5 s)."""
        async with asyncio.timeout(5.0):
            while not check(self):
                await self._tick.wait()

    def _touch(self) -> None:
        self._tick.set()
        self._tick = asyncio.Event()


def _dumps(event: dict[str, Any]) -> str:
    return orjson.dumps(event).decode()


class FakeConversationServer:
    def __init__(
        self,
        script: list[ScriptLine],
        *,
        api_key: str = "xi-test-key",
        signatures: SignatureBook | None = None,
        interval_s: float = 0.01,
        ping_interval_s: float | None = None,
        init_wait_s: float = 0.2,
        end_after_script: bool = False,
        autoplay: bool = True,
        faults: Faults | None = None,
    ) -> None:
        self.script = list(script)
        self.api_key = api_key
        self.signatures = signatures
        self.interval_s = interval_s
        self.ping_interval_s = ping_interval_s
        self.init_wait_s = init_wait_s
        self.end_after_script = end_after_script
        self.autoplay = autoplay
        self.faults = faults or Faults()
        self.conversations: dict[str, Conversation] = {}
        self.refusals: list[tuple[int, str]] = []  # upgrades refused: (status, why)
        self.base_url = ""
        self.ws_url = ""
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = asyncio.Condition()
        self._monitor_dropped = False

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/v1/convai/conversation", self._conversation)
        app.router.add_get("/v1/convai/conversations/{conversation_id}/monitor", self._monitor)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def url(self, agent_id: str, signature: str | None = None) -> str:
        """The conversation URL a client opens (what a signed URL looks like, signed or not)."""
        query = f"agent_id={agent_id}"
        if signature is not None:
            query += f"&conversation_signature={signature}"
        return f"{self.ws_url}/v1/convai/conversation?{query}"

    def monitor_url(self, conversation_id: str) -> str:
        return f"{self.ws_url}/v1/convai/conversations/{conversation_id}/monitor"

    async def wait_conversation(self, index: int = 0) -> Conversation:
        """The `index`-th conversation (0: the first), once it has started (give up after 5 s)."""
        async with asyncio.timeout(5.0), self._started:
            await self._started.wait_for(lambda: len(self.conversations) > index)
            return list(self.conversations.values())[index]

    async def end_call(self, conversation: Conversation, reason: str = "end_call") -> None:
        """End a conversation from the vendor's side (as a monitor `end_call` does)."""
        await self._end(conversation, reason)

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- the conversation socket -------------------------------------------------------------

    async def _conversation(self, request: web.Request) -> web.StreamResponse:
        agent_id = request.query.get("agent_id")
        if not agent_id:
            return self._refuse(400, "agent_id is required")
        if self.signatures is not None:
            why = self.signatures.redeem(request.query.get("conversation_signature", ""), agent_id)
            if why is not None:
                return self._refuse(403, why)
        ws = web.WebSocketResponse(protocols=("convai",), heartbeat=None)
        await ws.prepare(request)
        conv = Conversation(f"conv_{next(self._ids):04d}", agent_id, _ws=ws)
        if self.autoplay:
            conv.go.set()
        first = await self._initiation(ws, conv)
        self._emit(conv, {
            "type": "conversation_initiation_metadata",
            "conversation_initiation_metadata_event": {
                "conversation_id": conv.conversation_id,
                "agent_output_audio_format": "pcm_16000",
                "user_input_audio_format": "pcm_16000",
            },
        })
        await self._send(conv, conv.events[-1])
        async with self._started:
            self.conversations[conv.conversation_id] = conv
            self._started.notify_all()
        player = self._spawn(self._play(conv))
        pinger = self._spawn(self._ping(conv)) if self.ping_interval_s else None
        try:
            if first is not None:
                self._record(conv, first)
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    self._record(conv, msg.data)
        finally:
            player.cancel()
            if pinger is not None:
                pinger.cancel()
            await self._end(conv, "client_closed")
        return ws

    def _refuse(self, status: int, why: str) -> web.Response:
        self.refusals.append((status, why))
        return web.json_response({"detail": why}, status=status)

    async def _initiation(self, ws: web.WebSocketResponse, conv: Conversation) -> str | None:
        """Wait briefly for conversation_initiation_client_data; return any other first frame."""
        try:
            msg = await ws.receive(timeout=self.init_wait_s)
        except TimeoutError:
            return None  # raw clients may not send one
        if msg.type is not WSMsgType.TEXT:
            return None
        try:
            data = orjson.loads(msg.data)
        except orjson.JSONDecodeError:
            return str(msg.data)
        if isinstance(data, dict) and data.get("type") == "conversation_initiation_client_data":
            conv.initiation = data
            conv.client_events.append(data)
            return None
        return str(msg.data)

    def _record(self, conv: Conversation, raw: str) -> None:
        self._parse_client_event(conv, raw)
        conv._touch()

    def _parse_client_event(self, conv: Conversation, raw: str) -> None:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            conv.client_events.append({"invalid": raw})
            return
        if not isinstance(data, dict):
            conv.client_events.append({"invalid": raw})
            return
        conv.client_events.append(data)
        kind = data.get("type")
        if kind == "pong" and isinstance(data.get("event_id"), int):
            conv.pongs.append(data["event_id"])
        elif kind == "contextual_update" and isinstance(data.get("text"), str):
            conv.contextual_updates.append(data["text"])

    async def _send(self, conv: Conversation, event: dict[str, Any] | str) -> None:
        ws = conv._ws
        if ws is None or ws.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await ws.send_str(event if isinstance(event, str) else _dumps(event))

    def _emit(self, conv: Conversation, event: dict[str, Any]) -> None:
        """Keep a text event for monitors (replay cache) and hand it to the live ones."""
        conv.events.append(event)
        for queue in conv._monitors:
            queue.put_nowait(event)

    async def _play(self, conv: Conversation) -> None:
        await conv.go.wait()
        event_ids = itertools.count(1)
        faults = self.faults
        sent = 0
        for line in self.script:
            await asyncio.sleep(self.interval_s + faults.delay_s)
            if faults.garbage_every and (sent + 1) % faults.garbage_every == 0:
                await self._send(conv, "\x00garbage{not json")
            events = [self._line_event(line, next(event_ids))]
            if line.corrected is not None:
                events.append({
                    "type": "agent_response_correction",
                    "agent_response_correction_event": {
                        "original_agent_response": line.text,
                        "corrected_agent_response": line.corrected,
                        "event_id": next(event_ids),
                    },
                })
            for event in events:
                self._emit(conv, event)
                await self._send(conv, event)
            sent += 1
            if faults.drop_after is not None and sent >= faults.drop_after:
                ws = conv._ws
                if ws is not None and ws._req is not None and ws._req.transport is not None:
                    ws._req.transport.abort()  # no close frame: a network failure
                conv.ended = conv.ended or "dropped"
                return
        conv.script_done.set()
        if self.end_after_script:
            await self._end(conv, "script_done")

    @staticmethod
    def _line_event(line: ScriptLine, event_id: int) -> dict[str, Any]:
        if line.role == "user":
            return {
                "type": "user_transcript",
                "user_transcription_event": {"user_transcript": line.text, "event_id": event_id},
            }
        return {
            "type": "agent_response",
            "agent_response_event": {"agent_response": line.text, "event_id": event_id},
        }

    async def _ping(self, conv: Conversation) -> None:
        assert self.ping_interval_s is not None
        for event_id in itertools.count(1):
            await asyncio.sleep(self.ping_interval_s)
            await self._send(conv, {"type": "ping", "ping_event": {"event_id": event_id,
                                                                   "ping_ms": 20}})

    async def _end(self, conv: Conversation, reason: str) -> None:
        if conv.ended is None:
            conv.ended = reason
        ws, conv._ws = conv._ws, None
        if ws is not None and not ws.closed:
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.close(code=1000, message=reason.encode())
        for queue in conv._monitors:
            queue.put_nowait(None)
        conv.finished.set()
        conv._touch()

    # -- the monitor socket ------------------------------------------------------------------

    async def _monitor(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("xi-api-key") != self.api_key:
            return self._refuse(401, "Invalid API key")
        conv = self.conversations.get(request.match_info["conversation_id"])
        if conv is None or conv.ended is not None:
            return self._refuse(404, "conversation not found or not active")
        ws = web.WebSocketResponse(heartbeat=None)
        await ws.prepare(request)
        queue: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        for event in conv.events[-MONITOR_CACHE:]:
            queue.put_nowait(event)
        conv._monitors.add(queue)
        writer = self._spawn(self._monitor_writer(ws, queue))
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._monitor_command(conv, msg.data)
        finally:
            conv._monitors.discard(queue)
            writer.cancel()
        return ws

    async def _monitor_writer(
        self, ws: web.WebSocketResponse, queue: asyncio.Queue[dict[str, Any] | None]
    ) -> None:
        """Stream events to one monitor, with its faults: each twice, or neighbours swapped."""
        faults = self.faults
        sent = 0

        async def out(event: dict[str, Any]) -> bool:
            nonlocal sent
            for _ in range(2 if faults.monitor_duplicates else 1):
                await ws.send_str(_dumps(event))
            sent += 1
            if (
                faults.monitor_drop_after is not None
                and sent >= faults.monitor_drop_after
                and not self._monitor_dropped
            ):
                self._monitor_dropped = True  # once: a reconnected monitor is replayed, then live
                if ws._req is not None and ws._req.transport is not None:
                    ws._req.transport.abort()
                return False
            return True

        async def following() -> dict[str, Any] | Literal[False] | None:
            """The next event if one comes soon (False: none did; None: the end)."""
            try:
                return await asyncio.wait_for(queue.get(), 0.05)
            except TimeoutError:
                return False

        with contextlib.suppress(ConnectionError, RuntimeError):
            while True:
                event = await queue.get()
                batch: list[dict[str, Any]] = [] if event is None else [event]
                ended = event is None
                if event is not None and faults.monitor_out_of_order:
                    nxt = await following()
                    if nxt is None:
                        ended = True
                    elif nxt is not False:
                        batch.insert(0, nxt)  # the later event first
                for item in batch:
                    if not await out(item):
                        return
                if ended:
                    await ws.close(code=1000, message=b"conversation ended")
                    return

    async def _monitor_command(self, conv: Conversation, raw: str) -> None:
        try:
            await self._apply_monitor_command(conv, raw)
        finally:
            conv._touch()

    async def _apply_monitor_command(self, conv: Conversation, raw: str) -> None:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            conv.monitor_commands.append({"invalid": raw})
            return
        if not isinstance(data, dict):
            conv.monitor_commands.append({"invalid": raw})
            return
        conv.monitor_commands.append(data)
        kind = data.get("command_type")
        params = data.get("parameters")
        if kind == "contextual_update" and isinstance(params, dict):
            text = params.get("contextual_update")
            if isinstance(text, str):
                conv.contextual_updates.append(text)
        elif kind == "end_call":
            await self._end(conv, "end_call")


def script_of(*lines: tuple[Role, str] | tuple[Role, str, str]) -> list[ScriptLine]:
    """A script from (role, text[, corrected]) tuples (tests)."""
    return [ScriptLine(*line) for line in lines]
