// What every page shares: DOM helpers (text only, never innerHTML), the REST client that
// carries the sign-in cookie (or a link's token) and the CSRF header, the header's navigation,
// notices and copy buttons.

const SVG_NS = "http://www.w3.org/2000/svg";

export const $ = (id) => document.getElementById(id);

export function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

export function svg(tag, attrs = {}) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}

export function bandOf(score) {
  if (score >= 80) return "green";
  if (score >= 50) return "yellow";
  return "red";
}

export function clamp(n) {
  const v = Number(n);
  return Number.isFinite(v) ? Math.max(0, Math.min(100, Math.round(v))) : 0;
}

export function labelFor(name) {
  const words = String(name).replace(/_/g, " ");
  return words.charAt(0).toUpperCase() + words.slice(1);
}

export function clip(text, limit) {
  const value = String(text ?? "");
  return value.length > limit ? `${value.slice(0, limit - 1)}…` : value;
}

export function clock(ts) {
  const d = ts ? new Date(ts) : new Date();
  if (Number.isNaN(d.getTime())) return "";
  return d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

export function when(ts) {
  if (!ts) return "—";
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) return "—";
  return d.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

export function ago(ts, now = Date.now()) {
  const d = new Date(ts).getTime();
  if (!Number.isFinite(d)) return "";
  const s = Math.max(0, Math.round((now - d) / 1000));
  if (s < 10) return "just now";
  if (s < 60) return `${s} s ago`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min ago`;
  return `${Math.round(m / 60)} h ago`;
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const s = Math.round(seconds);
  const m = Math.floor(s / 60);
  return m ? `${m} min ${s % 60} s` : `${s} s`;
}

// The page's own link token, if it was opened with one (?token=…): sent as a bearer token.
// Otherwise requests rely on the HttpOnly sign-in cookie.
export const linkToken = new URLSearchParams(location.search).get("token") || "";

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || "";
    this.details = Array.isArray(error.details) ? error.details : [];
  }
}

export async function api(path, { method = "GET", body, accept } = {}) {
  const headers = { "X-Requested-With": "interview-gateway" };
  if (linkToken) headers.Authorization = `Bearer ${linkToken}`;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (accept) headers.Accept = accept;
  const resp = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store", credentials: "same-origin",
  });
  if (resp.status === 204) return null;
  if (accept && accept !== "application/json" && resp.ok) return resp.text();
  let data = null;
  try {
    data = await resp.json();
  } catch {
    data = null;
  }
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") q.set(key, String(value));
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

let noticeTimer = null;
export function notice(message, { node = $("notice"), ms = 5000 } = {}) {
  if (!node) return;
  node.textContent = message;
  node.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { node.hidden = true; }, ms);
}

export function copyButton(getText, label = "Copy") {
  const button = el("button", { type: "button", class: "copy" }, label);
  button.addEventListener("click", async () => {
    const text = getText();
    try {
      await navigator.clipboard.writeText(text);
      button.textContent = "Copied ✓";
    } catch {
      // Clipboard refused (an http page, a locked-down browser): select the text instead.
      button.textContent = "Select and copy";
    }
    setTimeout(() => { button.textContent = label; }, 2000);
  });
  return button;
}

// The header's navigation: what this sign-in may open, and signing out.
export function navigation() {
  const nav = $("nav");
  if (!nav) return;
  const role = document.body.dataset.role || "";
  const links = [
    ["/interviews", "Interviews"],
    ["/interviews/new", "New interview"],
  ];
  if (role === "admin") links.push(["/admin", "Admin console"]);
  nav.replaceChildren(
    ...links.map(([href, text]) =>
      el("a", { href, "aria-current": location.pathname === href ? "page" : null }, text)),
  );
  if (!linkToken) {
    const out = el("button", { type: "button", class: "ghost", id: "sign-out" }, "Sign out");
    out.addEventListener("click", async () => {
      await api("/api/auth/logout", { method: "POST" }).catch(() => null);
      location.assign("/");
    });
    nav.append(out);
  }
}

// Validation errors as {field: message} (the API's `details[].loc`, minus `body.`/`query.`).
export function fieldErrors(err) {
  const out = {};
  for (const d of (err && err.details) || []) {
    const loc = String(d.loc || "").replace(/^(body|query)\./, "");
    const field = loc.split(".")[0] || "_";
    out[field] = out[field] ? `${out[field]}; ${d.message}` : d.message;
  }
  return out;
}

// The tracks (blueprints) in their canonical spelling, with names for people.
export const BLUEPRINTS = [
  ["sales", "Sales"],
  ["agentic_eng", "Agentic engineering"],
  ["fullstack", "Full-stack engineering"],
  ["marketing", "Marketing"],
  ["implementation", "Implementation"],
  ["HR", "HR"],
  ["security", "Security"],
];
export const trackName = (b) => (BLUEPRINTS.find(([k]) => k === b) || [b, b || "any track"])[1];

export function fillSelect(select, options, { any } = {}) {
  const keep = select.value;
  const nodes = [];
  if (any !== undefined) nodes.push(el("option", { value: "" }, any));
  for (const [value, text] of options) nodes.push(el("option", { value }, text));
  select.replaceChildren(...nodes);
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
}

export const lines = (text) => String(text || "").split("\n").map((s) => s.trim()).filter(Boolean);
