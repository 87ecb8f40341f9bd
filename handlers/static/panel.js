// Interviewer panel: one WebSocket to /ws/panel/{id}, rendered without a framework.
//
// The socket delivers a `snapshot`, then events numbered by `event_id` (+1 each). We remember
// the last event applied and, after any drop or a gap in the numbering, reconnect with
// `?after=<last>` so the gateway replays exactly what we missed (docs/protocol.md, "Resume
// without gaps"). Every piece of text from the wire goes through textContent, never innerHTML:
// transcript lines and suggestions are untrusted. An ended session opens read-only from its
// report (GET /api/sessions/{id}/report) instead of a socket the gateway would refuse (410).

import {
  $, api, ago, bandOf, clamp, clip, clock, el, labelFor, linkToken,
} from "./common.js";
import { scoreChart } from "./chart.js";

const MAX_LINES = 500;
const MAX_CARDS = 40;
const APPLICABLE = new Set(["context_injection", "curveball"]);
const ASKABLE = new Set(["followup_question"]);
const ENDED = new Set(["completed", "cancelled"]);
const TYPE_LABELS = {
  context_injection: "Context injection",
  curveball: "Curveball",
  followup_question: "Follow-up",
};
const COMMAND_LABELS = {
  difficulty_change: "Context injection",
  curveball_inject: "Curveball",
  context_update: "Context update",
  end_call: "End call",
};
const BAND_WORDS = {
  green: "going well",
  yellow: "fair, with room to improve",
  red: "struggling",
};

const state = {
  sessionId: document.body.dataset.sessionId,
  sessionStatus: document.body.dataset.sessionStatus || "active",
  token: linkToken, // empty: the sign-in cookie authenticates the socket and the REST calls
  ws: null,
  lastEventId: null, // null until the first snapshot: then resume with ?after=
  attempts: 0,
  reconnectTimer: null,
  ended: false,
  readOnly: false,
  personaName: "Agent",
  session: {},
  rubric: [], // [{name, label}]
  history: [], // [{analysis_id, score, band, at}]
  alerts: [], // [{kind, score, previous_score, analysis_id?, message?}]
  suggestions: new Map(), // suggestion_id -> {data, el}
  commands: new Map(), // command_id -> {data, el, delivered}
  seenLines: new Set(),
  messageCount: 0,
};

let toastTimer = null;
function toast(message) {
  const node = $("panel-error");
  node.textContent = message;
  node.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { node.hidden = true; }, 6000);
}

// ---------------------------------------------------------------------------------------------
// Connection: connect, resume, back off.

function setConnection(kind, detail) {
  const node = $("connection-state");
  node.dataset.state = kind;
  node.textContent = detail ? `${kind} · ${detail}` : kind;
}

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const url = `${scheme}://${location.host}/ws/panel/${encodeURIComponent(state.sessionId)}`;
  const q = new URLSearchParams();
  if (state.token) q.set("token", state.token);
  if (state.lastEventId !== null) q.set("after", String(state.lastEventId));
  const text = q.toString();
  return text ? `${url}?${text}` : url;
}

function connect() {
  if (state.ended) return;
  clearTimeout(state.reconnectTimer);
  setConnection(state.lastEventId === null && state.attempts === 0 ? "connecting" : "reconnecting");
  const ws = new WebSocket(socketUrl());
  state.ws = ws;
  let opened = false;
  ws.onopen = () => {
    opened = true;
    setConnection("live");
    updateButtons();
  };
  ws.onmessage = (event) => {
    if (ws !== state.ws) return;
    state.attempts = 0;
    let frame;
    try {
      frame = JSON.parse(event.data);
    } catch {
      return;
    }
    handle(frame);
  };
  ws.onclose = (event) => {
    if (ws !== state.ws) return; // a socket we already replaced
    state.ws = null;
    updateButtons();
    if (event.code === 4000) return end("session ended", "completed");
    if (event.code === 4002) return end("token expired — reload with a new token");
    if (event.code === 4003) return end("too many panels open with this link — close one and reload");
    scheduleReconnect(opened);
  };
}

function scheduleReconnect(opened) {
  if (state.ended) return;
  state.attempts += 1;
  const base = Math.min(10000, 500 * 2 ** (state.attempts - 1));
  const delay = opened && state.attempts === 1 ? 200 : base / 2 + Math.random() * (base / 2);
  setConnection("reconnecting", `retry in ${Math.ceil(delay / 1000)}s`);
  // A socket refused before the upgrade (bad token, unknown or ended session) looks like a
  // network failure to the browser; ask the page route what is wrong before retrying forever.
  if (!opened && state.attempts >= 2) probe();
  state.reconnectTimer = setTimeout(connect, delay);
}

async function probe() {
  try {
    let url = `/panel/${encodeURIComponent(state.sessionId)}/status`;
    if (state.token) url += `?token=${encodeURIComponent(state.token)}`;
    const resp = await fetch(url, { cache: "no-store", credentials: "same-origin" });
    const body = await resp.json();
    if (!resp.ok) {
      const message = body && body.error ? body.error.message : `HTTP ${resp.status}`;
      if ([401, 403, 404].includes(resp.status)) end(`access refused: ${message}`);
      return;
    }
    if (ENDED.has(body.status)) {
      state.sessionStatus = body.status;
      end(`session ${body.status}`);
      loadReadOnly();
    }
  } catch {
    // The gateway itself is unreachable: keep retrying.
  }
}

function reconnectNow() {
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close(1000, "resume");
  state.attempts = 0;
  setConnection("reconnecting");
  state.reconnectTimer = setTimeout(connect, 50);
}

// The interview is over (or this page may not follow it): stop, and make every pill say so.
function end(reason, status) {
  state.ended = true;
  if (status) state.sessionStatus = status;
  clearTimeout(state.reconnectTimer);
  setConnection("ended", reason);
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close(1000, "ended");
  if (ENDED.has(state.sessionStatus)) {
    const presence = $("candidate-presence");
    presence.dataset.connected = "ended";
    presence.textContent = "Interview ended";
    renderMeta();
    renderSuggestionCount();
    const score = state.history.length ? state.history[state.history.length - 1].score : null;
    $("ended-text").textContent = typeof score === "number"
      ? `This interview has ended. Final Say Meter: ${score}/100 (${bandOf(score)}).`
      : "This interview has ended before any score was given.";
    $("ended-banner").hidden = false;
    $("transcript-title").textContent = "Final transcript";
    if (!state.readOnly) loadReadOnly(); // the whole transcript and the final score
  }
  updateButtons();
}

function send(frame) {
  if (!state.ws || state.ws.readyState !== WebSocket.OPEN) {
    toast("Not connected — the action was not sent. Try again once live.");
    return false;
  }
  state.ws.send(JSON.stringify(frame));
  return true;
}

// ---------------------------------------------------------------------------------------------
// Frames.

function handle(frame) {
  if (frame.type === "error") {
    toast(`${frame.code}: ${frame.message}`);
    for (const entry of state.suggestions.values()) {
      if (entry.pending) { entry.pending = false; renderCardState(entry); }
    }
    return;
  }
  if (frame.type === "snapshot") {
    renderSnapshot(frame);
    state.lastEventId = Number(frame.last_event_id) || 0;
    document.body.dataset.lastEventId = String(state.lastEventId);
    return;
  }
  if (typeof frame.event_id !== "number" || state.lastEventId === null) return;
  if (frame.event_id <= state.lastEventId) return; // already applied
  if (frame.event_id !== state.lastEventId + 1) {
    reconnectNow(); // a gap: let the gateway replay from the last event we applied
    return;
  }
  state.lastEventId = frame.event_id;
  document.body.dataset.lastEventId = String(state.lastEventId);
  apply(frame);
}

function apply(event) {
  switch (event.type) {
    case "transcript":
      addLine(event);
      setMessageCount(event.message_count);
      break;
    case "transcript_updated":
      updateLine(event);
      break;
    case "analysis":
      if (event.rubric && Array.isArray(event.rubric.factors)) state.rubric = event.rubric.factors;
      state.history.push({
        analysis_id: event.analysis_id, score: clamp(event.say_meter.score),
        band: event.say_meter.band, at: event.at,
      });
      setMeter({ ...event.say_meter, final: event.final === true });
      renderSparkline();
      for (const s of [...(event.suggestions || [])].reverse()) {
        addSuggestion({ ...s, status: "open", analysis_id: event.analysis_id, created_at: s.at || event.at });
      }
      setMessageCount(event.message_count);
      break;
    case "analysis_failed":
      toast(`Analysis failed: ${event.message || event.reason}. It will be retried.`);
      break;
    case "alert":
      state.alerts.push(event);
      renderAlerts();
      renderSparkline();
      break;
    case "suggestion_updated":
      updateSuggestion(event.suggestion_id, event.status, event.command_id);
      break;
    case "command":
      addCommand(event);
      break;
    case "command_delivered":
      markDelivered(event.command_id);
      break;
    case "presence":
      setPresence(event.candidate_connected);
      break;
    case "session_ended":
      end("session ended", "completed");
      break;
    default:
      break;
  }
}

function renderSnapshot(snap) {
  const session = snap.session || {};
  const persona = session.persona || {};
  state.personaName = persona.name || "Agent";
  state.rubric = (session.rubric && session.rubric.factors) || [];
  $("persona-name").textContent = persona.name
    ? `${persona.name}${persona.role ? ` · ${persona.role}` : ""}`
    : "Interview panel";
  state.session = session;
  if (session.status) state.sessionStatus = session.status;
  renderMeta();
  setPresence(snap.candidate_connected);
  setMessageCount(snap.message_count, true);

  state.history = (snap.score_history || []).map((h) => ({ ...h, score: clamp(h.score) }));
  setMeter(snap.say_meter);
  state.alerts = [...(snap.alerts || [])];
  renderSparkline();
  renderAlerts();

  state.suggestions.clear();
  $("suggestions").replaceChildren();
  for (const s of [...(snap.suggestions || [])].reverse()) addSuggestion(s);
  renderSuggestionCount();

  state.seenLines.clear();
  $("transcript").replaceChildren();
  for (const line of snap.transcript || []) addLine(line);
  if (ENDED.has(session.status)) end(`session ${session.status}`, session.status);
}

function renderMeta() {
  const session = state.session || {};
  const scenario = session.scenario && session.scenario.name ? session.scenario.name : "";
  const parts = [scenario, session.blueprint, `round ${session.round_number || 1}`, state.sessionStatus];
  $("session-meta").textContent = parts.filter(Boolean).join(" · ");
}

// ---------------------------------------------------------------------------------------------
// Header bits.

function setPresence(connected) {
  const node = $("candidate-presence");
  if (typeof connected !== "boolean" || ENDED.has(state.sessionStatus)) return;
  node.dataset.connected = String(connected);
  node.textContent = connected ? "Candidate connected" : "Candidate offline";
}

// Events report the count when they were made: an analysis of message 10 can arrive after
// message 15, so live events only ever raise the count; a snapshot sets it outright.
function setMessageCount(count, exact = false) {
  if (typeof count !== "number") return;
  if (!exact && count <= state.messageCount) return;
  state.messageCount = count;
  $("message-count").textContent = `${count} message${count === 1 ? "" : "s"}`;
}

// ---------------------------------------------------------------------------------------------
// Say Meter.

function setMeter(meter) {
  const factorsEl = $("factors");
  const raw = meter && meter.factors;
  const values = raw && typeof raw === "object" && !Array.isArray(raw) ? raw : {};
  const names = state.rubric.map((f) => f.name);
  for (const name of Object.keys(values)) if (!names.includes(name)) names.push(name);
  const labels = Object.fromEntries(state.rubric.map((f) => [f.name, f.label || labelFor(f.name)]));
  factorsEl.replaceChildren(
    ...names.map((name) => {
      const has = typeof values[name] === "number";
      const value = has ? clamp(values[name]) : null;
      const row = el("li", {
        class: "factor", "data-factor": name,
        "data-value": has ? value : "", "data-band": has ? bandOf(value) : "none",
      });
      row.append(el("span", { class: "factor-name" }, labels[name] || labelFor(name)));
      const bar = el("div", {
        class: "factor-bar", role: "meter", "aria-label": labels[name] || labelFor(name),
      });
      bar.setAttribute("aria-valuemin", "0");
      bar.setAttribute("aria-valuemax", "100");
      bar.setAttribute("aria-valuenow", String(value ?? 0));
      const fill = el("div", { class: "factor-fill" });
      fill.style.width = `${value ?? 0}%`;
      bar.append(fill);
      row.append(bar, el("span", { class: "factor-value" }, has ? value : "—"));
      return row;
    }),
  );

  const scoreEl = $("meter-score");
  const bandEl = $("meter-band");
  const cover = $("meter-cover");
  const marker = $("meter-marker");
  if (!meter || typeof meter.score !== "number") {
    scoreEl.textContent = "—";
    scoreEl.dataset.score = "";
    bandEl.dataset.band = "none";
    bandEl.textContent = "no score yet";
    cover.style.left = "0%";
    marker.hidden = true;
    $("meter-summary").textContent = "The first analysis runs after 10 messages.";
    $("meter-reasoning").textContent = "";
    return;
  }
  const score = clamp(meter.score);
  const band = meter.band || bandOf(score);
  scoreEl.textContent = String(score);
  scoreEl.dataset.score = String(score);
  bandEl.dataset.band = band;
  bandEl.textContent = meter.final ? `${band} · final` : band;
  cover.style.left = `${score}%`;
  marker.style.left = `${score}%`;
  marker.hidden = false;
  $("meter-bar").setAttribute("aria-valuenow", String(score));
  $("meter-summary").textContent = explain(score, band, values, labels);
  $("meter-reasoning").textContent = meter.reasoning || "";
}

// The score in a sentence for a person: how it is going, what carries it, what holds it back.
function explain(score, band, values, labels) {
  const named = Object.entries(values)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [labels[k] || labelFor(k), clamp(v)])
    .sort((a, b) => b[1] - a[1]);
  let text = `${score} out of 100: ${BAND_WORDS[band] || band}.`;
  if (named.length >= 2) {
    const [best, worst] = [named[0], named[named.length - 1]];
    text += ` Strongest: ${best[0].toLowerCase()} (${best[1]}).`;
    if (worst[1] < best[1]) text += ` Needs the most work: ${worst[0].toLowerCase()} (${worst[1]}).`;
  }
  const prev = state.history.length >= 2 ? state.history[state.history.length - 2].score : null;
  if (typeof prev === "number" && prev !== score) {
    text += ` ${score > prev ? "Up" : "Down"} ${Math.abs(score - prev)} since the last analysis.`;
  }
  return text;
}

function renderSparkline() {
  scoreChart($("sparkline"), state.history, { alerts: state.alerts, height: 130, alertText });
}

function alertText(alert) {
  if (alert.message) return alert.message;
  if (alert.kind === "entered_red") return `Entered the red zone: ${alert.score}`;
  return `Score dropped ${alert.previous_score} → ${alert.score}`;
}

function renderAlerts() {
  $("alerts").replaceChildren(
    ...state.alerts.slice(-5).map((a) => el("li", { "data-kind": a.kind }, `⚠ ${alertText(a)}`)),
  );
}

// ---------------------------------------------------------------------------------------------
// Suggestions.

function addSuggestion(s) {
  if (!s || !s.suggestion_id || state.suggestions.has(s.suggestion_id)) return;
  const typeLabel = TYPE_LABELS[s.type] || labelFor(s.type || "suggestion");
  const card = el("li", {
    class: "suggestion", "data-suggestion-id": s.suggestion_id, "data-priority": s.priority,
    "data-type": s.type, "data-status": s.status || "open",
  });
  const head = el("div", { class: "suggestion-head" });
  head.append(
    el("span", { class: "badge", "data-type": s.type }, typeLabel),
    el("span", { class: "priority" }, `${s.priority || ""} priority`),
    el("span", { class: "suggestion-status" }),
  );
  card.append(head);
  if (s.label) card.append(el("div", { class: "suggestion-label" }, s.label));
  card.append(el("p", { class: "suggestion-text" }, s.text));
  if (s.responds_to) {
    card.append(el("p", { class: "suggestion-responds muted" }, `Responds to: “${s.responds_to}”`));
  }
  card.append(el("div", { class: "suggestion-meta" }));
  const actions = el("div", { class: "suggestion-actions" });
  const short = clip(s.text, 80);
  const source = state.history.find((h) => h.analysis_id && h.analysis_id === s.analysis_id);
  const entry = {
    data: { ...s, status: s.status || "open", created_at: s.created_at || s.at || (source && source.at) || null },
    el: card, pending: false, source,
  };
  if (APPLICABLE.has(s.type)) {
    const applyBtn = el("button", {
      type: "button", class: "primary apply", "aria-label": `Apply ${typeLabel.toLowerCase()}: ${short}`,
    }, "Apply");
    applyBtn.addEventListener("click", () => {
      if (send({ type: "apply", suggestion_id: s.suggestion_id })) {
        entry.pending = true;
        renderCardState(entry);
      }
    });
    actions.append(applyBtn);
  }
  if (ASKABLE.has(s.type)) {
    const askBtn = el("button", {
      type: "button", class: "primary ask", "aria-label": `Mark asked: ${short}`,
    }, "Mark asked");
    askBtn.addEventListener("click", () => {
      if (send({ type: "mark_asked", suggestion_id: s.suggestion_id })) {
        entry.pending = true;
        renderCardState(entry);
      }
    });
    actions.append(askBtn);
  }
  const dismissBtn = el("button", {
    type: "button", class: "dismiss", "aria-label": `Dismiss ${typeLabel.toLowerCase()}: ${short}`,
  }, "Dismiss");
  dismissBtn.addEventListener("click", () => {
    if (send({ type: "dismiss", suggestion_id: s.suggestion_id })) {
      entry.pending = true;
      renderCardState(entry);
    }
  });
  actions.append(dismissBtn);
  card.append(actions);
  state.suggestions.set(s.suggestion_id, entry);
  $("suggestions").prepend(card);
  renderCardState(entry);
  trimSuggestions();
  renderSuggestionCount();
}

function trimSuggestions() {
  if (state.suggestions.size <= MAX_CARDS) return;
  // Drop the oldest handled cards first, then the oldest open ones.
  const ordered = [...state.suggestions.entries()];
  const victims = ordered.filter(([, e]) => e.data.status !== "open").concat(ordered);
  for (const [id, entry] of victims) {
    if (state.suggestions.size <= MAX_CARDS) break;
    if (!state.suggestions.has(id)) continue;
    entry.el.remove();
    state.suggestions.delete(id);
  }
}

function updateSuggestion(id, status, commandId) {
  const entry = state.suggestions.get(id);
  if (!entry) return;
  if (status === "expired") { // the conversation made it moot: the card goes
    entry.el.remove();
    state.suggestions.delete(id);
    renderSuggestionCount();
    return;
  }
  entry.data.status = status;
  entry.pending = false;
  if (commandId) entry.data.command_id = commandId;
  renderCardState(entry);
  renderSuggestionCount();
}

function renderCardState(entry) {
  const { data, el: card } = entry;
  card.dataset.status = data.status;
  const delivered = data.command_id && state.commands.get(data.command_id)?.delivered;
  const label = {
    open: entry.pending ? "Sending…" : "",
    applied: delivered ? "Applied · delivered" : "Applied",
    dismissed: "Dismissed",
    asked: "Asked",
    expired: "Expired",
  }[data.status] ?? data.status;
  card.querySelector(".suggestion-status").textContent = label;
  renderCardMeta(entry);
  const handled = data.status !== "open";
  for (const button of card.querySelectorAll("button")) {
    button.disabled = handled || entry.pending || state.ended || !state.ws;
  }
  const actions = card.querySelector(".suggestion-actions");
  actions.hidden = handled || ENDED.has(state.sessionStatus);
}

// How old a card is and which analysis made it (its time and the score it gave).
function renderCardMeta(entry) {
  const parts = [];
  if (entry.data.created_at) parts.push(`suggested ${ago(entry.data.created_at)}`);
  const source = entry.source || state.history.find((h) => h.analysis_id && h.analysis_id === entry.data.analysis_id);
  if (source) parts.push(`by the ${clock(source.at)} analysis (score ${source.score})`);
  entry.el.querySelector(".suggestion-meta").textContent = parts.join(" · ");
}

function renderSuggestionCount() {
  const open = [...state.suggestions.values()].filter((e) => e.data.status === "open").length;
  const ended = ENDED.has(state.sessionStatus);
  $("suggestion-count").textContent = open
    ? `${open} ${ended ? "left open" : "open"}`
    : ended ? "all handled" : "none open";
}

function updateButtons() {
  for (const entry of state.suggestions.values()) renderCardState(entry);
  const offline = state.ended || !state.ws;
  $("analyze-now").disabled = offline;
  for (const button of $("steer").querySelectorAll("button")) button.disabled = offline;
  $("end-interview").disabled = ENDED.has(state.sessionStatus) || state.readOnly;
  $("steer").hidden = state.readOnly || ENDED.has(state.sessionStatus);
}

// ---------------------------------------------------------------------------------------------
// Commands.

function addCommand(c) {
  if (state.commands.has(c.command_id)) return;
  const payload = c.payload || {};
  const what = payload.curveball || payload.context_injection || payload.text || payload.reason || "";
  const row = el("li", { "data-command-id": c.command_id, "data-delivered": "false" });
  row.append(
    el("span", {}, `${COMMAND_LABELS[c.command_type] || c.command_type}: ${clip(what, 90)}`),
    el("span", { class: "command-state" }, "sent"),
  );
  state.commands.set(c.command_id, { data: c, el: row, delivered: false });
  $("commands").prepend(row);
  if (c.suggestion_id && state.suggestions.has(c.suggestion_id)) {
    const entry = state.suggestions.get(c.suggestion_id);
    entry.data.command_id = c.command_id;
    renderCardState(entry);
  }
}

function markDelivered(commandId) {
  const cmd = state.commands.get(commandId);
  if (cmd) {
    cmd.delivered = true;
    cmd.el.dataset.delivered = "true";
    cmd.el.querySelector(".command-state").textContent = "delivered ✓";
  }
  for (const entry of state.suggestions.values()) {
    if (entry.data.command_id === commandId) renderCardState(entry);
  }
}

// ---------------------------------------------------------------------------------------------
// Transcript: newest at the bottom; follow it unless the reader scrolled up.

function addLine(line) {
  const key = line.message_id || `${line.round_number}:${line.seq}`;
  if (state.seenLines.has(key)) return;
  state.seenLines.add(key);
  const list = $("transcript");
  const following = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  const item = el("li", {
    class: "line", "data-role": line.role, "data-seq": line.seq ?? "", "data-message-id": key,
  });
  item.append(
    el("span", { class: "speaker" }, line.role === "user" ? "Candidate" : state.personaName),
    el("time", { class: "time", datetime: line.timestamp || "" }, clock(line.timestamp)),
    el("span", { class: "text" }, line.text),
  );
  if (line.revision) item.dataset.revision = String(line.revision);
  list.append(item);
  while (list.childElementCount > MAX_LINES) list.firstElementChild.remove();
  if (following) list.scrollTop = list.scrollHeight;
  else $("jump-latest").hidden = false;
}

// A correction (`transcript_updated`): the line's text is replaced in place; the text it replaced
// stays readable as the line's tooltip.
function updateLine(event) {
  const item = [...$("transcript").children].find((li) => li.dataset.messageId === event.message_id);
  if (!item) return; // not shown (scrolled out): a later snapshot has the corrected text
  item.querySelector(".text").textContent = event.text;
  item.dataset.revision = String(event.revision);
  item.title = `corrected; was: ${event.previous_text}`;
}

function wireTranscriptScroll() {
  const list = $("transcript");
  const jump = $("jump-latest");
  list.addEventListener("scroll", () => {
    if (list.scrollHeight - list.scrollTop - list.clientHeight < 48) jump.hidden = true;
  });
  jump.addEventListener("click", () => {
    list.scrollTop = list.scrollHeight;
    jump.hidden = true;
  });
}

// ---------------------------------------------------------------------------------------------

$("analyze-now").addEventListener("click", () => {
  if (send({ type: "analyze" })) toast("Analysis requested.");
});
wireTranscriptScroll();
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(renderSparkline, 150);
});
// Manual steering: the protocol's `command` frame (source "manual"), docs/protocol.md.
function manual(formId, build) {
  const form = $(formId);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const built = build(form.elements);
    if (!built) return;
    if (send({ type: "command", ...built })) {
      form.reset();
      form.closest("details").open = false;
      toast(`${COMMAND_LABELS[built.command_type]} sent to the voice agent.`);
    }
  });
}
manual("manual-context", (f) => {
  const text = f.text.value.trim();
  if (!text) { toast("Write the context update first."); return null; }
  return { command_type: "context_update", payload: { text } };
});
manual("manual-curveball", (f) => {
  const label = f.label.value.trim();
  const curveball = f.curveball.value.trim();
  if (!label || !curveball) { toast("A curveball needs a label and what happens."); return null; }
  return { command_type: "curveball_inject", payload: { curveball, label } };
});
manual("manual-end-call", (f) => ({
  command_type: "end_call", payload: { reason: f.reason.value.trim() || "ended by the interviewer" },
}));

// Ending the interview: REST `POST /api/sessions/{id}/end`, after a confirmation.
const dialog = $("confirm");
$("end-interview").addEventListener("click", () => dialog.showModal());
$("confirm-cancel").addEventListener("click", () => dialog.close());
$("confirm-ok").addEventListener("click", async () => {
  dialog.close();
  $("end-interview").disabled = true;
  try {
    const out = await api(`/api/sessions/${encodeURIComponent(state.sessionId)}/end`, { method: "POST" });
    end("session ended", out.status);
  } catch (err) {
    $("end-interview").disabled = false;
    toast(`Could not end the interview: ${err.message}`);
  }
});

// An ended interview: everything from its report, nothing to steer.
async function loadReadOnly() {
  if (state.readOnly) return;
  state.readOnly = true;
  updateButtons();
  try {
    const r = await api(`/api/sessions/${encodeURIComponent(state.sessionId)}/report`);
    const s = r.session;
    state.personaName = (s.persona && s.persona.name) || "Agent";
    state.rubric = r.rubric.factors;
    state.session = { scenario: s.scenario, blueprint: s.blueprint, round_number: s.round_number };
    state.sessionStatus = s.status;
    $("persona-name").textContent = s.persona ? `${s.persona.name} · ${s.persona.role}` : "Interview panel";
    $("transcript-title").textContent = "Final transcript";
    state.history = r.score_history
      .filter((h) => typeof h.score === "number")
      .map((h) => ({ analysis_id: h.analysis_id, score: clamp(h.score), band: h.band, at: h.at }));
    state.alerts = r.alerts;
    const last = r.score_history.length ? r.score_history[r.score_history.length - 1] : null;
    setMeter(last ? { score: last.score, band: last.band, factors: last.factors, reasoning: last.reasoning } : null);
    renderSparkline();
    renderAlerts();
    state.suggestions.clear();
    $("suggestions").replaceChildren();
    for (const g of r.suggestions) {
      addSuggestion({ ...g, status: g.status, created_at: g.created_at });
    }
    renderSuggestionCount();
    $("commands").replaceChildren();
    state.commands.clear();
    for (const c of r.commands) {
      addCommand(c);
      if (c.delivered_at) markDelivered(c.command_id);
    }
    state.seenLines.clear();
    $("transcript").replaceChildren();
    for (const m of r.transcript) addLine(m);
    setMessageCount(r.message_count, true);
    end("session ended", s.status);
    document.body.dataset.readOnly = "true";
  } catch (err) {
    end(err.status ? `could not load the report: ${err.message}` : "gateway unreachable");
  }
}

setInterval(() => { for (const entry of state.suggestions.values()) renderCardMeta(entry); }, 30000);
setMeter(null);
renderSparkline();
updateButtons();
if (ENDED.has(state.sessionStatus)) loadReadOnly();
else connect();
