// Interviewer panel: one WebSocket to /ws/panel/{id}, rendered without a framework.
//
// The socket delivers a `snapshot`, then events numbered by `event_id` (+1 each). We remember
// the last event applied and, after any drop or a gap in the numbering, reconnect with
// `?after=<last>` so the gateway replays exactly what we missed (docs/protocol.md, "Resume
// without gaps"). Every piece of text from the wire goes through textContent, never innerHTML:
// transcript lines and suggestions are untrusted.

const SVG_NS = "http://www.w3.org/2000/svg";
const MAX_LINES = 500;
const MAX_CARDS = 40;
const APPLICABLE = new Set(["context_injection", "curveball"]);
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

const $ = (id) => document.getElementById(id);

const params = new URLSearchParams(location.search);
const state = {
  sessionId: document.body.dataset.sessionId,
  token: params.get("token") || "",
  ws: null,
  lastEventId: null, // null until the first snapshot: then resume with ?after=
  attempts: 0,
  reconnectTimer: null,
  ended: false,
  personaName: "Agent",
  rubric: [], // [{name, label}]
  history: [], // [{analysis_id, score, band, at}]
  alerts: [], // [{kind, score, previous_score, analysis_id?, message?}]
  suggestions: new Map(), // suggestion_id -> {data, el}
  commands: new Map(), // command_id -> {data, el, delivered}
  seenLines: new Set(),
  messageCount: 0,
};

// ---------------------------------------------------------------------------------------------
// Small DOM helpers (text only).

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, String(value));
  }
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

function bandOf(score) {
  if (score >= 80) return "green";
  if (score >= 50) return "yellow";
  return "red";
}

function clamp(n) {
  const v = Number(n);
  return Number.isFinite(v) ? Math.max(0, Math.min(100, Math.round(v))) : 0;
}

function labelFor(name) {
  const words = String(name).replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

function clip(text, limit) {
  const value = String(text ?? "");
  return value.length > limit ? `${value.slice(0, limit - 1)}…` : value;
}

function clock(ts) {
  const d = ts ? new Date(ts) : new Date();
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

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
  let url = `${scheme}://${location.host}/ws/panel/${encodeURIComponent(state.sessionId)}`;
  url += `?token=${encodeURIComponent(state.token)}`;
  if (state.lastEventId !== null) url += `&after=${state.lastEventId}`;
  return url;
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
    if (event.code === 4000) return end("session ended");
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
    const url = `/panel/${encodeURIComponent(state.sessionId)}/status?token=${encodeURIComponent(state.token)}`;
    const resp = await fetch(url, { cache: "no-store" });
    const body = await resp.json();
    if (!resp.ok) {
      const message = body && body.error ? body.error.message : `HTTP ${resp.status}`;
      if ([401, 403, 404].includes(resp.status)) end(`access refused: ${message}`);
      return;
    }
    if (body.status === "completed" || body.status === "cancelled") end(`session ${body.status}`);
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

function end(reason) {
  state.ended = true;
  clearTimeout(state.reconnectTimer);
  setConnection("ended", reason);
  const ws = state.ws;
  state.ws = null;
  if (ws) ws.close(1000, "ended");
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
    case "analysis":
      if (event.rubric && Array.isArray(event.rubric.factors)) state.rubric = event.rubric.factors;
      setMeter(event.say_meter);
      state.history.push({
        analysis_id: event.analysis_id, score: clamp(event.say_meter.score),
        band: event.say_meter.band, at: event.at,
      });
      renderSparkline();
      for (const s of [...(event.suggestions || [])].reverse()) {
        addSuggestion({ ...s, status: "open", analysis_id: event.analysis_id });
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
      end("session ended");
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
  const scenario = session.scenario && session.scenario.name ? session.scenario.name : "";
  const parts = [scenario, session.blueprint, `round ${session.round_number || 1}`, session.status];
  $("session-meta").textContent = parts.filter(Boolean).join(" · ");
  setPresence(snap.candidate_connected);
  setMessageCount(snap.message_count, true);

  setMeter(snap.say_meter);
  state.history = (snap.score_history || []).map((h) => ({ ...h, score: clamp(h.score) }));
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
  if (session.status && session.status !== "active") end(`session ${session.status}`);
}

// ---------------------------------------------------------------------------------------------
// Header bits.

function setPresence(connected) {
  const node = $("candidate-presence");
  if (typeof connected !== "boolean") return;
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
    $("meter-reasoning").textContent = "The first analysis runs after 10 messages.";
    return;
  }
  const score = clamp(meter.score);
  const band = meter.band || bandOf(score);
  scoreEl.textContent = String(score);
  scoreEl.dataset.score = String(score);
  bandEl.dataset.band = band;
  bandEl.textContent = band;
  cover.style.left = `${score}%`;
  marker.style.left = `${score}%`;
  marker.hidden = false;
  $("meter-bar").setAttribute("aria-valuenow", String(score));
  $("meter-reasoning").textContent = meter.reasoning || "";
}

function renderSparkline() {
  const box = $("sparkline");
  const points = state.history;
  const width = Math.max(120, box.clientWidth || 300);
  const height = 64;
  const pad = 6;
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "data-points": points.length, "data-alerts": state.alerts.length,
  });
  const title = svg("title");
  title.textContent = points.length
    ? `Scores: ${points.map((p) => p.score).join(", ")}`
    : "No scores yet";
  root.append(title);
  const y = (score) => pad + (1 - score / 100) * (height - 2 * pad);
  const x = (i) => (points.length === 1 ? width / 2 : pad + (i * (width - 2 * pad)) / (points.length - 1));
  for (const level of [50, 80]) {
    root.append(svg("line", { class: "band-line", x1: 0, x2: width, y1: y(level), y2: y(level) }));
  }
  if (points.length > 1) {
    const d = points.map((p, i) => `${x(i).toFixed(1)},${y(p.score).toFixed(1)}`).join(" ");
    root.append(svg("polyline", { class: "trend-line", points: d }));
  }
  points.forEach((p, i) => root.append(svg("circle", { class: "point", cx: x(i), cy: y(p.score), r: 2.5 })));
  for (const alert of state.alerts) {
    let idx = alert.analysis_id ? points.findIndex((p) => p.analysis_id === alert.analysis_id) : -1;
    if (idx < 0) idx = points.map((p) => p.score).lastIndexOf(clamp(alert.score));
    if (idx < 0) continue;
    const mark = svg("circle", {
      class: "alert-mark", cx: x(idx), cy: y(points[idx].score), r: 5, "data-kind": alert.kind,
    });
    const t = svg("title");
    t.textContent = alertText(alert);
    mark.append(t);
    root.append(mark);
  }
  box.replaceChildren(root);
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
  const actions = el("div", { class: "suggestion-actions" });
  const short = clip(s.text, 80);
  const entry = { data: { ...s, status: s.status || "open" }, el: card, pending: false };
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
  }[data.status] ?? data.status;
  card.querySelector(".suggestion-status").textContent = label;
  const handled = data.status !== "open";
  for (const button of card.querySelectorAll("button")) {
    button.disabled = handled || entry.pending || state.ended || !state.ws;
  }
  const actions = card.querySelector(".suggestion-actions");
  actions.hidden = handled;
}

function renderSuggestionCount() {
  const open = [...state.suggestions.values()].filter((e) => e.data.status === "open").length;
  $("suggestion-count").textContent = open ? `${open} open` : "none open";
}

function updateButtons() {
  for (const entry of state.suggestions.values()) renderCardState(entry);
  $("analyze-now").disabled = state.ended || !state.ws;
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
  list.append(item);
  while (list.childElementCount > MAX_LINES) list.firstElementChild.remove();
  if (following) list.scrollTop = list.scrollHeight;
  else $("jump-latest").hidden = false;
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
setMeter(null);
renderSparkline();
updateButtons();
if (!state.token) end("no token in the page address (?token=…)");
else connect();
