// The Say Meter over time as a small SVG chart built with DOM calls (no innerHTML): a 0-100
// axis, the band thresholds (80 green, 50 yellow) as labelled dashed lines, one dot per
// analysis coloured by its band with its value written above it, alerts ringed in red.

import { bandOf, clamp, clock, svg } from "./common.js";

export function scoreChart(box, points, { alerts = [], height = 150, alertText = String } = {}) {
  const width = Math.max(220, Math.round(box.clientWidth || 320));
  const left = 30;
  const right = 62; // room for the band labels
  const top = 16;
  const bottom = 20;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const y = (score) => top + (1 - score / 100) * plotH;
  const inset = 14; // keeps the first and last values clear of the axis and the band labels
  const x = (i) => (points.length === 1
    ? left + plotW / 2
    : left + inset + (i * (plotW - 2 * inset)) / (points.length - 1));
  const root = svg("svg", {
    viewBox: `0 0 ${width} ${height}`, width, height, role: "img",
    "data-points": points.length, "data-alerts": alerts.length,
  });
  const title = svg("title");
  title.textContent = points.length
    ? `Say Meter over time: ${points.map((p) => p.score).join(", ")}`
    : "No scores yet";
  root.append(title);

  root.append(svg("line", { class: "axis", x1: left, x2: left, y1: top, y2: top + plotH }));
  root.append(svg("line", { class: "axis", x1: left, x2: width - right, y1: top + plotH, y2: top + plotH }));
  for (const tick of [0, 50, 80, 100]) {
    const label = svg("text", { class: "tick", x: left - 6, y: y(tick) + 3, "text-anchor": "end" });
    label.textContent = String(tick);
    root.append(label);
  }
  for (const [level, name] of [[80, "green ≥80"], [50, "yellow ≥50"]]) {
    root.append(svg("line", {
      class: "band-line", "data-level": level, x1: left, x2: width - right, y1: y(level), y2: y(level),
    }));
    const label = svg("text", { class: "band-label", x: width - right + 6, y: y(level) + 3, "text-anchor": "start" });
    label.textContent = name;
    root.append(label);
  }
  if (!points.length) {
    const empty = svg("text", { class: "empty", x: left + plotW / 2, y: top + plotH / 2, "text-anchor": "middle" });
    empty.textContent = "The first score arrives after 10 messages";
    root.append(empty);
    box.replaceChildren(root);
    return root;
  }
  if (points.length > 1) {
    const d = points.map((p, i) => `${x(i).toFixed(1)},${y(clamp(p.score)).toFixed(1)}`).join(" ");
    root.append(svg("polyline", { class: "trend-line", points: d }));
  }
  // With many points, label every other one so the numbers never overlap.
  const every = Math.max(1, Math.ceil(points.length / Math.max(1, Math.floor(plotW / 28))));
  points.forEach((p, i) => {
    const score = clamp(p.score);
    const dot = svg("circle", {
      class: "point", cx: x(i), cy: y(score), r: 3.5, "data-band": p.band || bandOf(score),
      "data-score": score,
    });
    const t = svg("title");
    t.textContent = `${score} at ${clock(p.at)}`;
    dot.append(t);
    root.append(dot);
    if (i % every === 0 || i === points.length - 1) {
      const value = svg("text", {
        class: "value", x: x(i), y: y(score) - 7, "text-anchor": "middle", "data-value": score,
      });
      value.textContent = String(score);
      root.append(value);
    }
  });
  for (const alert of alerts) {
    let idx = alert.analysis_id ? points.findIndex((p) => p.analysis_id === alert.analysis_id) : -1;
    if (idx < 0) idx = points.map((p) => clamp(p.score)).lastIndexOf(clamp(alert.score));
    if (idx < 0) continue;
    const mark = svg("circle", {
      class: "alert-mark", cx: x(idx), cy: y(clamp(points[idx].score)), r: 7, "data-kind": alert.kind,
    });
    const t = svg("title");
    t.textContent = alertText(alert);
    mark.append(t);
    root.append(mark);
  }
  const first = svg("text", { class: "tick", x: x(0), y: height - 4, "text-anchor": points.length === 1 ? "middle" : "start" });
  first.textContent = clock(points[0].at);
  root.append(first);
  if (points.length > 1) {
    const last = svg("text", { class: "tick", x: x(points.length - 1), y: height - 4, "text-anchor": "end" });
    last.textContent = clock(points[points.length - 1].at);
    root.append(last);
  }
  box.replaceChildren(root);
  return root;
}
