"""The dashboard's picture, from a real run: two gateway processes on one PostgreSQL under a
short load, scraped every 2 s, drawn with the dashboard's own panels and queries.

    python -m bench.dashboard_shot [--seconds 90] [--out docs/grafana]

Process 1 uses the offline analyzer; process 2 the OpenAI analyzer against the tests' fake
model (`bench.fake_model`, 0.8 s per call), which is stopped two thirds of the way through: a
model outage, as the model-error and analysis-failure panels show it. Sessions join over the
first half (candidates speak every 0.25 s, two panels each watch); some end early. Writes
`dashboard.svg`, then `dashboard.png` with Debian's Chromium (headless screenshot). Run from
the repository (the fake model lives in tests/).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.clients import ws_url
from bench.context import QUICK, Context
from bench.dashboard import Scrape, load_dashboard, parse_exposition, render_svg
from bench.procs import Child, Database, free_port, start_child
from bench.sessions import admin_token, create_sessions, token
from gateway.auth import Role

__all__ = ["main"]

SCRAPE_EVERY_S = 2.0
SESSIONS_PER_GATEWAY = 12
SPEAK_EVERY_S = 0.25
LINES = (
    "We route about forty trucks a day and most of the planning is still a spreadsheet.",
    "What would change for your dispatchers if the routes were ready at six?",
    "Honestly the budget is set in March, so anything now would be a pilot.",
    "Could you walk me through how a late delivery gets escalated today?",
)


async def _scrape(gateways: list[Child], started: float) -> Scrape:
    samples = {}
    headers = {"Authorization": f"Bearer {admin_token()}"}
    async with aiohttp.ClientSession() as http:
        for gw in gateways:
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with http.get(gw.url + "/metrics", headers=headers) as resp:
                    text = await resp.text()
                instance = ("instance", f"127.0.0.1:{gw.port}")
                for (name, labels), value in parse_exposition(text).items():
                    samples[(name, labels | {instance})] = value
    return Scrape(time.monotonic() - started, samples)


async def _panel(url: str, stop: asyncio.Event) -> None:
    with contextlib.suppress(ConnectionClosed, OSError):
        async with connect(url, max_size=None) as ws:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ws.recv(), 1.0)


async def _candidate(url: str, lines: int, stop: asyncio.Event, rng: random.Random) -> None:
    with contextlib.suppress(ConnectionClosed, OSError):
        async with connect(url, max_size=None) as ws:
            await ws.recv()  # hello
            reader = asyncio.create_task(_drain(ws))
            try:
                for seq in range(1, lines + 1):
                    if stop.is_set():
                        break
                    role = "user" if seq % 2 else "assistant"
                    text = LINES[(seq + rng.randrange(4)) % len(LINES)]
                    frame = {"type": "transcript", "seq": seq, "role": role, "text": text}
                    await ws.send(orjson.dumps(frame).decode())
                    await asyncio.sleep(SPEAK_EVERY_S * rng.uniform(0.6, 1.4))
            finally:
                reader.cancel()


async def _drain(ws: ClientConnection) -> None:
    with contextlib.suppress(ConnectionClosed):
        async for _ in ws:
            pass


async def _run(seconds: float) -> tuple[list[Scrape], str]:
    workdir = Path(tempfile.mkdtemp(prefix="ig-shot-"))
    db = Database(workdir)
    await db.start()
    ctx = Context(QUICK, workdir, db)
    model_port = free_port()
    model = start_child(
        "fake-model",
        ["-m", "bench.fake_model", "--port", str(model_port), "--latency", "0.8"],
        {},
        workdir / "model",
        model_port,
    )
    gateways: list[Child] = []
    tasks: list[asyncio.Task[None]] = []
    stop = asyncio.Event()
    scrapes: list[Scrape] = []
    try:
        common = {"ANALYSIS_EVERY": "10", "ANALYSIS_WORKERS": "1"}
        gateways.append(await ctx.start_gateway("gateway-1", common))
        gateways.append(
            await ctx.start_gateway(
                "gateway-2",
                {
                    **common,
                    "GATEWAY_ANALYZER": "openai",
                    "OPENAI_API_KEY": "test",  # the key the fake model expects
                    "OPENAI_BASE_URL": f"http://127.0.0.1:{model_port}/v1",
                    "OPENAI_TIMEOUT": "3",
                },
            )
        )
        rng = random.Random(7)
        sids = await create_sessions(db.dsn, SESSIONS_PER_GATEWAY * len(gateways))
        started = time.monotonic()
        plan = sorted(
            (rng.uniform(0, seconds * 0.5), i, sid) for i, sid in enumerate(sids)
        )  # (join time, index, session)
        outage_at = seconds * 0.66
        next_scrape = 0.0
        while (now := time.monotonic() - started) < seconds:
            while plan and plan[0][0] <= now:
                _, i, sid = plan.pop(0)
                base = gateways[i % len(gateways)].ws_url
                for _ in range(2):
                    url = ws_url(base, "panel", sid, token(Role.INTERVIEWER, sid))
                    tasks.append(asyncio.create_task(_panel(url, stop)))
                lines = rng.choice((80, 200, 10_000))  # some sessions end early
                url = ws_url(base, "candidate", sid, token(Role.CANDIDATE, sid))
                tasks.append(asyncio.create_task(_candidate(url, lines, stop, rng)))
            if model.proc.poll() is None and now >= outage_at:
                model.proc.terminate()  # the model API goes away
            if now >= next_scrape:
                scrapes.append(await _scrape(gateways, started))
                next_scrape += SCRAPE_EVERY_S
            await asyncio.sleep(0.2)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        for gw in gateways:
            await gw.stop()
        await model.stop()
        await db.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    subtitle = (
        f"bench/dashboard_shot.py, {when}: 2 processes, {len(sids)} sessions joining, "
        f"model outage on process 2 at {int(outage_at // 60)}:{int(outage_at % 60):02d}; "
        f"{len(scrapes)} scrapes every {SCRAPE_EVERY_S:g} s"
    )
    return scrapes, subtitle


def screenshot(svg: Path, png: Path) -> None:
    """PNG of the SVG with Debian's Chromium, headless, at the SVG's own size."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("chromium not found (apt-get install chromium)")
    head = svg.read_text()[:300]
    width = int(head.split('width="', 1)[1].split('"', 1)[0])
    height = int(head.split('height="', 1)[1].split('"', 1)[0])
    page = svg.with_suffix(".html")
    page.write_text(
        '<!doctype html><html><body style="margin:0;background:#111217">'
        f'<img src="{svg.name}" width="{width}" height="{height}"></body></html>'
    )
    try:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--window-size={width},{height}",
                f"--screenshot={png.resolve()}",
                page.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    finally:
        page.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=90.0)
    parser.add_argument("--out", type=Path, default=Path("docs/grafana"))
    args = parser.parse_args(argv)
    scrapes, subtitle = asyncio.run(_run(args.seconds))
    args.out.mkdir(parents=True, exist_ok=True)
    svg = args.out / "dashboard.svg"
    svg.write_text(render_svg(load_dashboard(), scrapes, subtitle))
    screenshot(svg, svg.with_suffix(".png"))
    print(f"wrote {svg} and {svg.with_suffix('.png')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
