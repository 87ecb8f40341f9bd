"""The Grafana dashboard (docs/grafana/interview-gateway.json) evaluated over /metrics scrapes
and drawn as an SVG with the same panels in the same grid: the picture in docs/operations.md.

Only the three query shapes the dashboard uses are understood (anything else is an error, so
the dashboard cannot drift from what this draws):

- a gauge: `name{matchers}`
- `sum by (labels) (rate(name{matchers}[window]))`
- `histogram_quantile(q, sum by (le[, labels]) (rate(name_bucket{matchers}[window])))`

`rate` is (last - first) / elapsed over the scrapes inside the window (no extrapolation), and
`histogram_quantile` interpolates inside the bucket as Prometheus does.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DASHBOARD",
    "Query",
    "Scrape",
    "evaluate",
    "load_dashboard",
    "metric_names",
    "parse_exposition",
    "parse_query",
    "render_svg",
]

DASHBOARD = Path(__file__).resolve().parent.parent / "docs" / "grafana" / "interview-gateway.json"

Labels = frozenset[tuple[str, str]]
Samples = dict[tuple[str, Labels], float]


@dataclass(frozen=True)
class Scrape:
    at: float  # seconds since the run started
    samples: Samples


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_exposition(text: str) -> Samples:
    """Prometheus text format 0.0.4 -> {(name, labels): value}."""
    out: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if m is None:
            continue
        labels = frozenset(_LABEL.findall(m.group(3) or ""))
        try:
            out[(m.group(1), labels)] = float(m.group(4))
        except ValueError:
            continue
    return out


@dataclass(frozen=True)
class Query:
    kind: str  # "gauge" | "rate" | "quantile"
    metric: str
    matchers: tuple[tuple[str, str, str], ...]  # (label, op, value)
    by: tuple[str, ...] = ()
    window_s: float = 60.0
    q: float = 0.5


_NAME = r"([a-zA-Z_:][a-zA-Z0-9_:]*)"
_SEL = _NAME + r"(\{[^}]*\})?"
_GAUGE = re.compile(rf"^{_SEL}$")
_RATE = re.compile(rf"^sum by \(([^)]*)\) \(rate\({_SEL}\[(\d+)([sm])\]\)\)$")
_QUANTILE = re.compile(
    rf"^histogram_quantile\(([0-9.]+), sum by \(([^)]*)\) \(rate\({_SEL}\[(\d+)([sm])\]\)\)\)$"
)
_MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def _matchers(raw: str | None) -> tuple[tuple[str, str, str], ...]:
    if not raw:
        return ()
    return tuple(_MATCHER.findall(raw.strip("{}")))


def _seconds(n: str, unit: str) -> float:
    return float(n) * (60 if unit == "m" else 1)


def _by(raw: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in raw.split(",") if x.strip())


def parse_query(expr: str) -> Query:
    if m := _GAUGE.match(expr):
        return Query("gauge", m.group(1), _matchers(m.group(2)))
    if m := _RATE.match(expr):
        return Query(
            "rate",
            m.group(2),
            _matchers(m.group(3)),
            _by(m.group(1)),
            _seconds(m.group(4), m.group(5)),
        )
    if m := _QUANTILE.match(expr):
        by = _by(m.group(2))
        if "le" not in by or not m.group(3).endswith("_bucket"):
            raise ValueError(f"histogram_quantile needs sum by (le) over *_bucket: {expr}")
        return Query(
            "quantile",
            m.group(3),
            _matchers(m.group(4)),
            tuple(x for x in by if x != "le"),
            _seconds(m.group(5), m.group(6)),
            float(m.group(1)),
        )
    raise ValueError(f"query shape not supported by bench.dashboard: {expr}")


def metric_names(expr: str) -> set[str]:
    """The metric families an expression reads (a histogram's `_bucket` stripped)."""
    q = parse_query(expr)
    return {q.metric.removesuffix("_bucket") if q.kind == "quantile" else q.metric}


def _matches(labels: Labels, matchers: Iterable[tuple[str, str, str]]) -> bool:
    have = dict(labels)
    for name, op, value in matchers:
        value = value.replace("$instance", ".*")
        actual = have.get(name, "")
        ok = {
            "=": actual == value,
            "!=": actual != value,
            "=~": re.fullmatch(value, actual) is not None,
            "!~": re.fullmatch(value, actual) is None,
        }[op]
        if not ok:
            return False
    return True


def _select(scrape: Scrape, q: Query) -> dict[Labels, float]:
    return {
        labels: v
        for (name, labels), v in scrape.samples.items()
        if name == q.metric and _matches(labels, q.matchers)
    }


def _rates(scrapes: Sequence[Scrape], i: int, q: Query) -> dict[Labels, float] | None:
    now = scrapes[i]
    first = next(s for s in scrapes[: i + 1] if s.at >= now.at - q.window_s)
    if first is now:
        return None
    elapsed = now.at - first.at
    before = _select(first, q)
    return {k: max(0.0, v - before.get(k, 0.0)) / elapsed for k, v in _select(now, q).items()}


def _group(values: Mapping[Labels, float], by: Sequence[str]) -> dict[Labels, float]:
    out: dict[Labels, float] = {}
    for labels, v in values.items():
        key = frozenset((k, val) for k, val in labels if k in by)
        out[key] = out.get(key, 0.0) + v
    return out


def _quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    buckets.sort()
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    total = buckets[-1][1]
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in buckets:
        if count >= rank:
            if math.isinf(upper):
                return lower
            if count == below:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


def evaluate(expr: str, scrapes: Sequence[Scrape]) -> dict[Labels, list[tuple[float, float]]]:
    """Each series of `expr` (by its labels) as (seconds, value) points."""
    q = parse_query(expr)
    series: dict[Labels, list[tuple[float, float]]] = {}
    for i, scrape in enumerate(scrapes):
        points: dict[Labels, float]
        if q.kind == "gauge":
            points = _select(scrape, q)
        else:
            rates = _rates(scrapes, i, q)
            if rates is None:
                continue
            if q.kind == "rate":
                points = _group(rates, q.by)
            else:
                per: dict[Labels, list[tuple[float, float]]] = {}
                for labels, v in rates.items():
                    have = dict(labels)
                    key = frozenset((k, have.get(k, "")) for k in q.by)
                    le = have.get("le", "+Inf")
                    per.setdefault(key, []).append((math.inf if le == "+Inf" else float(le), v))
                # Buckets with the same edge (several series, e.g. instances) add up.
                points = {}
                for key, pairs in per.items():
                    summed: dict[float, float] = {}
                    for edge, v in pairs:
                        summed[edge] = summed.get(edge, 0.0) + v
                    points[key] = _quantile(q.q, list(summed.items()))
        for labels, value in points.items():
            if not math.isnan(value):
                series.setdefault(labels, []).append((scrape.at, value))
    return series


def load_dashboard(path: Path = DASHBOARD) -> dict[str, object]:
    data = json.loads(path.read_text())
    assert isinstance(data, dict)
    return data


# -- drawing ----------------------------------------------------------------------------------

COL, ROW, PAD = 60, 34, 6
PALETTE = ("#73bf69", "#f2cc0c", "#8ab8ff", "#ff780a", "#f2495c", "#5794f2", "#b877d9", "#fade2a")


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        if value == 0:
            return "0"
        if value < 1e-3:
            return f"{value * 1e6:.0f} µs"
        if value < 1:
            return f"{value * 1e3:.3g} ms"
        return f"{value:.3g} s"
    if unit == "bytes":
        for step, name in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
            if value >= step:
                return f"{value / step:.3g} {name}"
        return f"{value:.0f} B"
    suffix = "/s" if unit == "ops" else ""
    if value >= 1000:
        return f"{value / 1000:.3g}k{suffix}"
    return f"{value:.3g}{suffix}"


def _legend(template: str, labels: Labels) -> str:
    have = dict(labels)
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: have.get(m.group(1), ""), template).strip()


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    exp = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * exp:
            return step * exp
    return 10 * exp


def _panel_svg(panel: Mapping[str, object], scrapes: Sequence[Scrape], t_end: float) -> str:
    grid = panel["gridPos"]
    assert isinstance(grid, dict)
    x0, y0 = grid["x"] * COL + PAD, grid["y"] * ROW + PAD + 40
    w, h = grid["w"] * COL - 2 * PAD, grid["h"] * ROW - 2 * PAD
    field = panel["fieldConfig"]
    assert isinstance(field, dict)
    unit = str(field["defaults"].get("unit", "short"))
    lines: list[tuple[str, list[tuple[float, float]]]] = []
    targets = panel["targets"]
    assert isinstance(targets, list)
    for target in targets:
        for labels, points in sorted(evaluate(target["expr"], scrapes).items(), key=str):
            lines.append((_legend(target.get("legendFormat", ""), labels), points))
    legend_rows = max(1, math.ceil(len(lines) / 2))
    plot_x, plot_y = x0 + 64, y0 + 30
    plot_w, plot_h = w - 76, h - 58 - 16 * legend_rows
    peak = max((v for _, pts in lines for _, v in pts), default=0.0) * 1.05
    top = _nice_max(peak / 2**20) * 2**20 if unit == "bytes" else _nice_max(peak)
    out = [
        f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" rx="4" fill="#181b1f" '
        'stroke="#2c3235"/>',
        f'<text x="{x0 + 10}" y="{y0 + 19}" class="title">{html.escape(str(panel["title"]))}'
        "</text>",
    ]
    for i in range(5):
        y = plot_y + plot_h - plot_h * i / 4
        out.append(
            f'<line x1="{plot_x}" y1="{y:.1f}" x2="{plot_x + plot_w}" y2="{y:.1f}" class="grid"/>'
        )
        out.append(
            f'<text x="{plot_x - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">'
            f"{html.escape(_fmt(top * i / 4, unit))}</text>"
        )
    for i in range(5):
        t = t_end * i / 4
        x = plot_x + plot_w * i / 4
        out.append(
            f'<text x="{x:.1f}" y="{plot_y + plot_h + 14}" class="tick" text-anchor="middle">'
            f"{int(t // 60)}:{int(t % 60):02d}</text>"
        )
    if not lines:
        out.append(
            f'<text x="{plot_x + plot_w / 2}" y="{plot_y + plot_h / 2}" class="nodata" '
            'text-anchor="middle">No data</text>'
        )
    for n, (name, points) in enumerate(lines):
        color = PALETTE[n % len(PALETTE)]
        coords = " ".join(
            f"{plot_x + plot_w * t / t_end:.1f},{plot_y + plot_h - plot_h * v / top:.1f}"
            for t, v in points
        )
        if len(points) == 1:
            px, py = coords.split(",")
            out.append(f'<circle cx="{px}" cy="{py}" r="2" fill="{color}"/>')
        else:
            out.append(
                f'<polyline points="{coords}" fill="none" stroke="{color}" stroke-width="1.5"/>'
            )
        lx = x0 + 12 + (n % 2) * (w / 2)
        ly = plot_y + plot_h + 32 + (n // 2) * 16
        out.append(f'<rect x="{lx}" y="{ly - 8}" width="12" height="3" fill="{color}"/>')
        out.append(f'<text x="{lx + 18}" y="{ly - 3}" class="legend">{html.escape(name)}</text>')
    return "\n".join(out)


def render_svg(
    dashboard: Mapping[str, object],
    scrapes: Sequence[Scrape],
    subtitle: str,
    *,
    panel_filter: Callable[[Mapping[str, object]], bool] = lambda p: True,
) -> str:
    panels = [p for p in dashboard["panels"] if panel_filter(p)]  # type: ignore[attr-defined]
    rows = max(p["gridPos"]["y"] + p["gridPos"]["h"] for p in panels)
    width, height = 24 * COL, rows * ROW + 40 + PAD
    t_end = max(1.0, scrapes[-1].at if scrapes else 1.0)
    body = "\n".join(_panel_svg(p, scrapes, t_end) for p in panels)
    title = html.escape(str(dashboard["title"]))
    return f"""<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" \
viewBox="0 0 {width} {height}">
<style>
text {{ font-family: Inter, 'DejaVu Sans', Helvetica, Arial, sans-serif; fill: #ccccdc; }}
.head {{ font-size: 17px; font-weight: 600; }} .sub {{ font-size: 12px; fill: #8e8e8e; }}
.title {{ font-size: 13px; font-weight: 600; }} .tick {{ font-size: 10px; fill: #8e8e8e; }}
.legend {{ font-size: 11px; }} .nodata {{ font-size: 13px; fill: #6e6e6e; }}
.grid {{ stroke: #2c3235; stroke-width: 1; }}
</style>
<rect width="100%" height="100%" fill="#111217"/>
<text x="{PAD + 4}" y="24" class="head">{title}</text>
<text x="{PAD + 200}" y="24" class="sub">{html.escape(subtitle)}</text>
{body}
</svg>
"""
