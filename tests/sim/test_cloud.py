"""The simulated cloud itself: it must behave like the API document before it can judge the box."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
import trio
import trio_websocket

from edgebox.sim.cloud import SimCloud

CREDS = {"username": "box", "password": "s3cret-password"}


async def login(http: httpx.AsyncClient, cloud: SimCloud) -> dict[str, object]:
    r = await http.post(f"{cloud.base_url}/auth/token/", json=CREDS)
    assert r.status_code == 200
    return r.json()


async def test_login_refresh_and_401_follow_the_document(cloud: SimCloud) -> None:
    async with httpx.AsyncClient() as http:
        bad = await http.post(
            f"{cloud.base_url}/auth/token/", json={"username": "box", "password": "x"}
        )
        assert bad.status_code == 400
        assert bad.json() == {"message": "Invalid username or password", "status_code": 400}

        tokens = await login(http, cloud)
        assert set(tokens) == {"access", "refresh", "expires_in"}
        assert tokens["expires_in"] == 3600

        url = f"{cloud.base_url}/admin/cloud/playlists"
        assert (await http.get(url, params={"sn_number": "SN-1"})).status_code == 401
        auth = {"Authorization": f"Bearer {tokens['access']}"}
        assert (await http.get(url, params={"sn_number": "SN-1"}, headers=auth)).status_code == 404

        refreshed = await http.post(
            f"{cloud.base_url}/auth/token/refresh/", json={"refresh": tokens["refresh"]}
        )
        assert refreshed.status_code == 200
        assert refreshed.json()["access"] != tokens["access"]
        again = await http.post(
            f"{cloud.base_url}/auth/token/refresh/", json={"refresh": "unknown"}
        )
        assert again.status_code == 401


async def test_access_token_expires_on_the_trio_clock(
    cloud: SimCloud, autojump_clock: trio.testing.MockClock
) -> None:
    cloud.access_lifetime = 60
    async with httpx.AsyncClient() as http:
        tokens = await login(http, cloud)
        assert tokens["expires_in"] == 60
        auth = {"Authorization": f"Bearer {tokens['access']}"}
        device = {
            "sn_number": "SN-1",
            "brand": "edgebox",
            "model": "box",
            "manufacturer": "edgebox",
            "os_version": "Linux",
            "screen_resolution": "1920x1080",
            "total_storage": "32GB",
            "free_storage": "20GB",
            "app_version": "0.1.0",
        }
        register = f"{cloud.base_url}/admin/cloud/device/register/"
        first = await http.post(register, json=device, headers=auth)
        assert (first.status_code, first.json()) == (201, {"data": {"sn_number": "SN-1"}})
        assert (await http.post(register, json=device, headers=auth)).status_code == 200
        await trio.sleep(61)
        assert (await http.post(register, json=device, headers=auth)).status_code == 401


async def test_playlists_have_the_document_shape(cloud: SimCloud) -> None:
    item = cloud.add_media("logo1.jpg", b"jpeg bytes")
    cloud.set_playlists("front", [cloud.playlist(101, "Morning Ads", [item])])
    cloud.devices["SN-1"] = {"sn_number": "SN-1"}
    async with httpx.AsyncClient() as http:
        auth = {"Authorization": f"Bearer {(await login(http, cloud))['access']}"}
        r = await http.get(
            f"{cloud.base_url}/admin/cloud/playlists", params={"sn_number": "SN-1"}, headers=auth
        )
    body = r.json()
    assert set(body) == {"sn_number", "front_screen", "back_screen", "right_screen", "left_screen"}
    assert body["back_screen"] is None
    front = body["front_screen"]
    assert front["current_playlist"] == 101
    media = front["playlists"][0]["media_items"][0]
    assert media["checksum"] == hashlib.md5(b"jpeg bytes").hexdigest()
    assert media["file_size"] == len(b"jpeg bytes")


async def test_media_serves_ranges_and_needs_the_bearer(cloud: SimCloud) -> None:
    data = bytes(range(256)) * 100
    item = cloud.add_media("clip.mp4", data)
    url = cloud.origin + item["media_url"]
    async with httpx.AsyncClient() as http:
        assert (await http.get(url)).status_code == 401
        auth = {"Authorization": f"Bearer {(await login(http, cloud))['access']}"}
        whole = await http.get(url, headers=auth)
        assert (whole.status_code, whole.content) == (200, data)
        part = await http.get(url, headers={**auth, "Range": "bytes=1000-"})
        assert part.status_code == 206
        assert part.headers["content-range"] == f"bytes 1000-{len(data) - 1}/{len(data)}"
        assert part.content == data[1000:]
        cloud.ignore_range = True
        ignored = await http.get(url, headers={**auth, "Range": "bytes=1000-"})
        assert (ignored.status_code, ignored.content) == (200, data)


async def test_truncated_media_body_is_an_incomplete_response(cloud: SimCloud) -> None:
    item = cloud.add_media("clip.mp4", b"x" * 200_000)
    cloud.truncate_at = 70_000
    async with httpx.AsyncClient() as http:
        auth = {"Authorization": f"Bearer {(await login(http, cloud))['access']}"}
        with pytest.raises(httpx.HTTPError):
            await http.get(cloud.origin + item["media_url"], headers=auth)
        assert cloud.truncate_at is None
        whole = await http.get(cloud.origin + item["media_url"], headers=auth)
        assert len(whole.content) == 200_000


async def test_websocket_round_trip_records_status_and_pushes_actions(cloud: SimCloud) -> None:
    async with httpx.AsyncClient() as http:
        token = (await login(http, cloud))["access"]
    with pytest.raises(trio_websocket.ConnectionRejected) as rejected:
        async with trio_websocket.open_websocket_url(f"{cloud.ws_url}?token=bad&sn_number=SN-1"):
            pass
    assert rejected.value.status_code == 401

    url = f"{cloud.ws_url}?token={token}&sn_number=SN-1"
    async with trio_websocket.open_websocket_url(url) as ws:
        await cloud.wait_connected()
        status = {"type": "playlist_status", "playlist_id": 101, "status": "ready"}
        await ws.send_message(json.dumps(status))
        assert await cloud.wait_received(1) == [status]
        assert await cloud.send_action({"action": "set_volume", "volume": 60}) == 1
        assert json.loads(await ws.get_message()) == {"action": "set_volume", "volume": 60}
    await cloud.wait_for(lambda: cloud.connected == 0)
    assert cloud.ws_sn_numbers == ["SN-1"]


async def test_drop_ws_after_messages_closes_the_socket(cloud: SimCloud) -> None:
    async with httpx.AsyncClient() as http:
        token = (await login(http, cloud))["access"]
    cloud.drop_ws_after_messages = 2
    async with trio_websocket.open_websocket_url(
        f"{cloud.ws_url}?token={token}&sn_number=SN-1"
    ) as ws:
        await ws.send_message(json.dumps({"type": "ready_playlists", "playlist_ids": [1]}))
        await ws.send_message(json.dumps({"type": "ready_playlists", "playlist_ids": [2]}))
        with pytest.raises(trio_websocket.ConnectionClosed):
            await ws.get_message()
    assert [m["playlist_ids"] for m in cloud.received] == [[1], [2]]


async def test_screenshot_upload_is_stored(cloud: SimCloud) -> None:
    async with httpx.AsyncClient() as http:
        auth = {"Authorization": f"Bearer {(await login(http, cloud))['access']}"}
        r = await http.post(
            f"{cloud.base_url}/screenshot",
            data={"device_id": "SN-1", "media_id": "1001"},
            files={"image_file": ("shot.jpg", b"\xff\xd8jpeg", "image/jpeg")},
            headers=auth,
        )
    assert r.json() == {"message": "Screenshot uploaded successfully"}
    shot = cloud.screenshots[0]
    assert (shot.device_id, shot.media_id, shot.data) == ("SN-1", "1001", b"\xff\xd8jpeg")


async def test_fail_status_for_a_few_calls_then_recovers(cloud: SimCloud) -> None:
    cloud.fail_status, cloud.fail_times = 502, 2
    async with httpx.AsyncClient() as http:
        codes = [
            (await http.post(f"{cloud.base_url}/auth/token/", json=CREDS)).status_code
            for _ in range(3)
        ]
    assert codes == [502, 502, 200]
