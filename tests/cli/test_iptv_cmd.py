"""`edgebox iptv import | devices` on a stopped box's store and through a running box."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import trio

from edgebox.cli import main as cli
from edgebox.runtime import wiring
from tests.local.test_iptv_api import PLAYLIST

VENUE = """venue = "cli"
[cloud]
base_url = "http://127.0.0.1:9/api/v1"
ws_url = "ws://127.0.0.1:9/ws/cloud/tb_device/"
username = "box"
password = "pw"
enabled = false
[device]
sn_number = "SN-CLI"
[cache]
directory = "{data}"
[lan]
host = "127.0.0.1"
port = {port}
admin_token = "cli-token"
"""


def venue_file(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "venue.toml"
    path.write_text(VENUE.format(data=tmp_path / "data", port=port))
    return path


def test_import_and_devices_work_on_the_store_of_a_stopped_box(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    venue = venue_file(tmp_path, 9)
    playlist = tmp_path / "list.m3u"
    playlist.write_text(PLAYLIST)
    assert cli.main(["iptv", "--config", str(venue), "import", str(playlist), "--type", "FTA"]) == 0
    out = capsys.readouterr().out
    assert "2 added, 0 updated, 0 unchanged, 4 skipped" in out
    assert "same name as line 4" in out
    assert cli.main(["iptv", "--config", str(venue), "devices"]) == 0
    assert "0 device(s)" in capsys.readouterr().out


async def test_import_goes_through_a_running_box(tmp_path: Path) -> None:
    from edgebox.core import config

    cfg = config.load(venue_file(tmp_path, 0))
    box = await wiring.open_box(cfg)
    async with trio.open_nursery() as nursery:
        await nursery.start(wiring.run, box)
        port = int(box.lan_urls[0].rsplit(":", 1)[1])
        venue = venue_file(tmp_path, port)
        playlist = tmp_path / "list.m3u"
        playlist.write_text(PLAYLIST)
        args = ["iptv", "--config", str(venue), "import", str(playlist), "--type", "Local"]
        assert await trio.to_thread.run_sync(cli.main, args) == 0
        assert [c.type for c in box.iptv.channels] == ["Local", "Local"]
        async with httpx.AsyncClient(base_url=box.lan_urls[0]) as client:
            listed = await client.get(
                "/api/admin/iptv/channels", headers={"Authorization": "Bearer cli-token"}
            )
        assert len(listed.json()) == 2
        nursery.cancel_scope.cancel()
