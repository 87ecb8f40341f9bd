// Interview Gateway candidate client: one ES module, no dependencies, no build step.
//
// It bridges the candidate's voice call (an ElevenLabs conversation, through the
// `@elevenlabs/client` SDK or a raw conversation WebSocket) to the gateway's
// `/ws/candidate/{session_id}` socket, following docs/protocol.md:
//
//   * every utterance becomes a `transcript` frame numbered by `seq`, kept (in memory and in
//     sessionStorage, keyed by session) until its `ack`, so neither a dropped socket nor a page
//     reload loses one;
//   * after every `hello` the unacked frames are sent again, in order; new frames are numbered
//     after the highest seq either side knows (`hello.last_seq`);
//   * after an error that says "nothing was stored" (`unavailable`, `rate_limited`) no new frame
//     goes out on that socket: the client reconnects and resends in order, so a later frame can
//     never be stored before an earlier one that failed;
//   * reconnects back off exponentially (capped, with jitter); the terminal close codes stop it;
//   * gateway `command`s become ElevenLabs `contextual_update`s (or end the call), each applied
//     once per command id and acked with `command_ack` only after it was applied;
//   * `agent_response_correction` becomes a `transcript_correction` frame.
//
// Nothing in here touches the DOM; the ElevenLabs API key never comes near it (the page starts
// the conversation with the signed URL the gateway hands out).

export const VERSION = "1.0.0";
export const PROTOCOL = 1;

const OPEN = 1;
const STORAGE_PREFIX = "interview-gateway:candidate:";
const STORE_VERSION = 1;
const MAX_APPLIED_IDS = 500;

// Close codes after which reconnecting cannot help (docs/protocol.md, "Close codes").
const TERMINAL_CLOSES = new Map([
  [4000, "session_ended"],
  [4001, "replaced"],
  [4002, "token_expired"],
  [1003, "unsupported_data"],
  [1009, "message_too_big"],
]);
const POLICY_VIOLATION = 1008;

// Frame errors meaning "nothing was stored; send it again later" (the ordering rule applies).
const RESEND_ERRORS = new Set(["unavailable", "rate_limited"]);

const DEFAULTS = {
  maxInFlight: 64,
  maxTextChars: 4000,
  backoffBaseMs: 500,
  backoffCapMs: 15000,
  helloTimeoutMs: 10000,
  probeAfterFailures: 2,
};

/**
 * The ElevenLabs `contextual_update` text of a gateway command (docs/protocol.md, "Injecting
 * commands into ElevenLabs"); null for `end_call` and for a command type this version does not
 * know and whose payload has no `text`.
 */
export function commandText(command) {
  const payload = (command && command.payload) || {};
  switch (command && command.command_type) {
    case "curveball_inject":
      return `[Curveball: ${payload.label ?? ""}] ${payload.curveball ?? ""}`;
    case "difficulty_change":
      return `[Interviewer guidance] ${payload.context_injection ?? ""}`;
    case "end_call":
      return null;
    default:
      return typeof payload.text === "string" ? payload.text : null;
  }
}

/** `ws(s)://host/…/ws/candidate/{id}?token=…` from an http(s) or ws(s) gateway base URL. */
export function candidateSocketUrl(gatewayUrl, sessionId, token) {
  const url = gatewayBase(gatewayUrl);
  url.protocol = url.protocol === "https:" || url.protocol === "wss:" ? "wss:" : "ws:";
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/ws/candidate/${encodeURIComponent(sessionId)}`;
  url.search = "";
  url.searchParams.set("token", token);
  return url.toString();
}

function gatewayBase(gatewayUrl) {
  const here = globalThis.location && globalThis.location.href;
  const url = here ? new URL(gatewayUrl || "/", here) : new URL(gatewayUrl);
  url.hash = "";
  return url;
}

function sessionStatusUrl(gatewayUrl, sessionId) {
  const url = gatewayBase(gatewayUrl);
  url.protocol = url.protocol === "wss:" || url.protocol === "https:" ? "https:" : "http:";
  url.pathname = `${url.pathname.replace(/\/+$/, "")}/api/sessions/${encodeURIComponent(sessionId)}`;
  url.search = "";
  return url.toString();
}

function defaultStorage() {
  try {
    return globalThis.sessionStorage || null; // access itself throws in some private modes
  } catch {
    return null;
  }
}

function freshState() {
  return {
    v: STORE_VERSION,
    round: null, // round_number of the last hello
    nextSeq: 1, // the next seq to hand out
    nextLocal: 1, // local ids of queued messages (a message has no seq until it is first sent)
    queue: [], // unacked frames in send order (transcripts and corrections)
    last: { user: null, assistant: null }, // the latest message per role: {local, seq, text}
    revisions: {}, // seq -> latest correction revision
    applied: [], // ids of the commands already injected, oldest first
  };
}

function loadState(storage, key) {
  if (!storage) return freshState();
  try {
    const raw = storage.getItem(key);
    if (!raw) return freshState();
    const data = JSON.parse(raw);
    if (!data || data.v !== STORE_VERSION || !Array.isArray(data.queue)) return freshState();
    return { ...freshState(), ...data, last: { ...freshState().last, ...(data.last || {}) } };
  } catch {
    return freshState(); // unreadable: start clean rather than fail the call
  }
}

/**
 * Connect the candidate side of one interview session to the gateway.
 *
 * options: gatewayUrl (http(s):// or ws(s):// base of the gateway; relative to the page if it
 * has a location), sessionId, token (the session's candidate token), onCommand(command, {text})
 * (called once per command id, after it was applied), onStatus(status, detail) with status
 * "connecting" | "live" | "reconnecting" | "ended", onError({code, message, ...}) for problems
 * that do not stop the client. For tests and special hosts: storage (a sessionStorage-like
 * object, null for memory only), WebSocketImpl, fetch, random, now, setTimeout, clearTimeout,
 * and the tunables in DEFAULTS.
 */
export function connectCandidate(options) {
  const opts = { ...DEFAULTS, ...options };
  const { sessionId, token } = opts;
  if (!sessionId || !token) throw new TypeError("connectCandidate needs sessionId and token");
  const WebSocketImpl = opts.WebSocketImpl || globalThis.WebSocket;
  if (typeof WebSocketImpl !== "function") throw new TypeError("no WebSocket implementation");
  const random = opts.random || Math.random;
  const now = opts.now || Date.now;
  const setTimer = opts.setTimeout || globalThis.setTimeout.bind(globalThis);
  const clearTimer = opts.clearTimeout || globalThis.clearTimeout.bind(globalThis);
  const fetchImpl =
    opts.fetch !== undefined ? opts.fetch : globalThis.fetch ? globalThis.fetch.bind(globalThis) : null;
  const storage = opts.storage === undefined ? defaultStorage() : opts.storage;
  const storageKey = STORAGE_PREFIX + sessionId;
  const url = candidateSocketUrl(opts.gatewayUrl, sessionId, token);

  const state = loadState(storage, storageKey);
  const applied = new Set(state.applied);

  let ws = null;
  let connection = 0; // number of the current socket; frames remember which socket carried them
  let live = false; // hello received on the current socket
  let paused = false; // an error said "nothing stored": send nothing new on this socket
  let status = null;
  let ended = false;
  let attempt = 0; // reconnects since the last hello (backoff exponent)
  let failedOpens = 0; // consecutive sockets that never opened
  let retryTimer = null;
  let helloTimer = null;
  let sink = null; // {contextualUpdate(text), endCall(), owner}
  let conversationId = null;
  const pendingCommands = []; // commands received, not yet applied (in arrival order)
  let applying = false;
  let ackedHere = new Set(); // command ids acked on the current socket

  function report(code, message, extra) {
    if (opts.onError) {
      try {
        opts.onError({ code, message, ...extra });
      } catch {
        /* the app's handler must not break the client */
      }
    }
  }

  function setStatus(next, detail = {}) {
    if (status === next) return;
    status = next;
    if (opts.onStatus) {
      try {
        opts.onStatus(next, detail);
      } catch {
        /* ditto */
      }
    }
  }

  function persist() {
    if (!storage) return;
    state.applied = [...applied].slice(-MAX_APPLIED_IDS);
    try {
      storage.setItem(storageKey, JSON.stringify(state));
    } catch (err) {
      report("storage_failed", `could not save unacked frames: ${err && err.message}`);
    }
  }

  function forget() {
    if (!storage) return;
    try {
      storage.removeItem(storageKey);
    } catch {
      /* nothing to keep anyway */
    }
  }

  // -- the socket ------------------------------------------------------------------------------

  function open() {
    retryTimer = null;
    if (ended) return;
    connection += 1;
    live = false;
    paused = false;
    ackedHere = new Set();
    let opened = false;
    let socket;
    try {
      socket = new WebSocketImpl(url);
    } catch (err) {
      report("connect_failed", String(err && err.message));
      scheduleReconnect(false);
      return;
    }
    ws = socket;
    socket.onopen = () => {
      if (socket !== ws) return;
      opened = true;
      failedOpens = 0;
      helloTimer = setTimer(() => {
        if (socket === ws && !live) drop(socket, "no hello from the gateway");
      }, opts.helloTimeoutMs);
    };
    socket.onmessage = (event) => {
      if (socket === ws) receive(event.data);
    };
    socket.onerror = () => {}; // a close event always follows
    socket.onclose = (event) => {
      if (socket !== ws) return;
      closed(event.code, event.reason, opened);
    };
  }

  function drop(socket, reason) {
    // Close our side and reconnect; the close event of this socket is ignored from now on.
    if (socket !== ws) return;
    ws = null;
    live = false;
    clearTimer(helloTimer);
    try {
      socket.close(1000, reason);
    } catch {
      /* already closing */
    }
    scheduleReconnect(true);
  }

  function closed(code, reason, opened) {
    ws = null;
    live = false;
    clearTimer(helloTimer);
    if (ended) return;
    const terminal = TERMINAL_CLOSES.get(code);
    if (terminal) {
      finish(terminal, { code, closeReason: reason });
      return;
    }
    if (!opened) failedOpens += 1;
    if (!opened && fetchImpl && failedOpens >= opts.probeAfterFailures) {
      probe().then((verdict) => {
        if (ended) return;
        if (verdict) finish(verdict.reason, { code, httpStatus: verdict.status });
        else scheduleReconnect(false);
      });
      return;
    }
    scheduleReconnect(opened, code === POLICY_VIOLATION);
  }

  // A refused upgrade (bad token, unknown or ended session) looks like a network failure to a
  // browser's WebSocket; the REST view of the session tells the two apart.
  async function probe() {
    try {
      const resp = await fetchImpl(sessionStatusUrl(opts.gatewayUrl, sessionId), {
        headers: { Authorization: `Bearer ${token}` },
        cache: "no-store",
      });
      if (resp.status === 401) return { reason: "unauthorized", status: 401 };
      if (resp.status === 403) return { reason: "forbidden", status: 403 };
      if (resp.status === 404) return { reason: "not_found", status: 404 };
      if (resp.ok) {
        const body = await resp.json();
        if (body && (body.status === "completed" || body.status === "cancelled")) {
          return { reason: "session_ended", status: resp.status };
        }
      }
    } catch {
      /* unreachable as well: keep retrying */
    }
    return null;
  }

  function backoffDelay(fromCap) {
    const exp = fromCap ? Infinity : attempt;
    const ceiling = Math.min(opts.backoffCapMs, opts.backoffBaseMs * 2 ** exp);
    attempt += 1;
    return ceiling / 2 + random() * (ceiling / 2); // jitter in [ceiling/2, ceiling]
  }

  function scheduleReconnect(wasLive, fromCap = false) {
    if (ended || retryTimer !== null) return;
    const delay = backoffDelay(fromCap);
    setStatus(status === "connecting" && !wasLive ? "connecting" : "reconnecting", {
      retryInMs: delay,
    });
    retryTimer = setTimer(open, delay);
  }

  function finish(reason, detail = {}) {
    if (ended) return;
    ended = true;
    clearTimer(retryTimer);
    clearTimer(helloTimer);
    retryTimer = null;
    if (reason === "session_ended") forget(); // nothing left to deliver, ever
    else persist();
    setStatus("ended", { ...detail, reason });
  }

  function send(frame) {
    if (!ws || ws.readyState !== OPEN) return false;
    try {
      ws.send(JSON.stringify(frame));
      return true;
    } catch {
      return false;
    }
  }

  // -- frames from the gateway -----------------------------------------------------------------

  function receive(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      report("invalid_frame", "the gateway sent a frame that is not JSON");
      return;
    }
    if (!frame || typeof frame !== "object") return;
    switch (frame.type) {
      case "hello":
        return onHello(frame);
      case "ack":
        return onAck(frame);
      case "command":
        return onCommandFrame(frame);
      case "error":
        return onError(frame);
      case "session_ended":
        return finish("session_ended");
      default:
        return; // newer gateways may send more; ignore
    }
  }

  function onHello(frame) {
    if (frame.protocol !== PROTOCOL) {
      finish("protocol_mismatch", { protocol: frame.protocol });
      if (ws) ws.close(1000, "protocol mismatch");
      return;
    }
    clearTimer(helloTimer);
    const lastSeq = Number.isInteger(frame.last_seq) ? frame.last_seq : 0;
    const round = Number.isInteger(frame.round_number) ? frame.round_number : 1;
    // Seqs count per round: a new round starts after its own last_seq.
    state.nextSeq = state.round === round ? Math.max(state.nextSeq, lastSeq + 1) : lastSeq + 1;
    state.round = round;
    live = true;
    paused = false;
    attempt = 0;
    for (const entry of state.queue) entry.wire = 0; // nothing is on this socket yet
    persist();
    setStatus("live", { lastSeq, round });
    pump();
  }

  function onAck(frame) {
    const index = state.queue.findIndex((entry) =>
      frame.revision === undefined || frame.revision === null
        ? entry.frame.type === "transcript" && entry.frame.seq === frame.seq
        : entry.frame.type === "transcript_correction" &&
          entry.frame.seq === frame.seq &&
          entry.frame.revision === frame.revision,
    );
    if (index < 0) return; // a late duplicate ack
    state.queue.splice(index, 1);
    persist();
    pump();
  }

  function onError(frame) {
    const code = String(frame.code);
    if (code === "session_ended") {
      finish("session_ended");
      return;
    }
    if (RESEND_ERRORS.has(code)) {
      // The ordering rule: nothing newer goes out on this socket; reconnect, then resend every
      // unacked frame in order (the gateway closes the socket itself after a failed commit).
      paused = true;
      if (ws) drop(ws, "resending after an error");
      return;
    }
    const ref = typeof frame.ref === "string" ? frame.ref : null;
    const index = ref === null ? -1 : state.queue.findIndex((e) => e.frame.ref === ref);
    const dropped = index >= 0 ? state.queue.splice(index, 1)[0].frame : undefined;
    if (dropped) persist();
    // Resending cannot help (validation_error, text_too_long, seq_conflict, …): drop and report.
    report(code, String(frame.message ?? ""), dropped ? { frame: dropped } : { ref });
    pump();
  }

  // -- frames to the gateway -------------------------------------------------------------------

  function inFlight() {
    let n = 0;
    for (const entry of state.queue) if (entry.wire === connection) n += 1;
    return n;
  }

  function pump() {
    if (!live || paused || !ws || ws.readyState !== OPEN) return;
    let budget = opts.maxInFlight - inFlight();
    let changed = false;
    for (const entry of state.queue) {
      if (budget <= 0) break;
      if (entry.wire === connection) continue;
      if (entry.frame.seq === null) {
        entry.frame.seq = state.nextSeq;
        entry.frame.ref = `s${entry.frame.seq}`;
        entry.frame.round_number = state.round;
        state.nextSeq += 1;
        for (const role of ["user", "assistant"]) {
          const last = state.last[role];
          if (last && last.local === entry.local) last.seq = entry.frame.seq;
        }
        changed = true;
      }
      if (!send(entry.frame)) break;
      entry.wire = connection;
      budget -= 1;
    }
    if (changed) persist();
  }

  function clip(text) {
    if (text.length <= opts.maxTextChars) return text;
    report("text_truncated", `a message longer than ${opts.maxTextChars} characters was cut`);
    return `${text.slice(0, opts.maxTextChars - 1)}…`;
  }

  function sendTranscript(role, text) {
    if (role !== "user" && role !== "assistant") {
      throw new TypeError(`role must be "user" or "assistant", not ${JSON.stringify(role)}`);
    }
    if (typeof text !== "string" || !text.trim()) return null; // nothing was said
    if (ended) {
      report("ended", "the client has ended; message not sent");
      return null;
    }
    const local = state.nextLocal++;
    const body = clip(text);
    state.queue.push({
      local,
      wire: 0,
      frame: {
        type: "transcript",
        seq: null, // numbered when first sent, after a hello told us where the gateway stands
        round_number: null,
        role,
        text: body,
        timestamp: new Date(now()).toISOString(),
      },
    });
    state.last[role] = { local, seq: null, text: body };
    persist();
    pump();
    return local;
  }

  function correct(role, text) {
    if (role !== "user" && role !== "assistant") {
      throw new TypeError(`role must be "user" or "assistant", not ${JSON.stringify(role)}`);
    }
    if (typeof text !== "string") throw new TypeError("text must be a string");
    const last = state.last[role];
    if (!last) throw new Error(`no ${role} message to correct`);
    const body = clip(text);
    const pending = state.queue.find((e) => e.local === last.local && e.frame.seq === null);
    if (pending) {
      // Never sent: correct it in place, the gateway will only ever see the corrected text.
      pending.frame.text = body;
      last.text = body;
      persist();
      return last.local;
    }
    if (last.seq === null) throw new Error(`the last ${role} message has no seq yet`);
    if (body === last.text) return last.local; // nothing changed
    const revision = (state.revisions[last.seq] || 0) + 1;
    state.revisions[last.seq] = revision;
    last.text = body;
    state.queue.push({
      local: state.nextLocal++,
      wire: 0,
      frame: {
        type: "transcript_correction",
        seq: last.seq,
        revision,
        round_number: state.round,
        text: body,
        ref: `c${last.seq}.${revision}`,
      },
    });
    persist();
    pump();
    return last.local;
  }

  // -- commands --------------------------------------------------------------------------------

  function ackCommand(id) {
    if (ackedHere.has(id) || !live) return; // unacked ones come again after the next hello
    if (send({ type: "command_ack", command_id: id })) ackedHere.add(id);
  }

  function onCommandFrame(frame) {
    const id = frame.command_id;
    if (typeof id !== "string" || !id) return;
    if (applied.has(id)) {
      ackCommand(id); // applied before; our ack was lost
      return;
    }
    if (!pendingCommands.some((c) => c.command_id === id)) pendingCommands.push(frame);
    drainCommands();
  }

  async function drainCommands() {
    if (applying) return;
    applying = true;
    try {
      while (pendingCommands.length && sink && !ended) {
        const command = pendingCommands[0];
        const current = sink;
        const text = commandText(command);
        try {
          if (command.command_type === "end_call") await current.endCall();
          else if (text === null) {
            pendingCommands.shift();
            report("unknown_command", `cannot inject command type ${command.command_type}`, {
              command,
            });
            continue;
          } else await current.contextualUpdate(text);
        } catch (err) {
          // Not applied: keep it (and its ack) until a voice call is attached again.
          if (sink === current) sink = null;
          report("inject_failed", String((err && err.message) || err), { command });
          break;
        }
        pendingCommands.shift();
        applied.add(command.command_id);
        persist();
        if (opts.onCommand) {
          try {
            opts.onCommand(command, { text });
          } catch {
            /* display only */
          }
        }
        ackCommand(command.command_id);
      }
    } finally {
      applying = false;
    }
  }

  /** Plug in any voice call: {contextualUpdate(text), endCall()}, each may return a Promise. */
  function attach(target) {
    if (!target || typeof target.contextualUpdate !== "function") {
      throw new TypeError("attach needs {contextualUpdate(text), endCall()}");
    }
    sink = target;
    drainCommands();
    return () => {
      if (sink === target) sink = null;
    };
  }

  // -- ElevenLabs ------------------------------------------------------------------------------

  function fromSdkMessage(props) {
    if (!props || typeof props.message !== "string") return;
    const source = props.source ?? (props.role === "agent" ? "ai" : props.role);
    if (source === "user") sendTranscript("user", props.message);
    else if (source === "ai") sendTranscript("assistant", props.message);
  }

  function fromCorrection(event) {
    const text = event && event.corrected_agent_response;
    if (typeof text !== "string") return;
    try {
      correct("assistant", text);
    } catch (err) {
      report("correction_failed", String(err && err.message));
    }
  }

  function attachConversation(conversation) {
    const target = {
      owner: conversation,
      contextualUpdate: (text) => conversation.sendContextualUpdate(text),
      endCall: () => conversation.endSession(),
    };
    if (sink && sink.owner === conversation) return conversation;
    attach(target);
    return conversation;
  }

  // Our wrappers, to recognise options wrapped already: the SDK copies the options object
  // (spread), so a marker property would not survive, but the functions do.
  const ours = new WeakSet();

  // The SDK takes its callbacks only as options of `Conversation.startSession` (it copies them;
  // there is no subscribe method on the conversation), so the options object is wrapped before
  // the session starts; `onConversationCreated` (SDKs that have it) attaches the conversation.
  function wrapOptions(options, conversation = null) {
    if (ours.has(options.onMessage)) return options;
    const prev = {
      onMessage: options.onMessage,
      onAgentResponseCorrection: options.onAgentResponseCorrection,
      onConversationCreated: options.onConversationCreated,
      onConnect: options.onConnect,
      onDisconnect: options.onDisconnect,
    };
    options.onMessage = (props) => {
      fromSdkMessage(props);
      if (prev.onMessage) prev.onMessage(props);
    };
    options.onAgentResponseCorrection = (event) => {
      fromCorrection(event);
      if (prev.onAgentResponseCorrection) prev.onAgentResponseCorrection(event);
    };
    let created = conversation; // the conversation these options started, once known
    options.onConversationCreated = (conversation) => {
      created = conversation;
      attachConversation(conversation);
      if (prev.onConversationCreated) prev.onConversationCreated(conversation);
    };
    options.onConnect = (props) => {
      if (props && props.conversationId) conversationId = props.conversationId;
      if (prev.onConnect) prev.onConnect(props);
    };
    options.onDisconnect = (details) => {
      // The call is over: commands wait (unacked) for the next one. A late disconnect of an
      // earlier call must not detach a newer one.
      if (sink && (created === null || sink.owner === created)) sink = null;
      if (prev.onDisconnect) prev.onDisconnect(details);
    };
    for (const name of Object.keys(prev)) ours.add(options[name]);
    return options;
  }

  /**
   * ElevenLabs SDK bridge. Pass the options object you give `Conversation.startSession` (its
   * callbacks are wrapped, yours still run) and, once it resolved, the conversation (commands
   * are injected with `sendContextualUpdate`, `end_call` with `endSession()`).
   */
  function attachElevenLabs(target) {
    if (target && typeof target.sendContextualUpdate === "function") {
      // Current SDKs keep the (copied) options on the conversation and read their callbacks
      // from there at each event: wrapping them in place subscribes after the fact too. Passing
      // the options before startSession remains the way that does not depend on it.
      const own = target.options;
      if (own && typeof own === "object" && typeof own.onMessage === "function") {
        wrapOptions(own, target);
      }
      return attachConversation(target);
    }
    if (target && typeof target === "object") return wrapOptions(target);
    throw new TypeError("attachElevenLabs needs a Conversation or its startSession options");
  }

  /**
   * Raw ElevenLabs conversation WebSocket bridge (apps without the SDK): transcripts from
   * `user_transcript` / `agent_response`, corrections from `agent_response_correction`, commands
   * out as `contextual_update` client events, pings answered. Returns a detach function.
   */
  function attachElevenLabsSocket(socket, { answerPings = true } = {}) {
    if (!socket || typeof socket.addEventListener !== "function") {
      throw new TypeError("attachElevenLabsSocket needs a WebSocket");
    }
    const onMessage = (event) => {
      let data;
      try {
        data = JSON.parse(event.data);
      } catch {
        return; // audio-only or garbage: not ours
      }
      if (!data || typeof data !== "object") return;
      switch (data.type) {
        case "user_transcript": {
          const e = data.user_transcription_event;
          if (e && typeof e.user_transcript === "string") sendTranscript("user", e.user_transcript);
          return;
        }
        case "agent_response": {
          const e = data.agent_response_event;
          if (e && typeof e.agent_response === "string") sendTranscript("assistant", e.agent_response);
          return;
        }
        case "agent_response_correction":
          fromCorrection(data.agent_response_correction_event);
          return;
        case "conversation_initiation_metadata": {
          const e = data.conversation_initiation_metadata_event;
          if (e && e.conversation_id) conversationId = e.conversation_id;
          return;
        }
        case "ping":
          if (answerPings && data.ping_event && socket.readyState === OPEN) {
            socket.send(JSON.stringify({ type: "pong", event_id: data.ping_event.event_id }));
          }
          return;
        default:
          return;
      }
    };
    const target = {
      owner: socket,
      contextualUpdate: (text) => {
        if (socket.readyState !== OPEN) throw new Error("the ElevenLabs socket is not open");
        socket.send(JSON.stringify({ type: "contextual_update", text }));
      },
      endCall: () => socket.close(1000, "ended by the interviewer"),
    };
    const onClose = () => {
      if (sink === target) sink = null;
    };
    socket.addEventListener("message", onMessage);
    socket.addEventListener("close", onClose);
    attach(target);
    return () => {
      socket.removeEventListener("message", onMessage);
      socket.removeEventListener("close", onClose);
      if (sink === target) sink = null;
    };
  }

  function close() {
    if (ended) return;
    const socket = ws;
    ws = null;
    if (state.queue.length === 0) {
      ended = true;
      forget();
      clearTimer(retryTimer);
      clearTimer(helloTimer);
      setStatus("ended", { reason: "closed" });
    } else {
      finish("closed"); // unacked frames stay stored: a later connectCandidate resends them
    }
    if (socket) {
      try {
        socket.close(1000, "candidate closed");
      } catch {
        /* already closed */
      }
    }
  }

  setStatus("connecting");
  open();

  return {
    sendTranscript,
    correct,
    close,
    attach,
    attachElevenLabs,
    attachElevenLabsSocket,
    get status() {
      return status;
    },
    get conversationId() {
      return conversationId;
    },
    get unacked() {
      return state.queue.map((entry) => ({ ...entry.frame }));
    },
  };
}
