"""The cloud client and control socket against the simulated cloud on loopback."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from edgebox.cache.store import Store
from edgebox.core import config
from edgebox.core.backoff import Backoff
from edgebox.core.errors import AuthError, UpstreamError
from edgebox.hub import Hub
from edgebox.sim.cloud import SimCloud
from edgebox.upstream.client import CloudClient
from edgebox.upstream.commands import hub_commands
from edgebox.upstream.control import ControlChannel, Outbox
from edgebox.upstream.protocol import DeviceFacts
from tests.conftest import base_venue


def cloud_config(cloud: SimCloud, tmp_path: Path) -> config.CloudConfig:
    venue = base_venue(
        tmp_path / "data",
        cloud={"base_url": cloud.base_url, "ws_url": cloud.ws_url, "enabled": True},
    )
    return config.parse(venue).cloud


@pytest.fixture
async def client(cloud: SimCloud, store: Store, tmp_path: Path) -> AsyncIterator[CloudClient]:
    cfg = cloud_config(cloud, tmp_path)
    async with CloudClient.make_http(cfg) as http:
        yield CloudClient(cfg, "SN-TEST-1", store, http, now=trio.current_time)


FACTS = DeviceFacts(
    "SN-TEST-1",
    "edgebox",
    "edgebox-1",
    "edgebox",
    "Debian",
    "64x32",
    "32GB",
    "20GB",
    "0.1.0",
    50,
    50,
)


async def test_login_register_and_playlists_follow_the_startup_flow(
    cloud: SimCloud, client: CloudClient
) -> None:
    item = cloud.add_media("logo1.jpg", b"jpeg bytes")
    cloud.set_playlists("front", [cloud.playlist(101, "Morning", [item])])
    await client.register(FACTS)
    screens = await client.fetch_screens()
    assert screens.screens["front"].playlists[0].media_ids == [item["media_id"]]
    assert cloud.devices["SN-TEST-1"]["total_storage"] == "32GB"
    assert [r.path.removeprefix("/api/v1") for r in cloud.requests if r.kind == "http"] == [
        "/auth/token/",
        "/admin/cloud/device/register/",
        "/admin/cloud/playlists",
    ]
    assert client.logins == 1


async def test_tokens_persist_in_a_private_store_so_a_restart_does_not_log_in_again(
    cloud: SimCloud, client: CloudClient, store: Store, tmp_path: Path
) -> None:
    await client.register(FACTS)
    again = CloudClient(client.config, "SN-TEST-1", store, client.http, now=trio.current_time)
    await again.fetch_screens()
    assert again.logins == 0
    for name in os.listdir(tmp_path / "state"):
        mode = stat.S_IMODE(os.stat(tmp_path / "state" / name).st_mode)
        assert mode & 0o077 == 0, (name, oct(mode))
    assert client.config.password.reveal() not in repr(client.config)


async def test_the_token_is_refreshed_five_minutes_ahead_of_expiry(
    autojump_clock: trio.testing.MockClock, cloud: SimCloud, client: CloudClient
) -> None:
    first = await client.access_token()
    await trio.sleep(3600 - 301)
    assert await client.access_token() == first
    await trio.sleep(2)
    assert await client.access_token() != first
    assert (client.logins, client.refreshes) == (1, 1)


async def test_an_expired_access_token_and_a_refused_refresh_both_recover(
    cloud: SimCloud, client: CloudClient
) -> None:
    await client.register(FACTS)
    await client.fetch_screens()
    cloud.expire_tokens("access")
    await client.fetch_screens()
    assert (client.logins, client.refreshes) == (1, 1)
    cloud.expire_tokens()
    await client.fetch_screens()
    assert (client.logins, client.refreshes) == (2, 1)


async def test_a_401_storm_is_an_auth_error_after_one_retry(
    cloud: SimCloud, client: CloudClient
) -> None:
    await client.access_token()
    cloud.unauthorized = True
    before = len(cloud.requests)
    with pytest.raises(AuthError):
        await client.fetch_screens()
    paths = [r.path for r in cloud.requests[before:]]
    assert paths.count("/api/v1/admin/cloud/playlists") == 2


async def test_cloud_errors_and_a_dead_cloud_are_upstream_errors(
    cloud: SimCloud, client: CloudClient
) -> None:
    await client.register(FACTS)
    cloud.fail_status = 502
    with pytest.raises(UpstreamError, match="502"):
        await client.fetch_screens()
    cloud.fail_status = None
    cloud.down = True
    with pytest.raises(UpstreamError):
        await client.fetch_screens()


async def test_the_bearer_token_goes_only_to_the_cloud_origin(client: CloudClient) -> None:
    own = client.media_url("/media/images/1/logo.jpg")
    assert own.startswith(client.base_url.split("/api/")[0])
    assert "Authorization" in await client.media_headers(own)
    assert await client.media_headers("http://127.0.0.2:9/media/x.jpg") == {}
    assert await client.media_headers(own.replace("http://", "https://")) == {}
    with pytest.raises(UpstreamError):
        client.media_url("file:///etc/passwd")


# The control socket


@pytest.fixture
async def channel(client: CloudClient, store: Store, hub: Hub) -> ControlChannel:
    outbox = Outbox(store)
    await outbox.open()
    playlist_actions: list[object] = []

    async def on_playlist(action: object) -> None:
        playlist_actions.append(action)

    ch = ControlChannel(
        client,
        outbox,
        hub_commands(hub, on_playlist),
        heartbeat=5,
        backoff=Backoff(initial=0.05, cap=0.2, jitter=0),
    )
    ch.playlist_actions = playlist_actions  # type: ignore[attr-defined]
    return ch


async def test_every_control_action_reaches_the_hub_and_bad_ones_change_nothing(
    cloud: SimCloud, channel: ControlChannel, hub: Hub, nursery: trio.Nursery
) -> None:
    await hub.set_playlist("front", 101, [1, 2, 3])
    nursery.start_soon(channel.run)
    await cloud.wait_connected()
    with hub.subscribe() as changes:
        for bad in (
            '{"action": "set_brightness", "brightness": 300}',
            '{"action": "reboot"}',
            "garbage",
            '{"action": "set_volume", "volume": "loud"}',
        ):
            await cloud.send_action(bad)  # type: ignore[arg-type]
        for action in (
            {"action": "set_brightness", "brightness": 75},
            {"action": "set_volume", "volume": 60},
            {"action": "pause"},
            {"action": "next"},
            {"action": "play"},
            {"action": "play_media", "media_id": 3},
            {"action": "previous"},
            {"action": "show_text_overlay", "text_overlay": {"text": "Hello"}},
            {"action": "hide_text_overlay"},
            {"action": "switch_playlist", "playlist_id": 102},
            {"action": "reload_playlist"},
        ):
            await cloud.send_action(action)
        seen = [(await changes.get()).topic for _ in range(9)]
    assert seen == ["brightness", "volume", *["playback"] * 5, "overlay", "overlay"]
    assert (hub.brightness, hub.volume, hub.overlay) == (75, 60, None)
    assert hub.playback["front"].index == 1 and hub.playback["front"].playing
    with trio.fail_after(5):
        while len(channel.playlist_actions) < 2:  # type: ignore[attr-defined]
            await trio.sleep(0.01)
    assert channel.ignored == 4
    assert channel.connections == 1


async def test_a_socket_dropped_twenty_times_delivers_every_status_once_in_order(
    cloud: SimCloud, channel: ControlChannel, nursery: trio.Nursery
) -> None:
    cloud.drop_ws_after_messages = 3
    nursery.start_soon(channel.run)
    for n in range(60):
        await channel.outbox.put({"type": "playlist_status", "playlist_id": n, "status": "ready"})
    with trio.fail_after(30):
        await cloud.wait_for(
            lambda: len([m for m in cloud.received if m.get("type") == "playlist_status"]) >= 60
        )
    ids = [m["playlist_id"] for m in cloud.received if m.get("type") == "playlist_status"]
    assert ids == list(range(60))
    assert channel.connections >= 20
    with trio.fail_after(5):
        while channel.outbox.length:
            await trio.sleep(0.01)
    assert await channel.outbox.store.outbox_len() == 0


async def test_messages_queued_while_the_cloud_is_down_survive_a_restart_and_go_out_in_order(
    cloud: SimCloud, client: CloudClient, store: Store
) -> None:
    outbox = Outbox(store)
    await outbox.open()
    for n in range(5):
        await outbox.put({"type": "ready_playlists", "playlist_ids": [n]})
    reopened = Outbox(store)
    await reopened.open()
    assert reopened.length == 5

    async def ignore(_action: object) -> None:
        pass

    ch = ControlChannel(client, reopened, ignore, backoff=Backoff(initial=0.05, cap=0.1))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ch.run)
        with trio.fail_after(10):
            await cloud.wait_received(5)
        nursery.cancel_scope.cancel()
    assert [m["playlist_ids"] for m in cloud.received] == [[n] for n in range(5)]


async def test_reconnects_forever_with_backoff_capped_at_sixty_seconds(
    autojump_clock: trio.testing.MockClock, cloud: SimCloud, client: CloudClient, store: Store
) -> None:
    await client.access_token()
    cloud.down = True
    delays: list[float] = []

    class Recorded(Backoff):
        def next_delay(self) -> float:
            delays.append(super().next_delay())
            return delays[-1]

    backoff = Recorded(initial=1, cap=60, jitter=0.5)

    async def ignore(_action: object) -> None:
        pass

    ch = ControlChannel(client, Outbox(store), ignore, backoff=backoff)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ch.run)
        await trio.sleep(1800)
        assert ch.connections == 0
        cloud.down = False
        await cloud.wait_connected()
        nursery.cancel_scope.cancel()
    assert len(delays) >= 20
    assert max(delays) <= 60 and delays[-1] >= 30
