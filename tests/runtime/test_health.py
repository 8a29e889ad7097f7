from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import trio
from PIL import Image
from prometheus_client.parser import text_string_to_metric_families

from edgebox.cli.status_cmd import format_status
from edgebox.ledsign import model as ledsign
from edgebox.ledsign.render import Renderer
from edgebox.runtime.box import Box
from tests.conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


async def test_metrics_parse_and_request_counters_move_with_traffic(box: Box) -> None:
    base = box.lan_urls[0]
    async with httpx.AsyncClient(base_url=base) as client:
        before = _samples((await client.get("/metrics")).text)
        for _ in range(3):
            assert (await client.get("/healthz")).status_code == 200
        await client.get("/api/status")
        after = _samples((await client.get("/metrics")).text)
    key = ("edgebox_lan_requests_total", (("api", "status"), ("status", "200")))
    assert after[key] - before.get(key, 0) >= 4  # 3 healthz + the first /metrics
    unauthorized = ("edgebox_lan_requests_total", (("api", "status"), ("status", "401")))
    assert after[unauthorized] == 1
    assert ("edgebox_outbox_length", ()) in after
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(2):
            await client.get("/api/status")
        again = _samples((await client.get("/metrics")).text)
    assert again[unauthorized] == 3
    assert again[key] - after[key] == 1  # the second /metrics


async def test_readyz_says_what_is_missing(box: Box) -> None:
    async with httpx.AsyncClient(base_url=box.lan_urls[0]) as client:
        r = await client.get("/readyz")
        assert r.status_code == 200
        assert r.json() == {"ready": True, "not_ready": []}
        box.ready_checks["cloud"] = lambda: "no valid playlist snapshot yet"
        r = await client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["not_ready"] == ["cloud: no valid playlist snapshot yet"]


async def test_status_page_and_api_need_the_admin_token(box: Box) -> None:
    async with httpx.AsyncClient(base_url=box.lan_urls[0]) as client:
        page = await client.get("/")
        assert 'name="token"' in page.text
        assert (await client.get("/api/status")).status_code == 401
        bad = await client.get("/api/status", headers={"Authorization": "Bearer nope"})
        assert bad.status_code == 401
        r = await client.post("/login", data={"token": "wrong"})
        assert "edgebox_admin" not in r.cookies
        r = await client.post("/login", data={"token": ADMIN_TOKEN})
        assert r.status_code == 302
        page = await client.get("/")
        assert '<script src="/static/status.js">' in page.text
        js = await client.get("/static/status.js")
        assert js.headers["content-type"].startswith("text/javascript")
        assert (await client.get("/static/../cli.py")).status_code == 404


async def test_status_summary_reflects_hub_and_sources(box: Box) -> None:
    await box.hub.set_brightness(42)
    box.status_sources["cache"] = lambda: {"bytes": 10, "budget": 100}
    async with httpx.AsyncClient(base_url=box.lan_urls[0]) as client:
        s = (await client.get("/api/status", headers=AUTH)).json()
    assert s["brightness"] == 42
    assert s["cache"] == {"bytes": 10, "budget": 100}
    assert s["services"]["lan"]["status"] == "running"
    assert "brightness 42" in format_status(s)


async def _events(client: httpx.AsyncClient, want: int) -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    async with client.stream("GET", "/api/status/events", headers=AUTH) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        event = None
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                found.append((event or "", json.loads(line[6:])))
                if len(found) >= want:
                    return found
    return found


async def _frames(client: httpx.AsyncClient) -> AsyncIterator[tuple[str, Image.Image]]:
    async with client.stream("GET", "/api/status/events", headers=AUTH) as r:
        event = None
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "frame":
                data = json.loads(line[6:])
                yield data["canvas"], Image.open(io.BytesIO(base64.b64decode(data["png"])))


async def test_status_feed_streams_status_and_the_players_frames(box: Box) -> None:
    body = {
        "duration": 60,
        "content": {"content_type": "Text", "data": {"text": "HI", "color": [255, 0, 0]}},
    }
    want = Renderer(64, 32).render(ledsign.parse_item(body), 0.0)
    async with httpx.AsyncClient(base_url=box.lan_urls[0]) as client:
        with trio.fail_after(10):
            kinds = [k for k, _ in await _events(client, 2)]
            assert kinds[0] == "status" and "frame" in kinds
            assert (await client.post("/api/playlist/items", json=body)).status_code == 201
            async for canvas, shown in _frames(client):
                assert canvas == "main" and shown.size == (64, 32)
                if shown.tobytes() == want.tobytes():
                    break


@pytest.mark.parametrize("path", ["/api/status", "/api/status/events"])
async def test_empty_admin_token_disables_admin_access(make_config: Any, path: str) -> None:
    from edgebox.runtime import wiring

    b = await wiring.open_box(make_config(lan={"admin_token": ""}))
    async with trio.open_nursery() as n:
        await n.start(wiring.run, b)
        async with httpx.AsyncClient(
            base_url=b.lan_urls[0], cookies={"edgebox_admin": ""}
        ) as client:
            assert (await client.get(path)).status_code == 401
            assert (await client.get(path, headers=AUTH)).status_code == 401
        n.cancel_scope.cancel()
