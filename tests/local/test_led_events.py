"""Server-Sent Events of the LED API, read by a real streaming httpx client."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import trio

from edgebox.core import config
from edgebox.local.events import KEEP_ALIVE
from edgebox.runtime import wiring


@asynccontextmanager
async def sse(box: wiring.Box, path: str) -> AsyncIterator[AsyncIterator[Any]]:
    """The stream's messages: a dict per `data:` event, the text of each comment line."""
    async with (
        httpx.AsyncClient(base_url=box.lan_urls[0], timeout=None) as client,
        client.stream("GET", path) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")

        async def messages() -> AsyncIterator[Any]:
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    yield json.loads(line[len("data: ") :])
                elif line.startswith(":"):
                    yield line

        yield messages()


async def test_brightness_events_start_with_the_level_and_follow_api_and_cloud_changes(
    box: wiring.Box,
) -> None:
    with trio.fail_after(10):
        async with (
            sse(box, "/api/events/brightness") as events,
            httpx.AsyncClient(base_url=box.lan_urls[0]) as client,
        ):
            assert await anext(events) == {"brightness": 100}
            await client.put("/api/settings/brightness", json={"brightness": 60})
            assert await anext(events) == {"brightness": 60}
            await box.hub.set_brightness(25)  # what the cloud's set_brightness does
            assert await anext(events) == {"brightness": 25}


async def test_editor_events_follow_the_preview_lock(box: wiring.Box) -> None:
    with trio.fail_after(10):
        async with (
            sse(box, "/api/events/editor") as events,
            httpx.AsyncClient(base_url=box.lan_urls[0]) as client,
        ):
            assert await anext(events) == {"locked": False, "locked_by": None}
            item = {"duration": 5, "content": {"type": "Text", "data": {"text": "hi"}}}
            session = (await client.post("/api/preview", json=item)).json()["session_id"]
            assert await anext(events) == {"locked": True, "locked_by": session}
            # An update by the owner changes nothing an editor sees, so no event repeats.
            await client.put("/api/preview", json={"item": item, "session_id": session})
            await client.request("DELETE", "/api/preview", json={"session_id": session})
            assert await anext(events) == {"locked": False, "locked_by": None}


async def test_playlist_events_carry_the_action_and_every_item(box: wiring.Box) -> None:
    item = {"id": "a", "duration": 5, "content": {"type": "Text", "data": {"text": "hi"}}}
    with trio.fail_after(10):
        async with httpx.AsyncClient(base_url=box.lan_urls[0]) as client:
            await client.post("/api/playlist/items", json=item)
            async with sse(box, "/api/events/playlist") as events:
                first = await anext(events)
                assert first["action"] == "Update"
                assert [i["id"] for i in first["items"]] == ["a"]
                await client.post("/api/playlist/items", json={**item, "id": "b"})
                added = await anext(events)
                assert added["action"] == "Add"
                assert [i["id"] for i in added["items"]] == ["a", "b"]
                assert added["items"][1]["content"]["content_type"] == "Text"
                await client.put("/api/playlist/reorder", json={"item_ids": ["b", "a"]})
                reordered = await anext(events)
                assert (reordered["action"], [i["id"] for i in reordered["items"]]) == (
                    "Reorder",
                    ["b", "a"],
                )
                await client.put("/api/playlist/items/a", json=item)
                assert (await anext(events))["action"] == "Update"
                await client.delete("/api/playlist/items/b")
                deleted = await anext(events)
                assert deleted["action"] == "Delete"
                assert [i["id"] for i in deleted["items"]] == ["a"]


async def test_a_silent_stream_sends_a_keep_alive_comment_every_15_seconds(
    box: wiring.Box, autojump_clock: trio.testing.MockClock
) -> None:
    async with sse(box, "/api/events/brightness") as events:
        assert await anext(events) == {"brightness": 100}
        began = trio.current_time()
        assert await anext(events) == ": keep-alive"
        first = trio.current_time() - began
        assert await anext(events) == ": keep-alive"
        second = trio.current_time() - began
    assert KEEP_ALIVE == 15
    assert 15 <= first < 16
    assert 30 <= second < 31


async def test_the_expiry_of_an_unpinged_preview_reaches_editors(
    box: wiring.Box, autojump_clock: trio.testing.MockClock
) -> None:
    async with (
        sse(box, "/api/events/editor") as events,
        httpx.AsyncClient(base_url=box.lan_urls[0], timeout=None) as client,
    ):
        assert await anext(events) == {"locked": False, "locked_by": None}
        item = {"duration": 5, "content": {"type": "Clock", "data": {}}}
        session = (await client.post("/api/preview", json=item)).json()["session_id"]
        began = trio.current_time()
        assert await anext(events) == {"locked": True, "locked_by": session}
        assert await anext(events) == {"locked": False, "locked_by": None}
        assert 5 <= trio.current_time() - began < 5.5


async def test_a_client_that_disconnects_frees_its_subscription_at_once(
    box: wiring.Box,
) -> None:
    with trio.fail_after(10):
        # The box's own services subscribe as they start; count from when they all run.
        while not all(s.status == "running" for s in box.supervisor.states.values()):
            await trio.sleep(0.005)
        baseline = box.hub.subscriber_count
        for path in ("/api/events/brightness", "/api/events/editor", "/api/events/playlist"):
            async with sse(box, path) as events:
                await anext(events)
                assert box.hub.subscriber_count == baseline + 1
            while box.hub.subscriber_count != baseline:
                await trio.sleep(0.005)


async def test_open_streams_do_not_hold_up_the_box_shutting_down(
    make_config: Callable[..., config.VenueConfig],
) -> None:
    box = await wiring.open_box(make_config())
    opened, ended = trio.Event(), trio.Event()

    async def listen() -> None:
        try:
            async with sse(box, "/api/events/brightness") as events:
                await anext(events)
                opened.set()
                async for _ in events:
                    pass
        except httpx.HTTPError:
            pass
        ended.set()

    try:
        with trio.fail_after(10):
            async with trio.open_nursery() as clients:
                async with trio.open_nursery() as running:
                    await running.start(wiring.run, box)
                    clients.start_soon(listen)
                    await opened.wait()
                    began = trio.current_time()
                    running.cancel_scope.cancel()
                took = trio.current_time() - began
                await ended.wait()
    finally:
        box.store.close_sync()
    assert took < 0.5, f"shutdown waited {took:.2f} s for an open stream"
