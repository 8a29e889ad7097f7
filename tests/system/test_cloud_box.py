"""The whole gateway against the simulated cloud: the document's startup flow, control, restart."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import trio

from edgebox.core import config
from edgebox.runtime import wiring
from edgebox.sim.cloud import SimCloud
from tests.conftest import ADMIN_TOKEN
from tests.runtime.test_health import _samples


def cloud_venue(cloud: SimCloud, make_config: Callable[..., config.VenueConfig]) -> Any:
    return make_config(
        cloud={
            "base_url": cloud.base_url,
            "ws_url": cloud.ws_url,
            "enabled": True,
            "heartbeat_interval": 5,
        }
    )


def slides(cloud: SimCloud, count: int) -> list[dict[str, Any]]:
    return [cloud.add_media(f"slide{i}.png", bytes([i]) * 30_000) for i in range(count)]


READY_101 = {"type": "ready_playlists", "playlist_ids": [101]}


async def test_a_box_follows_the_documents_startup_flow_and_obeys_the_control_socket(
    cloud: SimCloud, make_config: Callable[..., config.VenueConfig], nursery: trio.Nursery
) -> None:
    items = slides(cloud, 3)
    cloud.set_playlists("front", [cloud.playlist(101, "Morning", items)])
    box = await wiring.open_box(cloud_venue(cloud, make_config))
    await nursery.start(wiring.run, box)
    with trio.fail_after(15):
        await cloud.wait_for(lambda: READY_101 in cloud.received)
        await cloud.wait_connected()

    http = [r.path.removeprefix("/api/v1") for r in cloud.requests if r.kind == "http"]
    assert http[:3] == ["/auth/token/", "/admin/cloud/device/register/", "/admin/cloud/playlists"]
    assert sorted(http[3:]) == sorted(
        f"/media/images/{i['media_id']}/{i['media_name']}" for i in items
    )
    first_ws = next(i for i, r in enumerate(cloud.requests) if r.kind == "ws")
    assert first_ws > 2
    registered = cloud.devices["SN-TEST-1"]
    assert registered["app_version"] and registered["total_storage"].endswith("B")
    assert registered["ip_address"] == "127.0.0.1"
    assert [m["status"] for m in cloud.received if m["type"] == "playlist_status"][-1] == "ready"
    assert box.hub.playback["front"].playlist_id == 101

    await cloud.send_action({"action": "pause"})
    await cloud.send_action({"action": "set_brightness", "brightness": 30})
    with trio.fail_after(5):
        while box.hub.brightness != 30:
            await trio.sleep(0.02)
    assert not box.hub.playback["front"].playing

    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=box.lan_urls[0]) as lan:
        assert (await lan.get("/readyz")).json() == {"ready": True, "not_ready": []}
        summary = (await lan.get("/api/status", headers=auth)).json()
        metrics = _samples((await lan.get("/metrics")).text)
    assert summary["cloud"]["control_socket"] == "connected"
    assert summary["cloud"]["registered"] is True
    assert [(p["playlist_id"], p["status"]) for p in summary["playlists"]] == [(101, "ready")]
    assert summary["cache"]["used_bytes"] == 3 * 30_000
    assert metrics[("edgebox_sync_bytes_total", ())] == 3 * 30_000
    assert metrics[("edgebox_cache_bytes", ())] == 3 * 30_000
    assert metrics[("edgebox_ws_reconnects_total", ())] >= 1
    assert metrics[("edgebox_sync_duration_seconds_count", ())] >= 1
    assert ("edgebox_outbox_length", ()) in metrics


async def test_with_the_cloud_down_from_the_start_a_restarted_box_plays_its_snapshot(
    cloud: SimCloud, make_config: Callable[..., config.VenueConfig]
) -> None:
    cloud.set_playlists("front", [cloud.playlist(101, "Morning", slides(cloud, 2))])
    cfg = cloud_venue(cloud, make_config)
    async with trio.open_nursery() as first_run:
        box = await wiring.open_box(cfg)
        await first_run.start(wiring.run, box)
        with trio.fail_after(15):
            await cloud.wait_for(lambda: READY_101 in cloud.received)
        first_run.cancel_scope.cancel()
    box.store.close_sync()

    cloud.down = True
    async with trio.open_nursery() as second_run:
        box = await wiring.open_box(cfg)
        await second_run.start(wiring.run, box)
        async with httpx.AsyncClient(base_url=box.lan_urls[0]) as lan:
            with trio.fail_after(10):
                while not (await lan.get("/readyz")).json()["ready"]:
                    await trio.sleep(0.05)
        assert box.hub.playback["front"].playlist_id == 101
        assert len(box.hub.playback["front"].media_ids) == 2
        assert box.sync is not None
        assert box.sync.screens is not None and box.sync.screens.find(101) is not None
        with trio.fail_after(10):
            while box.sync.last_error is None:
                await trio.sleep(0.05)
        assert box.hub.playback["front"].playlist_id == 101
        second_run.cancel_scope.cancel()
    box.store.close_sync()


async def test_a_box_with_an_unreachable_cloud_and_no_snapshot_is_not_ready(
    cloud: SimCloud, make_config: Callable[..., config.VenueConfig], nursery: trio.Nursery
) -> None:
    cloud.down = True
    box = await wiring.open_box(cloud_venue(cloud, make_config))
    await nursery.start(wiring.run, box)
    async with httpx.AsyncClient(base_url=box.lan_urls[0]) as lan:
        with trio.fail_after(10):
            while box.sync is None or box.sync.last_error is None:
                await trio.sleep(0.05)
        answer = await lan.get("/readyz")
        assert answer.status_code == 503
        assert any(reason.startswith("cloud:") for reason in answer.json()["not_ready"])
        assert (await lan.get("/api/playlist/items")).status_code == 200


async def test_the_sync_route_streams_progress_per_file_until_the_sync_finishes(
    cloud: SimCloud, make_config: Callable[..., config.VenueConfig], nursery: trio.Nursery
) -> None:
    cloud.set_playlists("front", [cloud.playlist(101, "Morning", slides(cloud, 1))])
    box = await wiring.open_box(cloud_venue(cloud, make_config))
    await nursery.start(wiring.run, box)
    with trio.fail_after(15):
        await cloud.wait_for(lambda: READY_101 in cloud.received)
    cloud.set_playlists("back", [cloud.playlist(201, "Back", slides(cloud, 2))])
    events = []
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=box.lan_urls[0], timeout=20) as lan:
        assert (await lan.post("/api/sync")).status_code == 401
        async with lan.stream("POST", "/api/sync", headers=auth) as answer:
            assert answer.headers["content-type"].startswith("application/x-ndjson")
            async for line in answer.aiter_lines():
                events.append(json.loads(line))
    done = [e["media_id"] for e in events if e["kind"] == "file_done"]
    assert len(done) == 2
    assert events[-1]["kind"] == "finished" and events[-1]["ok"]
    assert {p["playlist_id"]: p["status"] for p in events[-1]["playlists"]} == {
        101: "ready",
        201: "ready",
    }
