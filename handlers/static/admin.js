// Admin console: personas and scenarios listed with the API's filters, created, edited,
// deactivated and reactivated; persona templates checked as you type (template_rules.js, the
// API's own rules) and previewed against a scenario through POST /api/personas/preview.

import {
  $, BLUEPRINTS, api, el, fieldErrors, fillSelect, lines, navigation, notice, query, trackName,
} from "./common.js";
import { templateProblems } from "./template_rules.js";

const TEMPLATE_FIELDS = ["prompt_template", "first_message_template"];
const state = { personas: [], scenarios: [], editingPersona: null, editingScenario: null };

// --- tabs ---------------------------------------------------------------------------------

function showTab(which) {
  for (const name of ["personas", "scenarios"]) {
    const on = name === which;
    $(`tab-${name}`).setAttribute("aria-selected", String(on));
    $(`${name}-panel`).hidden = !on;
  }
}
$("tab-personas").addEventListener("click", () => showTab("personas"));
$("tab-scenarios").addEventListener("click", () => showTab("scenarios"));

// --- personas -----------------------------------------------------------------------------

async function loadPersonas() {
  const q = query({
    blueprint: $("pf-blueprint").value, difficulty: $("pf-difficulty").value,
    is_active: $("pf-active").value, limit: 200,
  });
  const page = await api(`/api/personas${q}`);
  state.personas = page.items;
  $("persona-total").textContent = `(${page.total})`;
  $("persona-rows").replaceChildren(...page.items.map(personaRow));
  if (!page.items.length) {
    $("persona-rows").append(el("tr", {}, null));
    $("persona-rows").firstChild.append(el("td", { colspan: 4, class: "muted" }, "No personas match these filters."));
  }
}

function personaRow(p) {
  const row = el("tr", { "data-persona-id": p.id, "data-active": String(p.is_active) });
  const name = el("td");
  name.append(el("strong", {}, p.name), el("div", { class: "muted" }, p.role));
  const actions = el("td", { class: "row-actions" });
  const edit = el("button", { type: "button", class: "edit", "aria-label": `Edit ${p.name}` }, "Edit");
  edit.addEventListener("click", () => editPersona(p));
  const toggle = el("button", {
    type: "button", class: p.is_active ? "deactivate" : "reactivate",
    "aria-label": `${p.is_active ? "Deactivate" : "Reactivate"} ${p.name}`,
  }, p.is_active ? "Deactivate" : "Reactivate");
  toggle.addEventListener("click", async () => {
    try {
      if (p.is_active) await api(`/api/personas/${p.id}`, { method: "DELETE" });
      else await api(`/api/personas/${p.id}`, { method: "PATCH", body: { is_active: true } });
      notice(`${p.name} ${p.is_active ? "deactivated" : "reactivated"}.`);
      await loadPersonas();
    } catch (err) {
      notice(`Could not change ${p.name}: ${err.message}`);
    }
  });
  actions.append(edit, toggle);
  const track = el("td", {}, trackName(p.blueprint));
  track.append(el("div", { class: "muted" }, `language ${p.language}`));
  row.append(name, track, el("td", { class: "num opt" }, p.difficulty), actions);
  return row;
}

function personaForm() { return $("persona-form"); }

function resetPersona() {
  const form = personaForm();
  form.reset();
  state.editingPersona = null;
  $("persona-form-title").textContent = "New persona";
  $("persona-editing").textContent = "";
  $("persona-save").textContent = "Create persona";
  $("persona-form-error").hidden = true;
  checkTemplates();
}

function editPersona(p) {
  const form = personaForm();
  state.editingPersona = p;
  for (const key of ["name", "role", "blueprint", "difficulty", "language", "company_context",
    "communication_style", "prompt_template", "first_message_template"]) {
    form.elements[key].value = String(p[key] ?? "");
  }
  form.elements.personality_traits.value = (p.personality_traits || []).join("\n");
  form.elements.objection_patterns.value = (p.objection_patterns || []).join("\n");
  form.elements.is_active.checked = p.is_active;
  $("persona-form-title").textContent = `Edit ${p.name}`;
  $("persona-editing").textContent = p.is_active ? "" : "inactive";
  $("persona-save").textContent = "Save changes";
  $("persona-form-error").hidden = true;
  checkTemplates();
  form.elements.name.focus();
}

function personaBody() {
  const f = personaForm().elements;
  return {
    name: f.name.value.trim(), role: f.role.value.trim(), blueprint: f.blueprint.value,
    difficulty: Number(f.difficulty.value), language: f.language.value.trim() || "en",
    company_context: f.company_context.value.trim(),
    communication_style: f.communication_style.value.trim(),
    personality_traits: lines(f.personality_traits.value),
    objection_patterns: lines(f.objection_patterns.value),
    prompt_template: f.prompt_template.value,
    first_message_template: f.first_message_template.value,
    is_active: f.is_active.checked,
  };
}

// Same rules as the API: the message under each template field, updated on every keystroke.
function checkTemplates() {
  const form = personaForm();
  let ok = true;
  for (const field of TEMPLATE_FIELDS) {
    const problems = templateProblems(form.elements[field].value);
    const box = form.querySelector(`[data-error-for="${field}"]`);
    box.textContent = problems.join("; ");
    form.elements[field].setAttribute("aria-invalid", String(problems.length > 0));
    ok = ok && problems.length === 0;
  }
  $("persona-save").disabled = !ok;
  return ok;
}
for (const field of TEMPLATE_FIELDS) {
  personaForm().elements[field].addEventListener("input", checkTemplates);
}

function showFormError(form, box, err) {
  const fields = fieldErrors(err);
  for (const node of form.querySelectorAll("[aria-invalid=true]")) {
    if (!TEMPLATE_FIELDS.includes(node.name)) node.removeAttribute("aria-invalid");
  }
  const named = [];
  for (const [field, message] of Object.entries(fields)) {
    if (form.elements[field]) {
      form.elements[field].setAttribute("aria-invalid", "true");
      named.push(`${labelOf(form, field)}: ${message}`);
    } else {
      named.push(message);
    }
  }
  box.textContent = named.length ? named.join(" · ") : err.message;
  box.hidden = false;
}

function labelOf(form, field) {
  const label = form.elements[field].closest("label");
  return label ? label.firstChild.textContent.trim() : field;
}

personaForm().addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!checkTemplates()) return;
  const body = personaBody();
  const editing = state.editingPersona;
  try {
    const saved = editing
      ? await api(`/api/personas/${editing.id}`, { method: "PATCH", body })
      : await api("/api/personas", { method: "POST", body });
    notice(`${saved.name} ${editing ? "saved" : "created"}.`);
    $("pf-active").value = saved.is_active ? $("pf-active").value : "all";
    await loadPersonas();
    editPersona(saved);
  } catch (err) {
    showFormError(personaForm(), $("persona-form-error"), err);
  }
});
$("persona-reset").addEventListener("click", resetPersona);
$("persona-new").addEventListener("click", () => { resetPersona(); personaForm().elements.name.focus(); });
for (const id of ["pf-blueprint", "pf-difficulty", "pf-active"]) {
  $(id).addEventListener("change", () => loadPersonas().catch((e) => notice(e.message)));
}

$("preview-run").addEventListener("click", async () => {
  const body = { ...personaBody(), scenario_id: $("preview-scenario").value };
  delete body.is_active;
  if (!body.blueprint) delete body.blueprint;
  $("preview-error").hidden = true;
  try {
    const out = await api("/api/personas/preview", { method: "POST", body });
    $("preview-first").textContent = out.first_message || "";
    $("preview-prompt").textContent = out.prompt;
    $("preview-output").hidden = false;
  } catch (err) {
    $("preview-output").hidden = true;
    const fields = fieldErrors(err);
    $("preview-error").textContent = Object.values(fields).join(" · ") || err.message;
    $("preview-error").hidden = false;
  }
});

// --- scenarios ----------------------------------------------------------------------------

async function loadScenarios() {
  const q = query({ blueprint: $("sf-blueprint").value, is_active: $("sf-active").value, limit: 200 });
  const page = await api(`/api/scenarios${q}`);
  state.scenarios = page.items;
  $("scenario-total").textContent = `(${page.total})`;
  $("scenario-rows").replaceChildren(...page.items.map(scenarioRow));
}

async function loadPreviewScenarios() {
  const page = await api("/api/scenarios?limit=200");
  fillSelect($("preview-scenario"), page.items.map((s) => [s.id, `${s.name} (${trackName(s.blueprint)})`]));
}

function scenarioRow(s) {
  const row = el("tr", { "data-scenario-id": s.id, "data-active": String(s.is_active) });
  const actions = el("td", { class: "row-actions" });
  const edit = el("button", { type: "button", class: "edit", "aria-label": `Edit ${s.name}` }, "Edit");
  edit.addEventListener("click", () => editScenario(s));
  const toggle = el("button", { type: "button", class: s.is_active ? "deactivate" : "reactivate" },
    s.is_active ? "Deactivate" : "Reactivate");
  toggle.addEventListener("click", async () => {
    try {
      await api(`/api/scenarios/${s.id}`, { method: "PATCH", body: { is_active: !s.is_active } });
      notice(`${s.name} ${s.is_active ? "deactivated" : "reactivated"}.`);
      await loadScenarios();
    } catch (err) {
      notice(`Could not change ${s.name}: ${err.message}`);
    }
  });
  actions.append(edit, toggle);
  row.append(el("td", {}, s.name), el("td", {}, trackName(s.blueprint)), el("td", { class: "opt" }, s.industry), actions);
  return row;
}

function editScenario(s) {
  const f = $("scenario-form").elements;
  state.editingScenario = s;
  for (const key of ["name", "description", "industry", "company_size", "budget_range", "decision_timeline"]) {
    f[key].value = s[key] || "";
  }
  f.blueprint.value = s.blueprint || "";
  f.pain_points.value = (s.pain_points || []).join("\n");
  f.is_active.checked = s.is_active;
  $("scenario-form-title").textContent = `Edit ${s.name}`;
  $("scenario-save").textContent = "Save changes";
  $("scenario-form-error").hidden = true;
}

function resetScenario() {
  $("scenario-form").reset();
  state.editingScenario = null;
  $("scenario-form-title").textContent = "New scenario";
  $("scenario-save").textContent = "Create scenario";
  $("scenario-form-error").hidden = true;
}

$("scenario-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = $("scenario-form").elements;
  const body = {
    name: f.name.value.trim(), description: f.description.value.trim(),
    industry: f.industry.value.trim(), company_size: f.company_size.value.trim(),
    budget_range: f.budget_range.value.trim(), decision_timeline: f.decision_timeline.value.trim(),
    pain_points: lines(f.pain_points.value), blueprint: f.blueprint.value || null,
    is_active: f.is_active.checked,
  };
  const editing = state.editingScenario;
  try {
    const saved = editing
      ? await api(`/api/scenarios/${editing.id}`, { method: "PATCH", body })
      : await api("/api/scenarios", { method: "POST", body });
    notice(`${saved.name} ${editing ? "saved" : "created"}.`);
    await Promise.all([loadScenarios(), loadPreviewScenarios()]);
    editScenario(saved);
  } catch (err) {
    showFormError($("scenario-form"), $("scenario-form-error"), err);
  }
});
$("scenario-reset").addEventListener("click", resetScenario);
$("scenario-new").addEventListener("click", () => { resetScenario(); $("scenario-form").elements.name.focus(); });
for (const id of ["sf-blueprint", "sf-active"]) {
  $(id).addEventListener("change", () => loadScenarios().catch((e) => notice(e.message)));
}

// --- start ----------------------------------------------------------------------------------

navigation();
fillSelect($("pf-blueprint"), BLUEPRINTS, { any: "any" });
fillSelect($("sf-blueprint"), BLUEPRINTS, { any: "any" });
fillSelect(personaForm().elements.blueprint, BLUEPRINTS);
fillSelect($("scenario-form").elements.blueprint, BLUEPRINTS, { any: "any track" });
resetPersona();
Promise.all([loadPersonas(), loadScenarios(), loadPreviewScenarios()])
  .then(() => { document.body.dataset.ready = "true"; })
  .catch((err) => notice(`Could not load the console: ${err.message}`));
