"""Hostile LAN clients against a real hypercorn server on loopback: values the fuzzer found,
oversized bodies, clients that drip their requests, and a thousand idle event streams."""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import trio

from edgebox.core import config
from edgebox.local.server import ClientTimeouts, serve_lan
from edgebox.runtime import wiring
from tests.conftest import ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
ITEM = {"id": "keep", "duration": 5, "content": {"type": "Text", "data": {"text": "Hi"}}}


@pytest.fixture
async def client(box: wiring.Box) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=box.lan_urls[0], headers=AUTH, timeout=10) as c:
        yield c


async def seed(client: httpx.AsyncClient) -> None:
    """One of everything a path can name: item `keep`, device `KEEP`, channel 1, news 1."""
    for path, body in (
        ("/api/playlist/items", ITEM),
        ("/api/admin/iptv/devices", {"owner_name": "Bar", "duid": "KEEP"}),
        ("/api/admin/iptv/channels", {"name": "One", "url": "http://s/1", "type": "FTA"}),
        ("/api/admin/iptv/news", {"title": "Hello", "body": "World"}),
    ):
        assert (await client.post(path, json=body)).status_code == 201, path


async def state(client: httpx.AsyncClient, box: wiring.Box) -> tuple[Any, ...]:
    """What a refused request must leave as it was: the APIs' view and the store's."""
    reads = [
        "/api/playlist/items",
        "/api/settings/brightness",
        "/api/preview/status",
        "/api/admin/iptv/devices",
        "/api/admin/iptv/channels",
        "/api/admin/iptv/news",
    ]
    seen = [(await client.get(path)).json() for path in reads]
    keys = ["led/items", "led/images", "hub/brightness", "iptv/channels", "iptv/news", "iptv/ids"]
    stored = [await box.store.get(key) for key in keys]
    return (*seen, *stored, sorted(box.iptv.devices))


# What the fuzzer found


async def test_a_news_item_dated_before_the_year_1000_is_read_back_by_every_tv(
    client: httpx.AsyncClient,
) -> None:
    """Once a 500 on every news read: such a date was written as `267-04-12`, which no ISO
    parser reads back, so one admin request broke /news and /check-device for all TVs."""
    await seed(client)
    await client.patch("/api/admin/iptv/devices/KEEP", json={"status": "active"})
    created = await client.post(
        "/api/admin/iptv/news",
        json={"title": "Old", "body": "x", "created_at": "0267-04-12T10:39:44.9Z"},
    )
    assert created.status_code == 201
    assert created.json()["created_at"] == "0267-04-12T10:39:44Z"
    assert (await client.get("/api/admin/iptv/news")).status_code == 200
    news = await client.get("/api/client/news", params={"duid": "KEEP"})
    assert news.status_code == 200
    assert [n["title"] for n in news.json()["news"]] == ["Hello", "Old"]
    checked = await client.post("/api/client/check-device", json={"duid": "KEEP"})
    assert checked.status_code == 200


@pytest.mark.parametrize(
    "stamp", ["0001-01-01T00:00:00+05:00", "9999-12-31T23:00:00-05:00", "2026-13-01T00:00:00Z"]
)
async def test_a_news_date_outside_the_calendar_in_utc_is_a_400(
    client: httpx.AsyncClient, stamp: str
) -> None:
    refused = await client.post(
        "/api/admin/iptv/news", json={"title": "t", "body": "b", "created_at": stamp}
    )
    assert refused.status_code == 400 and refused.json()["field"] == "created_at"


async def test_rfc_3339_stamps_with_lower_case_letters_or_a_leap_second_are_accepted(
    client: httpx.AsyncClient,
) -> None:
    for stamp, kept in (
        ("2026-06-30t23:59:60z", "2026-06-30T23:59:59Z"),
        ("2026-01-01T01:00:00+01:00", "2026-01-01T00:00:00Z"),
    ):
        created = await client.post(
            "/api/admin/iptv/news", json={"title": "t", "body": "b", "created_at": stamp}
        )
        assert created.status_code == 201, created.text
        assert created.json()["created_at"] == kept


async def test_a_duid_with_a_trailing_newline_is_refused_not_stored(
    client: httpx.AsyncClient, box: wiring.Box
) -> None:
    refused = await client.post(
        "/api/client/register-device", json={"device_name": "TV", "duid": "ROOM1\n"}
    )
    assert refused.status_code == 400 and refused.json()["field"] == "duid"
    assert box.iptv.devices == {}


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
async def test_nan_and_infinity_are_refused_as_not_json(
    client: httpx.AsyncClient, box: wiring.Box, constant: bytes
) -> None:
    """Python's json reads them; brightness then crashed converting NaN to an int (500)."""
    headers = {"Content-Type": "application/json"}
    for method, path, body in (
        ("PUT", "/api/settings/brightness", b'{"brightness": %s}' % constant),
        ("POST", "/api/playlist/items", b'{"duration": %s, "content": {}}' % constant),
    ):
        refused = await client.request(method, path, content=body, headers=headers)
        assert refused.status_code == 400, refused.text
        assert refused.json()["field"] == "body" and "not a JSON value" in refused.json()["error"]
    assert box.hub.brightness == 100


async def test_json_nested_deeper_than_32_levels_is_refused_however_short_it_is(
    client: httpx.AsyncClient, box: wiring.Box
) -> None:
    """The depth is only walked for bodies long enough to reach it: the tightest bodies of
    33 levels (the shortest that can be too deep) are still refused."""
    headers = {"Content-Type": "application/json"}
    for body in (b"[" * 32 + b"1" + b"]" * 32, b"[" * 33 + b"]" * 33):
        refused = await client.put("/api/settings/brightness", content=body, headers=headers)
        assert refused.status_code == 400, refused.text
        assert "nested deeper than 32 levels" in refused.json()["error"]
    deep_enough = b"[" * 31 + b"1" + b"]" * 31  # 32 levels: read, then refused as no object
    refused = await client.put("/api/settings/brightness", content=deep_enough, headers=headers)
    assert refused.json()["error"] == "must be a JSON object"
    assert box.hub.brightness == 100


async def test_a_wrong_method_is_a_json_405_that_names_the_allowed_ones(
    client: httpx.AsyncClient,
) -> None:
    for method, path, allowed in (
        ("TRACE", "/healthz", {"GET", "HEAD", "OPTIONS"}),
        ("GET", "/api/admin/iptv/channels/import", {"POST", "OPTIONS"}),
        ("PATCH", "/api/playlist/items", {"GET", "HEAD", "OPTIONS", "POST"}),
    ):
        refused = await client.request(method, path, json={"x": 1})
        assert refused.status_code == 405
        assert set(refused.headers["Allow"].replace(" ", "").split(",")) == allowed
        assert refused.json()["error"]


# Oversized bodies


async def json_routes(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    """Every route that takes a JSON body, with its path parameters filled from `seed`."""
    spec = (await client.get("/openapi.json")).json()
    names = {"item_id": "keep", "duid": "KEEP", "channel_id": "1", "news_id": "1"}
    found = []
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                found.append((method.upper(), path.format(**names)))
    return found


async def test_every_json_route_refuses_an_oversized_body_with_413_and_changes_nothing(
    client: httpx.AsyncClient, box: wiring.Box
) -> None:
    await seed(client)
    routes = await json_routes(client)
    assert len(routes) >= 20
    before = await state(client, box)
    headers = {"Content-Type": "application/json"}
    # Over every route's limit (the largest, an M3U import, takes 8 MiB).
    huge = json.dumps({"playlist": "x" * (9 << 20), "type": "FTA"}).encode()
    for method, path in routes:
        refused = await client.request(method, path, content=huge, headers=headers)
        assert refused.status_code == 413, (method, path, refused.text)
        assert refused.json()["field"] == "body"

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"brightness": 7, "pad": "'
        for _ in range(64):  # 4 MiB in all, no Content-Length: the box stops reading early
            yield b"x" * 65536
        yield b'"}'

    streamed = await client.put("/api/settings/brightness", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert await state(client, box) == before


# Slow clients


@pytest.fixture
async def quick_box(
    make_config: Callable[..., config.VenueConfig], nursery: trio.Nursery
) -> AsyncIterator[tuple[wiring.Box, str]]:
    """A box whose LAN server gives a client 1 s to send its headers or its body."""
    box = await wiring.open_box(make_config())
    urls = await nursery.start(serve_lan(wiring.lan_parts(box), ClientTimeouts(idle=1.0, body=1.0)))
    yield box, urls[0]
    nursery.cancel_scope.cancel()


async def connect(url: str) -> trio.SocketStream:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return await trio.open_tcp_stream(host, int(port))


async def read_until_closed(stream: trio.SocketStream) -> bytes:
    got = b""
    while chunk := await stream.receive_some(65536):
        got += chunk
    return got


async def drip(stream: trio.SocketStream, data: bytes, every: float) -> None:
    """Send `data` a byte at a time; stop quietly once the box has hung up."""
    try:
        for i in range(len(data)):
            await stream.send_all(data[i : i + 1])
            await trio.sleep(every)
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass


async def answered_quickly(url: str, count: int) -> list[float]:
    async with httpx.AsyncClient(base_url=url, timeout=5) as c:
        times = []
        for _ in range(count):
            began = time.monotonic()
            assert (await c.get("/api/settings/brightness")).status_code == 200
            times.append(time.monotonic() - began)
            await trio.sleep(0.05)
        return times


async def test_clients_that_drip_their_body_get_a_408_and_others_are_answered_meanwhile(
    quick_box: tuple[wiring.Box, str],
) -> None:
    box, url = quick_box
    body = b'{"brightness": 5}'
    head = (
        b"PUT /api/settings/brightness HTTP/1.1\r\nHost: box\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
    )
    replies: list[bytes] = []
    latencies: list[float] = []

    async def slow_client() -> None:
        stream = await connect(url)
        await stream.send_all(head)
        async with trio.open_nursery() as inner:
            inner.start_soon(drip, stream, body, 0.25)
            replies.append(await read_until_closed(stream))
            inner.cancel_scope.cancel()

    async def others() -> None:
        latencies.extend(await answered_quickly(url, 20))

    began = time.monotonic()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(slow_client)
            nursery.start_soon(others)
    assert len(replies) == 20
    assert all(r.startswith(b"HTTP/1.1 408") for r in replies), replies[0][:200]
    assert time.monotonic() - began < 4  # cut at 1 s, not after the 4 s the body would take
    assert max(latencies) < 0.5
    assert box.hub.brightness == 100 and await box.store.get("hub/brightness") is None


async def test_clients_that_drip_their_headers_are_cut_off_and_others_are_answered_meanwhile(
    quick_box: tuple[wiring.Box, str],
) -> None:
    _box, url = quick_box
    head = b"GET /healthz HTTP/1.1\r\nHost: box\r\nX-Slow: " + b"a" * 100 + b"\r\n\r\n"
    cut_after: list[float] = []
    latencies: list[float] = []

    async def slow_client() -> None:
        stream = await connect(url)
        began = time.monotonic()
        async with trio.open_nursery() as inner:
            inner.start_soon(drip, stream, head, 0.05)
            try:
                answer = await read_until_closed(stream)
            except trio.BrokenResourceError:  # reset while we were still sending
                answer = b""
            cut_after.append(time.monotonic() - began)
            inner.cancel_scope.cancel()
        assert b"200 OK" not in answer

    async def others() -> None:
        latencies.extend(await answered_quickly(url, 20))

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(slow_client)
            nursery.start_soon(others)
    assert len(cut_after) == 20
    assert max(cut_after) < 3  # the headers alone would take 6 s
    assert max(latencies) < 0.5


# A thousand idle event streams


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


def allow_open_files(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        assert hard == resource.RLIM_INFINITY or hard >= needed, (
            f"this test needs {needed} open files; the hard limit is {hard}"
        )
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed, hard))


async def test_a_thousand_idle_event_streams_leave_the_box_answering_and_free_their_files(
    box: wiring.Box, client: httpx.AsyncClient
) -> None:
    streams_wanted = 1000
    allow_open_files(2 * streams_wanted + 512)  # both ends live in this process
    # The box's own services subscribe as they start; count from when they all run.
    with trio.fail_after(10):
        while not all(s.status == "running" for s in box.supervisor.states.values()):
            await trio.sleep(0.005)
    subscribers, files = box.hub.subscriber_count, open_files()
    request = b"GET /api/events/brightness HTTP/1.1\r\nHost: box\r\n\r\n"
    streams: list[trio.SocketStream] = []
    limit = trio.CapacityLimiter(100)

    async def read_event(stream: trio.SocketStream) -> bytes:
        got = b""
        while b"\n\n" not in got.partition(b"data: ")[2]:
            chunk = await stream.receive_some(4096)
            assert chunk, "stream closed"
            got += chunk
        return got.partition(b"data: ")[2].partition(b"\n\n")[0]

    async def subscribe() -> None:
        async with limit:
            stream = await connect(box.lan_urls[0])
            await stream.send_all(request)
            assert await read_event(stream) == b'{"brightness":100}'
            streams.append(stream)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            for _ in range(streams_wanted):
                nursery.start_soon(subscribe)
    assert box.hub.subscriber_count == subscribers + streams_wanted

    began = time.monotonic()
    for _ in range(10):
        assert (await client.get("/api/playlist/items")).status_code == 200
        assert (
            await client.post("/api/client/check-device", json={"duid": "X"})
        ).status_code == 404
    assert (time.monotonic() - began) / 20 < 0.1
    assert (
        await client.put("/api/settings/brightness", json={"brightness": 42})
    ).status_code == 200

    heard: list[bytes] = []

    async def hear(stream: trio.SocketStream) -> None:
        heard.append(await read_event(stream))

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            for stream in streams:
                nursery.start_soon(hear, stream)
    assert heard == [b'{"brightness":42}'] * streams_wanted

    for stream in streams:
        await stream.aclose()
    with trio.fail_after(15):
        while box.hub.subscriber_count > subscribers or open_files() > files + 16:
            await trio.sleep(0.05)
    assert (await client.get("/healthz")).status_code == 200
