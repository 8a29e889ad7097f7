"""`edgebox sync`: through a running box, and on the cache of a stopped one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import trio

from edgebox.cache.media import MediaCache
from edgebox.cache.store import Store
from edgebox.cli import main as cli
from edgebox.core import config
from edgebox.runtime import wiring
from edgebox.sim.cloud import SimCloud
from tests.support.net import free_port

VENUE = """venue = "cli"
[cloud]
base_url = "{base}"
ws_url = "{ws}"
username = "box"
password = "s3cret-password"
[device]
sn_number = "SN-CLI"
[cache]
directory = "{data}"
[lan]
host = "127.0.0.1"
port = {port}
admin_token = "cli-token"
"""


def venue_file(tmp_path: Path, cloud: SimCloud, port: int) -> Path:
    path = tmp_path / "venue.toml"
    path.write_text(
        VENUE.format(base=cloud.base_url, ws=cloud.ws_url, data=tmp_path / "data", port=port)
    )
    return path


def playlist(cloud: SimCloud, playlist_id: int, names: list[str], screen: str) -> None:
    items = [cloud.add_media(n, n.encode() * 5000) for n in names]
    cloud.set_playlists(screen, [cloud.playlist(playlist_id, f"List {playlist_id}", items)])


async def test_sync_through_a_running_box_shows_a_bar_per_file_and_the_outcome(
    cloud: SimCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    playlist(cloud, 101, ["a.png"], "front")
    box = await wiring.open_box(config.load(venue_file(tmp_path, cloud, 0)))
    async with trio.open_nursery() as nursery:
        await nursery.start(wiring.run, box)
        port = int(box.lan_urls[0].rsplit(":", 1)[1])
        venue = venue_file(tmp_path, cloud, port)
        with trio.fail_after(10):
            while box.sync is None or box.sync.syncs == 0:
                await trio.sleep(0.02)
        playlist(cloud, 201, ["lobby-loop.png", "menu.png"], "back")
        capsys.readouterr()
        assert await trio.to_thread.run_sync(cli.main, ["sync", "--config", str(venue)]) == 0
        nursery.cancel_scope.cancel()
    err = capsys.readouterr().err
    assert "lobby-loop.png" in err and "menu.png" in err
    assert "playlist 201 'List 201': ready 2/2" in err
    assert box.hub.playback["back"].playlist_id == 201


async def test_sync_of_a_stopped_box_fills_its_cache_and_keeps_the_reports_for_later(
    cloud: SimCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    playlist(cloud, 101, ["a.png", "b.png"], "front")
    venue = venue_file(tmp_path, cloud, free_port())
    args = ["sync", "--config", str(venue), "--json"]
    assert await trio.to_thread.run_sync(cli.main, args) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sorted(e["name"] for e in events if e["kind"] == "file_done") == ["a.png", "b.png"]
    assert events[-1]["kind"] == "finished" and events[-1]["ok"]

    cfg = config.load(venue)
    store = await Store.open(cfg.cache.directory / "state")
    try:
        media = await MediaCache.open(cfg.cache, store)
        assert media.used_bytes() == 2 * 5 * 5000
        queued = []
        while (found := await store.outbox_peek()) is not None:
            queued.append(found[1])
            await store.outbox_ack(found[0])
        assert queued[-1] == {"type": "ready_playlists", "playlist_ids": [101]}
        assert cloud.connected == 0
    finally:
        store.close_sync()


async def test_sync_with_the_cloud_down_says_so_and_exits_1(
    cloud: SimCloud, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cloud.down = True
    venue = venue_file(tmp_path, cloud, free_port())
    assert await trio.to_thread.run_sync(cli.main, ["sync", "--config", str(venue)]) == 1
    assert "sync failed:" in capsys.readouterr().err
