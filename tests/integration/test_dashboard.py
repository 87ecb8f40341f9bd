"""The Grafana dashboard in docs/ imports and queries real metrics: its structure is what
Grafana's importer needs, every query is a shape `bench.dashboard` draws, and every metric a
query reads is exposed by a real app's /metrics."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bench.dashboard import (
    Scrape,
    evaluate,
    load_dashboard,
    metric_names,
    parse_exposition,
    render_svg,
)

REQUIRED_PANELS = {
    "Live sessions and sockets",
    "Frames per second",
    "Group commit latency",
    "Ack latency",
    "Fan-out time",
    "Event-loop lag",
    "Analysis rate",
    "Analysis latency",
    "Analysis failures",
    "Model call errors",
    "Memory per process",
    "Database pool",
}


def _targets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [t for p in dashboard["panels"] for t in p["targets"]]


def test_dashboard_structure_imports() -> None:
    dash: dict[str, Any] = load_dashboard()  # type: ignore[assignment]
    assert dash["title"] and dash["uid"] and isinstance(dash["schemaVersion"], int)
    variables = {v["name"]: v for v in dash["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    assert variables["instance"]["type"] == "query"
    assert "label_values(" in variables["instance"]["definition"]
    assert {p["title"] for p in dash["panels"]} == REQUIRED_PANELS
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in dash["panels"]:
        assert panel["type"] == "timeseries"
        assert panel["datasource"]["uid"] == "${datasource}"
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24
        mine = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs))
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "${datasource}"
            assert '$instance' in target["expr"], "every query follows the instance variable"


async def test_every_queried_metric_is_exposed(
    client: TestClient[Any, Any], admin_headers: dict[str, str]
) -> None:
    resp = await client.get("/metrics", headers=admin_headers)
    text = await resp.text()
    families = {
        line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")
    }
    dash: dict[str, Any] = load_dashboard()  # type: ignore[assignment]
    wanted = set().union(*(metric_names(t["expr"]) for t in _targets(dash)))
    missing = sorted(wanted - families)
    assert not missing, f"the dashboard queries metrics /metrics does not expose: {missing}"


def test_queries_evaluate_over_scrapes() -> None:
    """Counters and histograms over two scrapes: rates and interpolated quantiles."""
    first = parse_exposition(
        'gateway_transcript_frames_total{outcome="stored",instance="a"} 100\n'
        'gateway_ack_seconds_bucket{instance="a",le="0.01"} 0\n'
        'gateway_ack_seconds_bucket{instance="a",le="0.1"} 0\n'
        'gateway_ack_seconds_bucket{instance="a",le="+Inf"} 0\n'
        'gateway_ws_open{instance="a"} 3\n'
    )
    second = parse_exposition(
        'gateway_transcript_frames_total{outcome="stored",instance="a"} 300\n'
        'gateway_ack_seconds_bucket{instance="a",le="0.01"} 50\n'
        'gateway_ack_seconds_bucket{instance="a",le="0.1"} 100\n'
        'gateway_ack_seconds_bucket{instance="a",le="+Inf"} 100\n'
        'gateway_ws_open{instance="a"} 5\n'
    )
    scrapes = [Scrape(0.0, first), Scrape(10.0, second)]
    sel = '{instance=~"$instance"}'
    rate = evaluate(f"sum by (outcome) (rate(gateway_transcript_frames_total{sel}[1m]))", scrapes)
    assert rate == {frozenset({("outcome", "stored")}): [(10.0, 20.0)]}
    p75 = evaluate(
        f"histogram_quantile(0.75, sum by (le) (rate(gateway_ack_seconds_bucket{sel}[1m])))",
        scrapes,
    )
    [(at, value)] = p75[frozenset()]
    assert at == 10.0 and value == pytest.approx(0.055)  # halfway through the 10-100 ms bucket
    gauge = evaluate(f"gateway_ws_open{sel}", scrapes)
    assert [v for _, v in gauge[frozenset({("instance", "a")})]] == [3.0, 5.0]
    svg = render_svg(load_dashboard(), scrapes, "test")
    assert svg.startswith("<svg") and svg.count("<polyline") + svg.count("<circle") >= 2
