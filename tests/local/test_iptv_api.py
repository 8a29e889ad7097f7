"""The IPTV client and admin APIs through a real hypercorn server on loopback."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator

import httpx
import pytest
import trio.testing

from edgebox.core.errors import CacheError
from edgebox.iptv import model as iptv
from edgebox.iptv.ratelimit import RateLimiter
from edgebox.runtime import wiring
from tests.conftest import ADMIN_TOKEN

PLAYLIST = """#EXTM3U url-tvg="http://epg.example/guide.xml"
#EXTINF:-1 tvg-id="a" tvg-name="News, One" tvg-logo="http://logo.example/a.png" \
group-title="News, World",News One
http://stream.example/a.m3u8
#EXTINF:-1 tvg-id="b" group-title="Sports",Sport Two
http://stream.example/b.m3u8
#EXTINF:-1 group-title="Sports",sport two
http://stream.example/b2.m3u8
#EXTINF broken line without colon
http://stream.example/c.m3u8
#EXTINF:-1,No URL
"""


@pytest.fixture
async def client(box: wiring.Box) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=box.lan_urls[0], timeout=10) as c:
        yield c


@pytest.fixture
async def admin(box: wiring.Box) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=box.lan_urls[0], headers=headers, timeout=10) as c:
        yield c


async def seed(admin: httpx.AsyncClient) -> dict[str, str]:
    for name, kind in (("Free", "FTA"), ("Town", "Local"), ("Movies", "Premium")):
        body = {"name": name, "url": f"http://s.example/{name}", "type": kind}
        assert (await admin.post("/api/admin/iptv/channels", json=body)).status_code == 201
    for title, at in (("old", "2026-01-01T00:00:00Z"), ("new", "2026-06-01T00:00:00Z")):
        body = {"title": title, "body": "text", "created_at": at}
        assert (await admin.post("/api/admin/iptv/news", json=body)).status_code == 201
    all_types = "FTA,Local,Premium"
    devices = {
        "active": {
            "owner_name": "A",
            "duid": "ACTIVE",
            "allowed_types": all_types,
            "status": "active",
            "expiry_date": "2999-12-31",
        },
        "expired": {
            "owner_name": "E",
            "duid": "EXPIRED",
            "allowed_types": all_types,
            "status": "active",
            "expiry_date": "2020-01-01",
        },
        "disabled": {"owner_name": "D", "duid": "DISABLED", "status": "disabled"},
        "fta_only": {
            "owner_name": "F",
            "duid": "FTAONLY",
            "allowed_types": "FTA",
            "status": "active",
        },
    }
    for body in devices.values():
        assert (await admin.post("/api/admin/iptv/devices", json=body)).status_code == 201
    return {k: v["duid"] for k, v in devices.items()}


async def test_check_device_answers_each_status_with_the_channels_it_may_see(
    client: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    duids = await seed(admin)
    active = (await client.post("/api/client/check-device", json={"duid": "ACTIVE"})).json()
    assert active["status"] == "active" and "message" not in active
    assert active["device"] == {
        "id": 1,
        "duid": "ACTIVE",
        "owner_name": "A",
        "allowed_types": "FTA,Local,Premium",
        "expiry_date": "2999-12-31",
        "status": "active",
    }
    assert [c["name"] for c in active["channels"]] == ["Free", "Town", "Movies"]
    assert set(active["channels"][0]) == {
        "id",
        "name",
        "url",
        "logo_url",
        "type",
        "category",
        "has_news",
    }
    assert [n["title"] for n in active["news"]] == ["new", "old"]
    assert active["news"][0]["created_at"] == "2026-06-01T00:00:00Z"

    expired = (
        await client.post("/api/client/check-device", json={"duid": duids["expired"]})
    ).json()
    assert expired["status"] == "expired"
    assert expired["message"] == "Device subscription has expired"
    assert [c["type"] for c in expired["channels"]] == ["FTA", "Local"]
    assert len(expired["news"]) == 2

    disabled = (await client.post("/api/client/check-device", json={"duid": "DISABLED"})).json()
    assert disabled == {
        "status": "disabled",
        "message": "Device is disabled",
        "device": disabled["device"],
    }
    fta = (await client.post("/api/client/check-device", json={"duid": "FTAONLY"})).json()
    assert [c["type"] for c in fta["channels"]] == ["FTA"]

    missing = await client.post("/api/client/check-device", json={"duid": "NOPE"})
    assert missing.status_code == 404 and missing.json() == {"error": "Device not found"}


async def test_answers_follow_every_catalog_edit_at_once_and_read_as_jsonify_writes(
    client: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    """The channel and news parts are encoded once per catalog version: an edit must show in
    the very next answer, to every kind of device, in every client route."""
    await seed(admin)

    async def seen() -> tuple[list[str], list[str], list[str], list[str]]:
        check = await client.post("/api/client/check-device", json={"duid": "ACTIVE"})
        expired = await client.post("/api/client/check-device", json={"duid": "EXPIRED"})
        listed = await client.get("/api/client/channels", params={"duid": "ACTIVE"})
        news = await client.get("/api/client/news", params={"duid": "ACTIVE"})
        for r in (check, expired, listed, news):
            assert r.status_code == 200 and r.headers["content-type"] == "application/json"
            assert r.content == json.dumps(r.json(), separators=(",", ":")).encode() + b"\n"
        return (
            [c["name"] for c in check.json()["channels"]],
            [c["name"] for c in expired.json()["channels"]],
            [f"{c['name']}#{c['display_order']}" for c in listed.json()["channels"]],
            [n["title"] for n in news.json()["news"]],
        )

    assert await seen() == (
        ["Free", "Town", "Movies"],
        ["Free", "Town"],
        ["Free#1", "Town#2", "Movies#3"],
        ["new", "old"],
    )
    ids = [c["id"] for c in (await admin.get("/api/admin/iptv/channels")).json()]
    renamed = await admin.patch(f"/api/admin/iptv/channels/{ids[0]}", json={"name": "Free 2"})
    assert renamed.status_code == 200
    body = {"name": "Late", "url": "http://s.example/late", "type": "Local"}
    assert (await admin.post("/api/admin/iptv/channels", json=body)).status_code == 201
    body = {"title": "newest", "body": "text", "created_at": "2026-07-01T00:00:00Z"}
    assert (await admin.post("/api/admin/iptv/news", json=body)).status_code == 201
    assert await seen() == (
        ["Free 2", "Town", "Movies", "Late"],
        ["Free 2", "Town", "Late"],
        ["Free 2#1", "Town#2", "Movies#3", "Late#4"],
        ["newest", "new", "old"],
    )
    assert (await admin.delete(f"/api/admin/iptv/channels/{ids[2]}")).status_code == 204
    assert (await seen())[0] == ["Free 2", "Town", "Late"]


async def test_channels_and_news_follow_status_and_server_order(
    client: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    await seed(admin)
    ids = [c["id"] for c in (await admin.get("/api/admin/iptv/channels")).json()]
    reordered = await admin.put("/api/admin/iptv/channels/order", json={"channel_ids": ids[::-1]})
    assert reordered.status_code == 200
    channels = (await client.get("/api/client/channels", params={"duid": "ACTIVE"})).json()
    assert [(c["name"], c["display_order"]) for c in channels["channels"]] == [
        ("Movies", 1),
        ("Town", 2),
        ("Free", 3),
    ]
    expired = (await client.get("/api/client/channels", params={"duid": "EXPIRED"})).json()
    assert [c["name"] for c in expired["channels"]] == ["Town", "Free"]
    news = (await client.get("/api/client/news", params={"duid": "EXPIRED"})).json()
    assert [n["title"] for n in news["news"]] == ["new", "old"]
    for path in ("/api/client/channels", "/api/client/news"):
        refused = await client.get(path, params={"duid": "DISABLED"})
        assert refused.status_code == 403 and refused.json() == {"error": "Device is disabled"}
        assert (await client.get(path, params={"duid": "NOPE"})).status_code == 404
        assert (await client.get(path)).json()["field"] == "duid"


async def test_register_then_activate_once_with_the_right_code(
    client: httpx.AsyncClient, box: wiring.Box
) -> None:
    made = await client.post("/api/client/register-device", json={"device_name": "Room 12"})
    assert made.status_code == 201
    body = made.json()
    device = body["device"]
    assert body["message"] == "Device registered successfully"
    assert device["status"] == "disabled" and device["allowed_types"] == "FTA,Local"
    assert device["expiry_date"] is None and len(device["activation_code"]) == 4
    assert device["activation_code"].isdigit() and device["created_at"].endswith("Z")
    duid = device["duid"]
    wrong = "0000" if device["activation_code"] != "0000" else "1111"
    bad = await client.post(
        "/api/client/activate-device", json={"duid": duid, "activation_code": wrong}
    )
    assert bad.status_code == 400 and bad.json() == {"error": "Invalid activation code"}
    good = await client.post(
        "/api/client/activate-device",
        json={"duid": duid, "activation_code": device["activation_code"]},
    )
    assert good.status_code == 200
    assert good.json()["message"] == "Device activated successfully"
    assert good.json()["device"]["status"] == "active"
    again = await client.post(
        "/api/client/activate-device",
        json={"duid": duid, "activation_code": device["activation_code"]},
    )
    assert again.status_code == 409 and "error" in again.json()
    twice = await client.post(
        "/api/client/register-device", json={"device_name": "Room 12", "duid": duid}
    )
    assert twice.status_code == 409 and twice.json() == {"error": "Device already registered"}
    assert len(box.iptv.devices) == 1
    assert box.iptv.summary()["devices_active"] == 1


async def test_a_tv_that_sends_only_its_duid_registers_under_that_name(
    client: httpx.AsyncClient, box: wiring.Box
) -> None:
    made = await client.post("/api/client/register-device", json={"duid": "tv-lobby-01"})
    assert made.status_code == 201
    device = made.json()["device"]
    assert device["duid"] == "tv-lobby-01" and device["owner_name"] == "tv-lobby-01"
    assert device["status"] == "disabled" and len(device["activation_code"]) == 4
    assert box.iptv.devices["tv-lobby-01"].owner_name == "tv-lobby-01"
    again = await client.post("/api/client/register-device", json={"duid": "tv-lobby-01"})
    assert again.status_code == 409
    for body in ({}, {"duid": None}, {"duid": "bad duid"}, {"device_name": "", "duid": "x1"}):
        refused = await client.post("/api/client/register-device", json=body)
        assert refused.status_code == 400, body
    assert list(box.iptv.devices) == ["tv-lobby-01"]


@pytest.mark.parametrize(
    ("path", "content"),
    [
        ("/api/client/check-device", b"{not json"),
        ("/api/client/check-device", b'{"duid": 5}'),
        ("/api/client/check-device", b"[]"),
        ("/api/client/register-device", b'{"device_name": ["x"]}'),
        ("/api/client/activate-device", b'{"duid": "ACTIVE", "activation_code": "12a4"}'),
        ("/api/client/register-device", b'{"device_name": "' + b"x" * 100_000 + b'"}'),
    ],
)
async def test_bad_bodies_get_a_json_4xx_and_change_nothing(
    client: httpx.AsyncClient,
    admin: httpx.AsyncClient,
    box: wiring.Box,
    path: str,
    content: bytes,
) -> None:
    await seed(admin)
    before = (dict(box.iptv.devices), list(box.iptv.channels), await box.store.get("iptv/ids"))
    response = await client.post(path, content=content)
    assert 400 <= response.status_code < 500 and "error" in response.json()
    assert (
        dict(box.iptv.devices),
        list(box.iptv.channels),
        await box.store.get("iptv/ids"),
    ) == before


async def test_admin_api_needs_the_token(client: httpx.AsyncClient) -> None:
    for method, path in (("GET", "/api/admin/iptv/devices"), ("POST", "/api/admin/iptv/news")):
        response = await client.request(method, path, json={})
        assert response.status_code == 401 and response.json()["error"]


async def test_admin_filters_edits_and_deletes_devices(admin: httpx.AsyncClient) -> None:
    await seed(admin)
    expired = (await admin.get("/api/admin/iptv/devices", params={"status": "expired"})).json()
    assert [d["duid"] for d in expired] == ["EXPIRED"]
    edited = await admin.patch(
        "/api/admin/iptv/devices/FTAONLY",
        json={"expiry_date": (dt.date.today() + dt.timedelta(days=3)).isoformat()},
    )
    assert edited.status_code == 200
    soon = (await admin.get("/api/admin/iptv/devices", params={"expiring_within_days": 7})).json()
    assert [d["duid"] for d in soon] == ["FTAONLY"]
    off = (await admin.post("/api/admin/iptv/devices/ACTIVE/disable")).json()
    assert off["status"] == "disabled"
    assert (await admin.post("/api/admin/iptv/devices/ACTIVE/activate")).json()[
        "status"
    ] == "active"
    assert (
        await admin.patch("/api/admin/iptv/devices/ACTIVE", json={"allowed_types": "Gold"})
    ).status_code == 400
    assert (await admin.delete("/api/admin/iptv/devices/ACTIVE")).status_code == 204
    assert (await admin.get("/api/admin/iptv/devices/ACTIVE")).status_code == 404


async def test_m3u_import_reports_each_line_and_reimport_updates(
    admin: httpx.AsyncClient, box: wiring.Box
) -> None:
    response = await admin.post(
        "/api/admin/iptv/channels/import", json={"playlist": PLAYLIST, "type": "FTA"}
    )
    assert response.status_code == 200
    report = response.json()
    assert (report["added"], report["updated"], report["skipped"]) == (2, 0, 4)
    by_line = {line["line"]: line for line in report["lines"]}
    assert by_line[2]["action"] == "added" and by_line[2]["name"] == "News One"
    assert by_line[6]["action"] == "skipped" and "same name as line 4" in by_line[6]["reason"]
    assert by_line[8]["action"] == "skipped" and "#EXTINF" in by_line[8]["reason"]
    assert by_line[9]["action"] == "skipped" and "without #EXTINF" in by_line[9]["reason"]
    assert by_line[10]["action"] == "skipped" and "without a stream URL" in by_line[10]["reason"]
    first, second = box.iptv.channels
    assert first.category == "News, World" and first.logo_url == "http://logo.example/a.png"
    assert second.logo_url is None and second.category == "Sports"
    saved = await box.store.get("iptv/channels")
    assert [c["name"] for c in saved] == ["News One", "Sport Two"]

    again = await admin.post(
        "/api/admin/iptv/channels/import",
        json={"playlist": PLAYLIST.replace("a.m3u8", "a2.m3u8"), "type": "FTA"},
    )
    assert (again.json()["added"], again.json()["updated"], again.json()["unchanged"]) == (0, 1, 1)
    bad = await admin.post(
        "/api/admin/iptv/channels/import", json={"playlist": "x", "type": "Gold"}
    )
    assert bad.status_code == 400 and len(box.iptv.channels) == 2


async def test_the_101st_request_in_a_minute_is_refused_with_retry_after(
    client: httpx.AsyncClient,
) -> None:
    answers = [
        (await client.get("/api/client/channels", params={"duid": "NOPE"})).status_code
        for _ in range(101)
    ]
    assert answers[:100] == [404] * 100
    refused = await client.get("/api/client/channels", params={"duid": "NOPE"})
    assert refused.status_code == 429 and "error" in refused.json()
    assert 1 <= int(refused.headers["Retry-After"]) <= 60


async def test_rate_limit_window_rolls(autojump_clock: trio.testing.MockClock) -> None:
    limiter = RateLimiter(100, 60.0)
    start = trio.current_time() + 60 - trio.current_time() % 60
    assert all(limiter.hit("ip", start + i * 0.1).allowed for i in range(100))
    refused = limiter.hit("ip", start + 10)
    assert not refused.allowed and refused.retry_after > 50
    assert limiter.hit("other", start + 10).allowed
    assert limiter.hit("ip", start + 10 + refused.retry_after + 0.01).allowed
    assert all(limiter.hit("ip", start + 180 + i).allowed for i in range(100))
    await trio.sleep(1)


def test_idle_keys_are_forgotten_and_memory_is_capped() -> None:
    limiter = RateLimiter(100, 60.0, max_keys=1000)
    for i in range(5000):
        limiter.hit(f"127.0.{i // 250}.{i % 250}", float(i) / 1000)
    assert len(limiter) == 1000
    limiter.hit("late", 1000.0)
    assert len(limiter) == 1


def test_device_status_follows_expiry_day_by_day() -> None:
    device = iptv.Device(
        1,
        "D",
        "o",
        "1234",
        "2026-01-01T00:00:00Z",
        expiry_date=dt.date(2026, 5, 1),
        activated_at="2026-01-01T00:00:00Z",
    )
    assert device.status(dt.datetime(2026, 5, 1, 23, 59, tzinfo=dt.UTC)) == "active"
    assert device.status(dt.datetime(2026, 5, 2, 0, 0, tzinfo=dt.UTC)) == "expired"


async def test_demo_catalog_answers_check_device_at_once(
    box: wiring.Box, client: httpx.AsyncClient
) -> None:
    from edgebox.cli.demo import DEMO_DUID, seed_iptv

    await seed_iptv(box)
    answer = (await client.post("/api/client/check-device", json={"duid": DEMO_DUID})).json()
    assert answer["status"] == "active" and len(answer["channels"]) == 3
    assert box.iptv.summary()["devices_expired"] == 1


async def test_a_crash_mid_import_leaves_the_old_catalog(
    box: wiring.Box, monkeypatch: pytest.MonkeyPatch
) -> None:
    await box.iptv.import_m3u(PLAYLIST, "FTA")
    before = await box.store.get("iptv/channels")
    real_set = box.store.set_sync

    def set_then_crash(key: str, value: object) -> None:
        real_set(key, value)
        if key == "iptv/ids":
            raise OSError("power cut")

    monkeypatch.setattr(box.store, "set_sync", set_then_crash)
    with pytest.raises(CacheError, match="power cut"):
        await box.iptv.import_m3u(PLAYLIST.replace("News One", "News Three"), "Local")
    monkeypatch.undo()
    assert await box.store.get("iptv/channels") == before
    assert [c.name for c in box.iptv.channels] == ["News One", "Sport Two"]


async def test_a_body_reads_in_any_json_encoding_and_bad_bytes_are_a_400(
    client: httpx.AsyncClient, admin: httpx.AsyncClient
) -> None:
    """JSON in UTF-8 (with or without a BOM), UTF-16 or UTF-32 gets the same answer bytes."""
    await seed(admin)
    headers = {"Content-Type": "application/json"}
    text = '{"duid": "ACTIVE"}'
    answers = set()
    for raw in (
        text.encode(),
        b"\xef\xbb\xbf" + text.encode(),
        text.encode("utf-16"),
        text.encode("utf-32-le"),
    ):
        answer = await client.post("/api/client/check-device", content=raw, headers=headers)
        assert answer.status_code == 200, (raw, answer.text)
        answers.add(answer.content)
    assert len(answers) == 1
    bad = await client.post(
        "/api/client/check-device", content=b'{"duid": "\xff"}', headers=headers
    )
    assert bad.status_code == 400 and bad.json()["field"] == "body"
