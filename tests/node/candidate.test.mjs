// Unit tests of handlers/static/client/candidate.js (Node's test runner: `node --test tests/node/`).
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  PROTOCOL,
  VERSION,
  candidateSocketUrl,
  commandText,
  connectCandidate,
} from "../../handlers/static/client/candidate.js";
import { FakeClock, MemoryStorage, fakeSocketClass, flush } from "./fakes.mjs";

const SID = "3fe18572-0000-4000-8000-000000000001";

function setup(overrides = {}) {
  const Socket = overrides.Socket ?? fakeSocketClass();
  const clock = overrides.clock ?? new FakeClock();
  const storage = overrides.storage === undefined ? new MemoryStorage() : overrides.storage;
  const statuses = [];
  const errors = [];
  const commands = [];
  const client = connectCandidate({
    gatewayUrl: "https://gw.example.test/base/",
    sessionId: SID,
    token: "tok.en",
    WebSocketImpl: Socket,
    storage,
    random: overrides.random ?? (() => 0.5),
    now: clock.now,
    setTimeout: clock.setTimeout,
    clearTimeout: clock.clearTimeout,
    fetch: overrides.fetch ?? null,
    onStatus: (status, detail) => statuses.push([status, detail]),
    onError: (err) => errors.push(err),
    onCommand: (command, info) => commands.push([command.command_id, info.text]),
    ...(overrides.options ?? {}),
  });
  return { client, Socket, clock, storage, statuses, errors, commands };
}

/** Open the pending socket and greet it. */
function greet(ctx, lastSeq = 0, round = 1) {
  const socket = ctx.Socket.last();
  socket.accept();
  socket.hello(lastSeq, round);
  return socket;
}

function ack(socket, seq, extra = {}) {
  socket.deliver({ type: "ack", seq, message_id: `m${seq}`, duplicate: false, ...extra });
}

const command = (id, type = "curveball_inject", payload = { curveball: "CFO wants quotes", label: "Budget" }) => ({
  type: "command",
  command_id: id,
  command_type: type,
  payload,
  source: "ai_suggested",
  created_at: "2026-11-24T10:16:40.002Z",
});

describe("module surface", () => {
  test("exports a version and the protocol it speaks", () => {
    assert.match(VERSION, /^\d+\.\d+\.\d+$/);
    assert.equal(PROTOCOL, 1);
  });

  test("socket URL: ws(s) scheme, base path kept, token in the query", () => {
    assert.equal(
      candidateSocketUrl("https://gw.example.test/base/", "a b", "t&k"),
      "wss://gw.example.test/base/ws/candidate/a%20b?token=t%26k",
    );
    assert.equal(
      candidateSocketUrl("http://127.0.0.1:8080", "s1", "t"),
      "ws://127.0.0.1:8080/ws/candidate/s1?token=t",
    );
    assert.equal(candidateSocketUrl("wss://h", "s", "t"), "wss://h/ws/candidate/s?token=t");
  });

  test("command mapping follows docs/protocol.md", () => {
    assert.equal(commandText(command("c")), "[Curveball: Budget] CFO wants quotes");
    assert.equal(
      commandText(command("c", "difficulty_change", { context_injection: "Push on numbers" })),
      "[Interviewer guidance] Push on numbers",
    );
    assert.equal(commandText(command("c", "context_update", { text: "Hiring freeze" })), "Hiring freeze");
    assert.equal(commandText(command("c", "end_call", { reason: "done" })), null);
    assert.equal(commandText(command("c", "something_new", { other: 1 })), null);
  });
});

describe("delivery", () => {
  test("status goes connecting -> live; frames wait for hello and number after last_seq", () => {
    const ctx = setup();
    assert.deepEqual(ctx.statuses.map((s) => s[0]), ["connecting"]);
    assert.equal(ctx.Socket.last().url, "wss://gw.example.test/base/ws/candidate/" + SID + "?token=tok.en");
    ctx.client.sendTranscript("assistant", "Hi, Sarah Chen here.");
    ctx.client.sendTranscript("user", "Hello!");
    const socket = ctx.Socket.last();
    socket.accept();
    assert.equal(socket.sent.length, 0, "nothing goes out before hello");
    socket.hello(11);
    assert.equal(ctx.client.status, "live");
    assert.deepEqual(
      socket.transcripts().map((f) => [f.seq, f.role, f.text, f.round_number]),
      [
        [12, "assistant", "Hi, Sarah Chen here.", 1],
        [13, "user", "Hello!", 1],
      ],
    );
    assert.equal(socket.sent[0].timestamp, "2026-11-24T10:00:00.000Z");
    assert.equal(socket.sent[0].ref, "s12");
  });

  test("ack window: at most maxInFlight unacked frames on the wire", () => {
    const ctx = setup({ options: { maxInFlight: 3 } });
    const socket = greet(ctx);
    for (let i = 1; i <= 5; i += 1) ctx.client.sendTranscript("user", `message ${i}`);
    assert.deepEqual(socket.transcripts().map((f) => f.seq), [1, 2, 3]);
    ack(socket, 1);
    assert.deepEqual(socket.transcripts().map((f) => f.seq), [1, 2, 3, 4]);
    ack(socket, 3); // acks may come in any order; the window counts what is unacked
    assert.deepEqual(socket.transcripts().map((f) => f.seq), [1, 2, 3, 4, 5]);
    ack(socket, 2);
    ack(socket, 4);
    ack(socket, 5);
    assert.deepEqual(ctx.client.unacked, []);
  });

  test("after a drop every unacked frame is resent in order, then new ones follow", () => {
    const ctx = setup();
    const first = greet(ctx);
    for (const t of ["one", "two", "three"]) ctx.client.sendTranscript("user", t);
    ack(first, 1);
    first.serverClose(1006);
    assert.equal(ctx.client.status, "reconnecting");
    ctx.client.sendTranscript("assistant", "four"); // said while offline
    ctx.clock.fireNext();
    const second = greet(ctx, 2); // the gateway had stored seq 2 (its ack was lost)
    assert.deepEqual(
      second.transcripts().map((f) => [f.seq, f.text]),
      [
        [2, "two"],
        [3, "three"],
        [4, "four"],
      ],
    );
    ack(second, 2, { duplicate: true });
    ack(second, 3);
    ack(second, 4);
    assert.deepEqual(ctx.client.unacked, []);
    assert.deepEqual(
      ctx.statuses.map((s) => s[0]),
      ["connecting", "live", "reconnecting", "live"],
    );
  });

  test("resume: numbering continues after the gateway's last_seq, even if we knew less", () => {
    const storage = new MemoryStorage();
    const a = setup({ storage });
    const s1 = greet(a, 0);
    a.client.sendTranscript("user", "first");
    ack(s1, 1);
    a.client.close();
    const b = setup({ storage });
    const s2 = greet(b, 40); // another client of this session went on meanwhile
    b.client.sendTranscript("user", "next");
    assert.deepEqual(s2.transcripts().map((f) => f.seq), [41]);
  });

  test("a new round starts numbering after that round's last_seq", () => {
    const storage = new MemoryStorage();
    const a = setup({ storage });
    const s1 = greet(a, 0, 1);
    a.client.sendTranscript("user", "round one");
    ack(s1, 1);
    s1.serverClose(1001);
    a.clock.fireNext();
    const s2 = greet(a, 0, 2);
    a.client.sendTranscript("user", "round two");
    assert.deepEqual(s2.transcripts().map((f) => [f.seq, f.round_number]), [[1, 2]]);
  });

  test("a page reload resends what was unacked, from sessionStorage", () => {
    const storage = new MemoryStorage();
    const a = setup({ storage });
    const s1 = greet(a, 5);
    a.client.sendTranscript("assistant", "six");
    a.client.sendTranscript("user", "seven");
    ack(s1, 6);
    a.client.sendTranscript("user", "eight"); // queued while the socket... still sent
    const before = s1.transcripts();
    assert.equal(before.length, 3);
    // the page is reloaded: the old module instance is simply gone, a new one starts
    const b = setup({ storage });
    assert.deepEqual(b.client.unacked.map((f) => [f.seq, f.text]), [
      [7, "seven"],
      [8, "eight"],
    ]);
    const s2 = greet(b, 6);
    assert.deepEqual(s2.transcripts(), before.slice(1), "same seq, text and timestamp");
    b.client.sendTranscript("assistant", "nine");
    assert.equal(s2.transcripts().at(-1).seq, 9);
    for (const seq of [7, 8, 9]) ack(s2, seq);
    const stored = JSON.parse(storage.getItem(`interview-gateway:candidate:${SID}`));
    assert.deepEqual(stored.queue, []);
  });

  test("frames said before the very first hello are kept across a reload too", () => {
    const storage = new MemoryStorage();
    const a = setup({ storage });
    a.client.sendTranscript("assistant", "early words");
    const b = setup({ storage });
    const socket = greet(b, 0);
    assert.deepEqual(socket.transcripts().map((f) => [f.seq, f.text]), [[1, "early words"]]);
  });

  test("works without storage (memory only)", () => {
    const ctx = setup({ storage: null });
    const socket = greet(ctx);
    ctx.client.sendTranscript("user", "hi");
    assert.equal(socket.transcripts().length, 1);
  });

  test("ordering rule: after `unavailable` nothing new is sent; reconnect, resend in order", () => {
    const ctx = setup();
    const first = greet(ctx);
    for (const t of ["a", "b", "c"]) ctx.client.sendTranscript("user", t);
    ack(first, 1);
    first.deliver({ type: "error", code: "unavailable", message: "frame not stored", ref: "s2" });
    ctx.client.sendTranscript("user", "d");
    assert.equal(first.transcripts().length, 3, "no new frame after the error");
    assert.equal(first.closedWith.code, 1000, "the client closed the socket itself");
    assert.equal(ctx.client.status, "reconnecting");
    ctx.clock.fireNext();
    // seq 3 may have committed in a later batch (last_seq 3): it is resent all the same and
    // acked as a duplicate, since frames below last_seq are not known to be stored.
    const second = greet(ctx, 3);
    assert.deepEqual(second.transcripts().map((f) => [f.seq, f.text]), [
      [2, "b"],
      [3, "c"],
      [4, "d"],
    ]);
  });

  test("a 1011 close after a failed commit: reconnect and resend", () => {
    const ctx = setup();
    const first = greet(ctx);
    ctx.client.sendTranscript("user", "x");
    first.serverClose(1011, "commit failed");
    assert.equal(ctx.clock.pending().length, 1);
    ctx.clock.fireNext();
    const second = greet(ctx, 0);
    assert.deepEqual(second.transcripts().map((f) => f.seq), [1]);
  });

  test("rate_limited also pauses and resends", () => {
    const ctx = setup();
    const first = greet(ctx);
    ctx.client.sendTranscript("user", "x");
    first.deliver({ type: "error", code: "rate_limited", message: "slow down" });
    ctx.clock.fireNext();
    const second = greet(ctx);
    assert.deepEqual(second.transcripts().map((f) => f.text), ["x"]);
  });

  test("a refused frame (seq_conflict) is dropped and reported, the rest goes on", () => {
    const ctx = setup();
    const socket = greet(ctx);
    ctx.client.sendTranscript("user", "x");
    ctx.client.sendTranscript("user", "y");
    socket.deliver({ type: "error", code: "seq_conflict", message: "other content", ref: "s1" });
    assert.deepEqual(ctx.client.unacked.map((f) => f.seq), [2]);
    assert.equal(ctx.errors.length, 1);
    assert.equal(ctx.errors[0].code, "seq_conflict");
    assert.equal(ctx.errors[0].frame.text, "x");
    assert.equal(ctx.client.status, "live");
  });

  test("no hello within the timeout: drop and reconnect", () => {
    const ctx = setup({ options: { helloTimeoutMs: 1000 } });
    const first = ctx.Socket.last();
    first.accept();
    ctx.clock.advance(1000);
    assert.equal(first.closedWith.code, 1000);
    assert.equal(ctx.client.status, "reconnecting");
  });

  test("an over-long text is cut to maxTextChars and reported", () => {
    const ctx = setup({ options: { maxTextChars: 10 } });
    const socket = greet(ctx);
    ctx.client.sendTranscript("user", "abcdefghijklmnop");
    assert.equal(socket.transcripts()[0].text, "abcdefghi…");
    assert.equal(ctx.errors[0].code, "text_truncated");
  });

  test("bad roles throw; empty text is ignored", () => {
    const ctx = setup();
    assert.throws(() => ctx.client.sendTranscript("agent", "x"), TypeError);
    assert.equal(ctx.client.sendTranscript("user", "   "), null);
    assert.deepEqual(ctx.client.unacked, []);
  });
});

describe("backoff", () => {
  function failAll(ctx, n) {
    const delays = [];
    for (let i = 0; i < n; i += 1) {
      ctx.Socket.last().refuse();
      delays.push(ctx.clock.fireNext());
    }
    return delays;
  }

  test("exponential, capped, with the upper jitter bound", () => {
    const ctx = setup({ random: () => 1 });
    assert.deepEqual(failAll(ctx, 8), [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
  });

  test("jitter: never below half the ceiling", () => {
    const ctx = setup({ random: () => 0 });
    assert.deepEqual(failAll(ctx, 7), [250, 500, 1000, 2000, 4000, 7500, 7500]);
  });

  test("jitter spreads clients: different random draws, different delays", () => {
    const draws = [0.1, 0.9, 0.3];
    const ctx = setup({ random: () => draws.shift() ?? 0.5 });
    const delays = failAll(ctx, 3);
    assert.deepEqual(delays, [275, 950, 1300]);
  });

  test("resets after a hello", () => {
    const ctx = setup({ random: () => 1 });
    failAll(ctx, 4);
    greet(ctx).serverClose(1006);
    assert.deepEqual(ctx.clock.pending(), [500]);
  });

  test("1008 (abuse) backs off from the cap", () => {
    const ctx = setup({ random: () => 1 });
    greet(ctx).serverClose(1008, "rate limit exceeded");
    assert.deepEqual(ctx.clock.pending(), [15000]);
  });
});

describe("terminal closes", () => {
  test("4000 session ended: status ended, no reconnect, storage cleared", () => {
    const ctx = setup();
    const socket = greet(ctx);
    ctx.client.sendTranscript("user", "bye");
    socket.serverClose(4000, "session ended");
    assert.equal(ctx.client.status, "ended");
    assert.equal(ctx.statuses.at(-1)[1].reason, "session_ended");
    assert.deepEqual(ctx.clock.pending(), []);
    assert.equal(ctx.storage.getItem(`interview-gateway:candidate:${SID}`), null);
    assert.equal(ctx.Socket.sockets.length, 1);
  });

  test("session_ended frame ends too", () => {
    const ctx = setup();
    greet(ctx).deliver({ type: "session_ended", ended_at: "2026-11-24T11:00:00Z" });
    assert.equal(ctx.client.status, "ended");
  });

  for (const [code, reason] of [
    [4001, "replaced"],
    [4002, "token_expired"],
    [1003, "unsupported_data"],
    [1009, "message_too_big"],
  ]) {
    test(`${code} is terminal (${reason}); unacked frames stay stored`, () => {
      const ctx = setup();
      const socket = greet(ctx);
      ctx.client.sendTranscript("user", "kept");
      socket.serverClose(code);
      assert.equal(ctx.client.status, "ended");
      assert.equal(ctx.statuses.at(-1)[1].reason, reason);
      assert.deepEqual(ctx.clock.pending(), []);
      const stored = JSON.parse(ctx.storage.getItem(`interview-gateway:candidate:${SID}`));
      assert.equal(stored.queue.length, 1);
    });
  }

  for (const code of [1000, 1001, 1006, 1011, 1013]) {
    test(`${code} reconnects`, () => {
      const ctx = setup();
      greet(ctx).serverClose(code);
      assert.equal(ctx.client.status, "reconnecting");
      assert.equal(ctx.clock.pending().length, 1);
    });
  }

  test("a refused upgrade with a bad token ends after the REST probe says 401", async () => {
    const calls = [];
    const fetch = async (url, init) => {
      calls.push([url, init.headers.Authorization]);
      return { status: 401, ok: false, json: async () => ({}) };
    };
    const ctx = setup({ fetch });
    ctx.Socket.last().refuse();
    ctx.clock.fireNext();
    ctx.Socket.last().refuse();
    await flush();
    assert.equal(ctx.client.status, "ended");
    assert.equal(ctx.statuses.at(-1)[1].reason, "unauthorized");
    assert.deepEqual(calls, [[`https://gw.example.test/base/api/sessions/${SID}`, "Bearer tok.en"]]);
  });

  test("the probe finding an ended session ends; an unreachable one keeps retrying", async () => {
    let answer = async () => {
      throw new Error("offline");
    };
    const ctx = setup({ fetch: (...args) => answer(...args) });
    ctx.Socket.last().refuse();
    ctx.clock.fireNext();
    ctx.Socket.last().refuse();
    await flush();
    assert.equal(ctx.client.status, "connecting");
    assert.equal(ctx.clock.pending().length, 1);
    answer = async () => ({ status: 200, ok: true, json: async () => ({ status: "completed" }) });
    ctx.clock.fireNext();
    ctx.Socket.last().refuse();
    await flush();
    assert.equal(ctx.client.status, "ended");
    assert.equal(ctx.statuses.at(-1)[1].reason, "session_ended");
  });

  test("close(): ends, closes the socket, no reconnect", () => {
    const ctx = setup();
    const socket = greet(ctx);
    ctx.client.close();
    assert.equal(socket.closedWith.code, 1000);
    assert.equal(ctx.client.status, "ended");
    assert.deepEqual(ctx.clock.pending(), []);
  });
});

describe("commands and the ElevenLabs SDK", () => {
  function fakeConversation() {
    const conv = {
      updates: [],
      ended: 0,
      sendContextualUpdate(text) {
        conv.updates.push(text);
      },
      async endSession() {
        conv.ended += 1;
      },
    };
    return conv;
  }
  const acks = (socket) => socket.sent.filter((f) => f.type === "command_ack").map((f) => f.command_id);

  test("a command becomes sendContextualUpdate, acked once applied, once per id", async () => {
    const ctx = setup();
    const conv = fakeConversation();
    ctx.client.attachElevenLabs(conv);
    const socket = greet(ctx);
    socket.deliver(command("c1"));
    await flush();
    assert.deepEqual(conv.updates, ["[Curveball: Budget] CFO wants quotes"]);
    assert.deepEqual(acks(socket), ["c1"]);
    assert.deepEqual(ctx.commands, [["c1", "[Curveball: Budget] CFO wants quotes"]]);
    socket.deliver(command("c1")); // the same command again on this socket
    await flush();
    assert.deepEqual(conv.updates.length, 1);
    assert.deepEqual(acks(socket), ["c1"]);
    // a reconnect: the gateway resends what it has not recorded as delivered
    socket.serverClose(1006);
    ctx.clock.fireNext();
    const second = greet(ctx);
    second.deliver(command("c1"));
    await flush();
    assert.equal(conv.updates.length, 1, "never injected twice");
    assert.deepEqual(acks(second), ["c1"], "but acked again: the first ack may be lost");
  });

  test("commands wait, unacked, until a conversation is attached; then in order", async () => {
    const ctx = setup();
    const socket = greet(ctx);
    socket.deliver(command("c1", "context_update", { text: "first" }));
    socket.deliver(command("c2", "difficulty_change", { context_injection: "second" }));
    await flush();
    assert.deepEqual(acks(socket), []);
    const conv = fakeConversation();
    ctx.client.attachElevenLabs(conv);
    await flush();
    assert.deepEqual(conv.updates, ["first", "[Interviewer guidance] second"]);
    assert.deepEqual(acks(socket), ["c1", "c2"]);
  });

  test("end_call ends the ElevenLabs session, then acks", async () => {
    const ctx = setup();
    const conv = fakeConversation();
    ctx.client.attachElevenLabs(conv);
    const socket = greet(ctx);
    socket.deliver(command("c9", "end_call", { reason: "time is up" }));
    await flush();
    assert.equal(conv.ended, 1);
    assert.deepEqual(acks(socket), ["c9"]);
  });

  test("an injection that throws is not acked and is retried on the next attach", async () => {
    const ctx = setup();
    const socket = greet(ctx);
    ctx.client.attachElevenLabs({
      sendContextualUpdate() {
        throw new Error("conversation closed");
      },
      endSession() {},
    });
    socket.deliver(command("c1", "context_update", { text: "t" }));
    await flush();
    assert.deepEqual(acks(socket), []);
    assert.equal(ctx.errors.at(-1).code, "inject_failed");
    const conv = fakeConversation();
    ctx.client.attachElevenLabs(conv);
    await flush();
    assert.deepEqual(conv.updates, ["t"]);
    assert.deepEqual(acks(socket), ["c1"]);
  });

  test("applied command ids survive a reload: not injected again", async () => {
    const storage = new MemoryStorage();
    const a = setup({ storage });
    const conv = fakeConversation();
    a.client.attachElevenLabs(conv);
    const s1 = greet(a);
    s1.deliver(command("c1", "context_update", { text: "once" }));
    await flush();
    const b = setup({ storage });
    const conv2 = fakeConversation();
    b.client.attachElevenLabs(conv2);
    const s2 = greet(b);
    s2.deliver(command("c1", "context_update", { text: "once" }));
    await flush();
    assert.deepEqual(conv2.updates, []);
    assert.deepEqual(acks(s2), ["c1"]);
  });

  test("startSession options: callbacks wrapped (yours still run), messages map to roles", async () => {
    const ctx = setup();
    const seen = [];
    const options = {
      signedUrl: "wss://example.test/v1/convai/conversation?agent_id=a&conversation_signature=s",
      onMessage: (m) => seen.push(m.message),
    };
    assert.equal(ctx.client.attachElevenLabs(options), options);
    assert.equal(ctx.client.attachElevenLabs(options), options, "wrapping twice is harmless");
    const socket = greet(ctx);
    options.onMessage({ source: "ai", role: "agent", message: "Hi, Sarah here." });
    options.onMessage({ source: "user", role: "user", message: "Hello Sarah." });
    options.onMessage({ role: "agent", message: "No source field (newer SDKs)." });
    assert.deepEqual(seen, ["Hi, Sarah here.", "Hello Sarah.", "No source field (newer SDKs)."]);
    assert.deepEqual(socket.transcripts().map((f) => [f.seq, f.role]), [
      [1, "assistant"],
      [2, "user"],
      [3, "assistant"],
    ]);
    // the SDK hands over the conversation before startSession resolves (onConversationCreated)
    const conv = fakeConversation();
    options.onConversationCreated(conv);
    options.onConnect({ conversationId: "conv_123" });
    assert.equal(ctx.client.conversationId, "conv_123");
    socket.deliver(command("c1", "context_update", { text: "x" }));
    await flush();
    assert.deepEqual(conv.updates, ["x"]);
    // after the call disconnected, commands wait for the next one
    options.onDisconnect({ reason: "user" });
    socket.deliver(command("c2", "context_update", { text: "y" }));
    await flush();
    assert.deepEqual(conv.updates, ["x"]);
  });

  test("the documented flow: options wrapped, copied by the SDK, then the conversation", async () => {
    const ctx = setup();
    const seen = [];
    const options = ctx.client.attachElevenLabs({ signedUrl: "wss://x", onMessage: (m) => seen.push(m) });
    // Conversation.startSession: full = {...defaults, ...options}; instance.options = full
    const conv = fakeConversation();
    conv.options = { onMessage: () => {}, onAgentResponseCorrection: () => {}, ...options };
    conv.options.onConversationCreated(conv);
    ctx.client.attachElevenLabs(conv);
    const socket = greet(ctx);
    conv.options.onMessage({ source: "user", role: "user", message: "once" });
    assert.deepEqual(socket.transcripts().map((f) => f.text), ["once"], "one frame, not two");
    assert.equal(seen.length, 1);
  });

  test("a conversation alone: its own options' callbacks are wrapped in place", async () => {
    // What @elevenlabs/client does: copies the startSession options onto the instance and
    // calls this.options.onMessage(...) at each event.
    const seen = [];
    const conv = fakeConversation();
    conv.options = { onMessage: (m) => seen.push(m.message), onDisconnect: () => {} };
    const sdkEmits = (props) => conv.options.onMessage(props);
    const ctx = setup();
    assert.equal(ctx.client.attachElevenLabs(conv), conv);
    ctx.client.attachElevenLabs(conv); // again: no double wrapping, no double frames
    const socket = greet(ctx);
    sdkEmits({ source: "ai", role: "agent", message: "Hello from the SDK" });
    conv.options.onAgentResponseCorrection({ corrected_agent_response: "Hello" });
    assert.deepEqual(seen, ["Hello from the SDK"]);
    assert.deepEqual(socket.sent.map((f) => [f.type, f.text]), [
      ["transcript", "Hello from the SDK"],
      ["transcript_correction", "Hello"],
    ]);
    socket.deliver(command("c1", "context_update", { text: "x" }));
    await flush();
    assert.deepEqual(conv.updates, ["x"]);
    conv.options.onDisconnect({ reason: "agent" });
    socket.deliver(command("c2", "context_update", { text: "y" }));
    await flush();
    assert.deepEqual(conv.updates, ["x"], "detached when the call disconnected");
  });

  test("onAgentResponseCorrection corrects the last agent message", () => {
    const ctx = setup();
    const options = ctx.client.attachElevenLabs({});
    const socket = greet(ctx);
    options.onMessage({ source: "ai", message: "The weather is sunny and warm." });
    options.onMessage({ source: "user", message: "Wait" });
    options.onAgentResponseCorrection({
      original_agent_response: "The weather is sunny and warm.",
      corrected_agent_response: "The weather is sunny",
      event_id: 7,
    });
    const correction = socket.sent.at(-1);
    assert.deepEqual(correction, {
      type: "transcript_correction",
      seq: 1,
      revision: 1,
      round_number: 1,
      text: "The weather is sunny",
      ref: "c1.1",
    });
  });
});

describe("transcript corrections", () => {
  test("kept until acked (ack carries the revision), resent after a drop", () => {
    const ctx = setup();
    const first = greet(ctx);
    ctx.client.sendTranscript("assistant", "long answer that got cut");
    ack(first, 1);
    ctx.client.correct("assistant", "long answer");
    ctx.client.correct("assistant", "long");
    assert.deepEqual(
      ctx.client.unacked.map((f) => [f.type, f.seq, f.revision, f.text]),
      [
        ["transcript_correction", 1, 1, "long answer"],
        ["transcript_correction", 1, 2, "long"],
      ],
    );
    ack(first, 1, { revision: 1 });
    first.serverClose(1006);
    ctx.clock.fireNext();
    const second = greet(ctx, 1);
    assert.deepEqual(second.sent.map((f) => [f.type, f.revision]), [["transcript_correction", 2]]);
    ack(second, 1, { revision: 2 });
    assert.deepEqual(ctx.client.unacked, []);
  });

  test("an ack of the message itself does not remove its correction", () => {
    const ctx = setup();
    const socket = greet(ctx);
    ctx.client.sendTranscript("assistant", "abc def");
    ctx.client.correct("assistant", "abc");
    ack(socket, 1);
    assert.deepEqual(ctx.client.unacked.map((f) => f.type), ["transcript_correction"]);
  });

  test("a message not yet sent is corrected in place", () => {
    const ctx = setup();
    ctx.client.sendTranscript("assistant", "abc def");
    ctx.client.correct("assistant", "abc");
    const socket = greet(ctx);
    assert.deepEqual(socket.sent.map((f) => [f.type, f.text]), [["transcript", "abc"]]);
  });

  test("nothing to correct: a clear error", () => {
    const ctx = setup();
    assert.throws(() => ctx.client.correct("assistant", "x"), /no assistant message/);
  });

  test("an unchanged text sends nothing", () => {
    const ctx = setup();
    const socket = greet(ctx);
    ctx.client.sendTranscript("assistant", "same");
    ctx.client.correct("assistant", "same");
    assert.equal(socket.sent.length, 1);
  });
});

describe("raw ElevenLabs conversation socket", () => {
  function elSocket() {
    const Socket = fakeSocketClass();
    const el = new Socket("wss://api.example.test/v1/convai/conversation?agent_id=a");
    el.accept();
    return el;
  }

  test("events become frames, pings are answered, commands become contextual_update", async () => {
    const ctx = setup();
    const el = elSocket();
    const detach = ctx.client.attachElevenLabsSocket(el);
    const socket = greet(ctx);
    el.deliver({
      type: "conversation_initiation_metadata",
      conversation_initiation_metadata_event: { conversation_id: "conv_9" },
    });
    el.deliver({ type: "agent_response", agent_response_event: { agent_response: "Hello there", event_id: 1 } });
    el.deliver({ type: "user_transcript", user_transcription_event: { user_transcript: "Hi", event_id: 2 } });
    el.deliver({
      type: "agent_response_correction",
      agent_response_correction_event: {
        original_agent_response: "Hello there",
        corrected_agent_response: "Hello",
        event_id: 3,
      },
    });
    el.deliver({ type: "ping", ping_event: { event_id: 4, ping_ms: 30 } });
    el.deliver("not json at all");
    el.deliver({ type: "audio", audio_event: { audio_base_64: "AAAA", event_id: 5 } });
    assert.equal(ctx.client.conversationId, "conv_9");
    assert.deepEqual(el.sent, [{ type: "pong", event_id: 4 }]);
    assert.deepEqual(socket.sent.map((f) => [f.type, f.seq, f.role ?? null, f.text]), [
      ["transcript", 1, "assistant", "Hello there"],
      ["transcript", 2, "user", "Hi"],
      ["transcript_correction", 1, null, "Hello"],
    ]);
    socket.deliver(command("c1"));
    await flush();
    assert.deepEqual(el.sent.at(-1), {
      type: "contextual_update",
      text: "[Curveball: Budget] CFO wants quotes",
    });
    assert.deepEqual(socket.sent.at(-1), { type: "command_ack", command_id: "c1" });
    socket.deliver(command("c2", "end_call", { reason: "done" }));
    await flush();
    assert.equal(el.closedWith.code, 1000);
    assert.deepEqual(socket.sent.at(-1), { type: "command_ack", command_id: "c2" });
    detach();
  });

  test("a closed ElevenLabs socket: commands wait unacked", async () => {
    const ctx = setup();
    const el = elSocket();
    ctx.client.attachElevenLabsSocket(el);
    const socket = greet(ctx);
    el.serverClose(1000);
    socket.deliver(command("c1"));
    await flush();
    assert.deepEqual(socket.sent.filter((f) => f.type === "command_ack"), []);
    assert.deepEqual(el.sent, []);
  });

  test("answerPings: false leaves pings to the app", () => {
    const ctx = setup();
    const el = elSocket();
    ctx.client.attachElevenLabsSocket(el, { answerPings: false });
    el.deliver({ type: "ping", ping_event: { event_id: 1 } });
    assert.deepEqual(el.sent, []);
  });
});
