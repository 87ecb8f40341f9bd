// The template rules of gateway/prompt_render.py, mirrored for the admin console so mistakes
// show while typing. tests/browser/test_template_rules.py checks both give the same answers
// on a table of cases.

export const PERSONA_FIELDS = [
  "name", "role", "blueprint", "difficulty", "company_context", "personality_traits",
  "communication_style", "objection_patterns", "language",
];
export const SCENARIO_FIELDS = [
  "name", "description", "industry", "company_size", "pain_points", "budget_range",
  "decision_timeline",
];
export const PLACEHOLDERS = new Set([
  ...PERSONA_FIELDS.map((f) => `persona.${f}`),
  ...SCENARIO_FIELDS.map((f) => `scenario.${f}`),
  "difficulty_instructions",
]);

const PLACEHOLDER = /\{([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)?)\}/g;
const KNOWN = "(?:persona|scenario)\\.[A-Za-z_][A-Za-z0-9_]*|difficulty_instructions";
const SPACED = new RegExp(`\\{[ \\t]*(${KNOWN})[ \\t]*\\}`, "g");
const UNCLOSED = new RegExp(`\\{[ \\t]*(${KNOWN})(?![A-Za-z0-9_]|[ \\t]*\\})`, "g");
const UNOPENED = new RegExp(`(?<![A-Za-z0-9_.])(${KNOWN})[ \\t]*\\}`, "g");

export function unknownPlaceholders(template) {
  const seen = [];
  for (const m of template.matchAll(PLACEHOLDER)) {
    if (!PLACEHOLDERS.has(m[1]) && !seen.includes(m[1])) seen.push(m[1]);
  }
  return seen;
}

export function templateProblems(template) {
  const problems = [];
  const unknown = unknownPlaceholders(template);
  if (unknown.length) {
    problems.push(`unknown placeholder(s): ${unknown.map((n) => `{${n}}`).join(", ")}`);
  }
  for (const m of template.matchAll(SPACED)) {
    if (m[0] !== `{${m[1]}}`) problems.push(`remove the spaces inside ${m[0]}: write {${m[1]}}`);
  }
  for (const m of template.matchAll(UNCLOSED)) {
    problems.push(`${m[0].trim()} is missing its closing }`);
  }
  for (const m of template.matchAll(UNOPENED)) {
    if (!template.slice(0, m.index).replace(/[ \t]+$/, "").endsWith("{")) {
      problems.push(`${m[0]} is missing its opening {`);
    }
  }
  return problems;
}
