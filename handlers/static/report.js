// A finished (or running) interview's report, from GET /api/sessions/{id}/report: summary,
// score chart with axis, values and band lines, factor history, every suggestion and what
// became of it, every command with its delivery time, the whole transcript. Printable; the
// same JSON is downloadable.

import {
  $, api, bandOf, clock, duration, el, labelFor, linkToken, navigation, trackName, when,
} from "./common.js";
import { scoreChart } from "./chart.js";

const sessionId = document.body.dataset.sessionId;
const TYPE = { context_injection: "Context injection", curveball: "Curveball", followup_question: "Follow-up" };
const COMMAND = { difficulty_change: "Context injection", curveball_inject: "Curveball", context_update: "Context update", end_call: "End call" };
const STATUS = { open: "Still open", applied: "Applied", asked: "Asked", dismissed: "Dismissed", expired: "Expired (moot)" };

function alertText(a) {
  if (a.message) return a.message;
  if (a.kind === "entered_red") return `Entered the red zone: ${a.score}`;
  return `Score dropped ${a.previous_score} → ${a.score}`;
}

function render(r) {
  const s = r.session;
  $("title").textContent = `${s.candidate_name || "Unnamed candidate"} · ${s.persona ? s.persona.name : "no persona"}`;
  $("subtitle").textContent = [s.scenario && s.scenario.name, trackName(s.blueprint), `round ${s.round_number}`,
    s.status, `started ${when(s.started_at)}`, s.ended_at ? `ended ${when(s.ended_at)}` : "still running"].filter(Boolean).join(" · ");
  document.body.dataset.status = s.status;
  const panelHref = `/panel/${s.session_id}${linkToken ? `?token=${encodeURIComponent(linkToken)}` : ""}`;
  $("to-panel").href = panelHref;

  const score = r.final_score ?? r.latest_score;
  $("final-score").textContent = typeof score === "number" ? String(score) : "—";
  $("final-score").dataset.score = typeof score === "number" ? String(score) : "";
  $("final-band").dataset.band = typeof score === "number" ? bandOf(score) : "none";
  $("final-band").textContent = typeof score === "number" ? bandOf(score) : r.final_score === null && s.status === "active" ? "running" : "no score";
  if (r.final_score === null && typeof r.latest_score === "number") $("final-band").textContent += " (latest, still running)";
  $("duration").textContent = duration(r.durations.session_s);
  $("duration-note").textContent = r.durations.conversation_s !== null ? `talking for ${duration(r.durations.conversation_s)}` : "no messages";
  $("messages").textContent = String(r.message_count);
  $("messages-note").textContent = `${r.talk.candidate_messages} candidate · ${r.talk.persona_messages} persona`;
  $("talk").textContent = r.talk.candidate_share === null ? "—" : `${Math.round(r.talk.candidate_share * 100)}%`;
  $("talk-note").textContent = `${r.talk.candidate_words} of ${r.talk.candidate_words + r.talk.persona_words} words`;
  const counts = r.suggestion_counts;
  $("suggestions-total").textContent = String(r.suggestions.length);
  $("suggestions-note").textContent = Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(" · ") || "none";

  const points = r.score_history.filter((p) => typeof p.score === "number");
  scoreChart($("chart"), points, { alerts: r.alerts, height: 190, alertText });
  renderFactors(r, points);
  $("alerts").replaceChildren(...r.alerts.map((a) => {
    const li = el("li", { "data-kind": a.kind });
    li.append(el("span", { class: "at" }, clock(a.at)), el("span", { class: "who" }, "Alert"), el("span", {}, alertText(a)));
    return li;
  }));
  if (!r.alerts.length) $("alerts").append(el("li", { class: "muted" }, "No alerts."));

  $("suggestions").replaceChildren(...r.suggestions.map((g) => {
    const tr = el("tr", { "data-suggestion-id": g.suggestion_id, "data-status": g.status });
    const text = el("td");
    if (g.label) text.append(el("strong", {}, `${g.label}: `));
    text.append(document.createTextNode(g.text || ""));
    const what = el("td");
    what.append(el("span", { class: "status-tag", "data-status": g.status }, STATUS[g.status] || g.status));
    if (g.acted_at) what.append(el("div", { class: "muted" }, clock(g.acted_at)));
    tr.append(el("td", {}, `${TYPE[g.type] || labelFor(g.type)} · ${g.priority || ""}`), text, what);
    return tr;
  }));
  if (!r.suggestions.length) $("suggestions").append(emptyRow(3, "No suggestions."));

  $("commands").replaceChildren(...r.commands.map((c) => {
    const p = c.payload || {};
    const what = p.curveball ? `${p.label ? `${p.label}: ` : ""}${p.curveball}` : p.context_injection || p.text || p.reason || "";
    const tr = el("tr", { "data-command-id": c.command_id, "data-delivered": String(c.delivered_at !== null) });
    tr.append(
      el("td", {}, `${COMMAND[c.command_type] || c.command_type}${what ? ` — ${what}` : ""}`),
      el("td", {}, c.source === "manual" ? "interviewer" : "AI suggestion"),
      el("td", {}, clock(c.created_at)),
      el("td", { class: "num" }, c.delivery_s === null ? "not delivered" : `${c.delivery_s.toFixed(2)} s`),
    );
    return tr;
  }));
  if (!r.commands.length) $("commands").append(emptyRow(4, "No commands were sent."));

  $("transcript-count").textContent = `${r.transcript.length} messages`;
  $("transcript").replaceChildren(...r.transcript.map((m) => {
    const li = el("li", { "data-role": m.role, "data-seq": m.seq ?? "" });
    li.append(el("span", { class: "at" }, clock(m.timestamp)), el("span", { class: "who" }, m.speaker), el("span", {}, m.text));
    return li;
  }));

  const blob = new Blob([JSON.stringify(r, null, 2)], { type: "application/json" });
  $("download").href = URL.createObjectURL(blob);
  $("download").setAttribute("download", `interview-${s.session_id}.json`);
  document.body.dataset.ready = "true";
}

function emptyRow(cols, text) {
  const tr = el("tr");
  tr.append(el("td", { colspan: cols, class: "muted" }, text));
  return tr;
}

function renderFactors(r, points) {
  const table = $("factors");
  const names = r.rubric.factors.map((f) => f.name);
  for (const p of points) for (const k of Object.keys(p.factors || {})) if (!names.includes(k)) names.push(k);
  const labels = Object.fromEntries(r.rubric.factors.map((f) => [f.name, f.label]));
  const head = el("tr");
  head.append(el("th", {}, "Factor"), ...points.map((p) => el("th", { class: "num" }, clock(p.at))));
  const body = names.map((name) => {
    const tr = el("tr", { "data-factor": name });
    tr.append(el("td", {}, labels[name] || labelFor(name)));
    for (const p of points) {
      const v = p.factors ? p.factors[name] : undefined;
      const td = el("td", { class: "num" });
      if (typeof v === "number") td.append(el("span", { class: "score", "data-band": bandOf(v) }, v));
      else td.textContent = "—";
      tr.append(td);
    }
    return tr;
  });
  const thead = el("thead");
  thead.append(head);
  const tbody = el("tbody");
  tbody.append(...body);
  if (!points.length) tbody.replaceChildren(emptyRow(1, "No analysis yet."));
  table.replaceChildren(thead, tbody);
}

$("print").addEventListener("click", () => window.print());
navigation();
api(`/api/sessions/${encodeURIComponent(sessionId)}/report`)
  .then(render)
  .catch((err) => {
    $("report-error").textContent = `Could not load the report: ${err.message}`;
    $("report-error").hidden = false;
  });
