"""Setting up an interview over the REST API, as an admin tool or a test would."""

from __future__ import annotations

from typing import Any

import aiohttp

__all__ = ["InterviewSetupError", "create_interview"]


class InterviewSetupError(Exception):
    """The gateway refused to set the interview up; the message says what it answered."""


async def create_interview(
    http: aiohttp.ClientSession,
    base: str,
    admin_token: str,
    *,
    persona_name: str,
    scenario_name: str,
) -> dict[str, Any]:
    """Create an interview for the named seeded persona and scenario; the `SessionCreated` body.

    Falls back to the first active sales persona/scenario when the names are not seeded, so an
    edited seed set still gives a working demo.
    """
    headers = {"Authorization": f"Bearer {admin_token}"}

    async def pick(kind: str, name: str) -> dict[str, Any]:
        async with http.get(f"{base}/api/{kind}?blueprint=sales", headers=headers) as resp:
            if resp.status != 200:
                text = await resp.text()
                raise InterviewSetupError(f"GET /api/{kind} answered {resp.status}: {text}")
            items: list[dict[str, Any]] = (await resp.json())["items"]
        if not items:
            raise InterviewSetupError(
                f"no active sales {kind} are seeded (run `interview-gateway seed`)"
            )
        return next((i for i in items if i.get("name") == name), items[0])

    persona = await pick("personas", persona_name)
    scenario = await pick("scenarios", scenario_name)
    body = {"persona_id": persona["id"], "scenario_id": scenario["id"]}
    async with http.post(f"{base}/api/sessions", json=body, headers=headers) as resp:
        if resp.status != 201:
            text = await resp.text()
            raise InterviewSetupError(f"POST /api/sessions answered {resp.status}: {text}")
        created: dict[str, Any] = await resp.json()
    created["persona_name"] = persona.get("name")
    created["scenario_name"] = scenario.get("name")
    return created
