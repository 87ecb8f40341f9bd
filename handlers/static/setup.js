// Interview set-up: track, then difficulty, then a persona of that track, then a scenario;
// candidate name and round; create through POST /api/sessions; then the two links.

import {
  $, BLUEPRINTS, api, copyButton, el, fieldErrors, fillSelect, navigation, query, trackName,
} from "./common.js";

const state = { personas: [], scenarios: [] };

async function loadPersonas() {
  const q = query({ blueprint: $("s-blueprint").value, difficulty: $("s-difficulty").value, limit: 200 });
  const page = await api(`/api/personas${q}`);
  state.personas = page.items;
  const select = $("s-persona");
  if (!page.items.length) {
    select.replaceChildren(el("option", { value: "" }, "no active persona for this choice"));
  } else {
    fillSelect(select, page.items.map((p) => [p.id, `${p.name} · ${p.role} · level ${p.difficulty}`]));
  }
  describePersona();
}

async function loadScenarios() {
  const page = await api("/api/scenarios?limit=200");
  state.scenarios = page.items;
  renderScenarios();
}

// Scenarios of the chosen track first, then general ones, then the rest (marked).
function renderScenarios() {
  const track = $("s-blueprint").value;
  const rank = (s) => (s.blueprint === track ? 0 : s.blueprint === null ? 1 : 2);
  const sorted = [...state.scenarios].sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
  fillSelect($("s-scenario"), sorted.map((s) => [s.id,
    s.blueprint === track ? s.name : s.blueprint === null ? `${s.name} (any track)` : `${s.name} (${trackName(s.blueprint)})`]));
  warn();
}

function describePersona() {
  const p = state.personas.find((x) => x.id === $("s-persona").value);
  $("persona-about").textContent = p ? p.company_context : "";
  warn();
}

// The same advice the API gives in `warnings`: shown before creating.
function warn() {
  const p = state.personas.find((x) => x.id === $("s-persona").value);
  const s = state.scenarios.find((x) => x.id === $("s-scenario").value);
  const box = $("track-warning");
  if (p && s && s.blueprint && s.blueprint !== p.blueprint) {
    box.textContent = `${p.name} is a ${trackName(p.blueprint)} persona but this scenario is written for ${trackName(s.blueprint)}: the conversation may not fit. You can still create it.`;
    box.hidden = false;
  } else {
    box.hidden = true;
  }
}

$("s-blueprint").addEventListener("change", () => { loadPersonas(); renderScenarios(); });
$("s-difficulty").addEventListener("change", loadPersonas);
$("s-persona").addEventListener("change", describePersona);
$("s-scenario").addEventListener("change", warn);

$("setup-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const body = {
    persona_id: $("s-persona").value, scenario_id: $("s-scenario").value,
    round_number: Number($("s-round").value || 1),
  };
  const name = $("s-candidate").value.trim();
  if (name) body.candidate_name = name;
  $("setup-error").hidden = true;
  if (!body.persona_id) {
    $("setup-error").textContent = "Pick a persona first (no active persona matches this track and difficulty).";
    $("setup-error").hidden = false;
    return;
  }
  try {
    const created = await api("/api/sessions", { method: "POST", body });
    showCreated(created);
  } catch (err) {
    const fields = fieldErrors(err);
    $("setup-error").textContent = Object.values(fields).join(" · ") || err.message;
    $("setup-error").hidden = false;
  }
});

function showCreated(created) {
  const p = state.personas.find((x) => x.id === created.persona_id);
  const s = state.scenarios.find((x) => x.id === created.scenario_id);
  $("created-summary").textContent = [
    $("s-candidate").value.trim() || "Unnamed candidate", p && p.name, s && s.name, `round ${created.round_number}`,
  ].filter(Boolean).join(" · ");
  $("created-warnings").replaceChildren(...(created.warnings || []).map((w) => el("li", { class: "warning" }, w)));
  $("candidate-link").value = created.candidate_url;
  $("panel-link").value = created.panel_url;
  $("candidate-copy").replaceChildren(copyButton(() => created.candidate_url));
  $("panel-copy").replaceChildren(copyButton(() => created.panel_url));
  $("open-panel").href = `/panel/${created.session_id}`;
  $("open-report").href = `/interviews/${created.session_id}/report`;
  document.body.dataset.sessionId = created.session_id;
  $("setup-form").hidden = true;
  $("created").hidden = false;
  $("created-title").focus();
}

$("another").addEventListener("click", () => {
  $("created").hidden = true;
  $("setup-form").hidden = false;
});

navigation();
fillSelect($("s-blueprint"), BLUEPRINTS);
Promise.all([loadPersonas(), loadScenarios()])
  .then(() => { document.body.dataset.ready = "true"; })
  .catch((err) => { $("setup-error").textContent = err.message; $("setup-error").hidden = false; });
