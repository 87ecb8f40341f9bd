// The sessions list: filters and paging kept in the address (a reload or a shared link shows
// the same page), one row per interview with links to its panel and its report.

import { $, BLUEPRINTS, api, bandOf, el, fillSelect, navigation, query, when } from "./common.js";

const PAGE = 25;
const params = new URLSearchParams(location.search);
const state = { offset: Number(params.get("offset")) || 0, total: 0 };
const FIELDS = { status: "f-status", blueprint: "f-blueprint", persona_id: "f-persona", candidate: "f-candidate", from: "f-from", to: "f-to" };

function dayStart(value, plusDays = 0) {
  if (!value) return "";
  const d = new Date(`${value}T00:00:00`);
  d.setDate(d.getDate() + plusDays);
  return d.toISOString();
}

function current() {
  const out = {};
  for (const [key, id] of Object.entries(FIELDS)) out[key] = $(id).value.trim();
  return out;
}

async function load() {
  const f = current();
  history.replaceState(null, "", `/interviews${query({ ...f, offset: state.offset || "" })}`);
  const q = query({
    status: f.status, blueprint: f.blueprint, persona_id: f.persona_id, candidate: f.candidate,
    since: dayStart(f.from), until: dayStart(f.to, 1), limit: PAGE, offset: state.offset,
  });
  $("list-error").hidden = true;
  try {
    const page = await api(`/api/sessions${q}`);
    state.total = page.total;
    render(page);
  } catch (err) {
    $("list-error").textContent = err.message;
    $("list-error").hidden = false;
  }
}

function scoreCell(value) {
  const td = el("td", { class: "num" });
  if (typeof value === "number") td.append(el("span", { class: "score", "data-band": bandOf(value) }, value));
  else td.textContent = "—";
  return td;
}

function render(page) {
  $("total").textContent = `(${page.total})`;
  const rows = page.items.map((s) => {
    const tr = el("tr", { "data-session-id": s.session_id, "data-status": s.status });
    const links = el("td", { class: "row-actions" });
    links.append(
      el("a", { href: s.panel_url, class: "panel-link" }, s.status === "active" ? "Panel" : "Panel (ended)"),
      el("a", { href: s.report_url, class: "report-link" }, "Report"),
    );
    tr.append(
      el("td", {}, s.candidate_name || "—"),
      el("td", {}, s.persona ? `${s.persona.name}` : "—"),
      el("td", { class: "opt" }, s.scenario ? s.scenario.name : "—"),
      (() => { const td = el("td"); td.append(el("span", { class: "pill", "data-status": s.status }, s.status)); return td; })(),
      el("td", { class: "num opt" }, s.message_count),
      scoreCell(s.latest_score),
      scoreCell(s.final_score),
      el("td", { class: "opt" }, when(s.created_at)),
      links,
    );
    return tr;
  });
  if (!rows.length) {
    const tr = el("tr");
    tr.append(el("td", { colspan: 9, class: "muted" }, "No interviews match these filters."));
    rows.push(tr);
  }
  $("rows").replaceChildren(...rows);
  const first = page.total ? page.offset + 1 : 0;
  $("range").textContent = `${first}–${page.offset + page.items.length} of ${page.total}`;
  $("prev").disabled = page.offset === 0;
  $("next").disabled = page.offset + page.items.length >= page.total;
  document.body.dataset.ready = "true";
}

async function loadPersonas() {
  const page = await api("/api/personas?is_active=all&limit=200");
  fillSelect($("f-persona"), page.items.map((p) => [p.id, p.name]), { any: "any" });
}

let typing = null;
for (const id of Object.values(FIELDS)) {
  $(id).addEventListener(id === "f-candidate" ? "input" : "change", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.offset = 0; load(); }, id === "f-candidate" ? 250 : 0);
  });
}
$("f-clear").addEventListener("click", () => {
  for (const id of Object.values(FIELDS)) $(id).value = "";
  state.offset = 0;
  load();
});
$("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - PAGE); load(); });
$("next").addEventListener("click", () => { state.offset += PAGE; load(); });

navigation();
fillSelect($("f-blueprint"), BLUEPRINTS, { any: "any" });
loadPersonas().catch(() => null).finally(() => {
  for (const [key, id] of Object.entries(FIELDS)) if (params.get(key)) $(id).value = params.get(key);
  load();
});
