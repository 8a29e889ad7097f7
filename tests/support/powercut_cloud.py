"""Power cuts while the box syncs media and evicts it: the cloud side of the power-cut harness.

A SimCloud in the harness's process keeps the box busy: three playlists take turns as the
front screen's current one, a `reload_playlist` comes every few tenths of a second, and the
cache budget holds about two of them, so every sync downloads (slowly) and evicts. After each
cut, with the box down, every file at a final name in the media cache must have the MD5 the
cloud announced for it: a torn or partial file is never where a player would take it.
"""

from __future__ import annotations

import hashlib
import itertools
import random
from pathlib import Path

import attrs
import trio

from edgebox.sim.cloud import CloudURLs, SimCloud, serve
from tests.support.powercut import TOKEN, PowerCuts

VENUE = """venue = "powercut-cloud"
[cloud]
base_url = "{base}"
ws_url = "{ws}"
username = "box"
password = "s3cret-password"
sync_interval = 5
heartbeat_interval = 2
[device]
sn_number = "POWERCUT"
[cache]
directory = "{data}"
max_bytes = {budget}
min_free_bytes = 0
[lan]
host = "127.0.0.1"
port = {port}
admin_token = "{token}"
"""

FILE_BYTES = 150_000
FILES_PER_PLAYLIST = 4


@attrs.define
class ChurningCloud:
    """The cloud that keeps a box syncing and evicting for as long as `churn` runs."""

    rng: random.Random
    cloud: SimCloud = attrs.Factory(lambda: SimCloud(users={"box": "s3cret-password"}))
    playlists: list[dict] = attrs.Factory(list)
    reloads: int = 0
    cuts_mid_download: int = 0  # cuts after which a .part file was left

    async def start(self, nursery: trio.Nursery, cuts: PowerCuts) -> None:
        urls: CloudURLs = await nursery.start(serve, self.cloud)
        self.cloud.slow_bytes_per_s = 500_000
        for n in range(3):
            items = [
                self.cloud.add_media(f"p{n}-{i}.mp4", self.rng.randbytes(FILE_BYTES))
                for i in range(FILES_PER_PLAYLIST)
            ]
            self.playlists.append(self.cloud.playlist(101 + n, f"Rotation {n}", items))
        self.cloud.set_playlists("front", [self.playlists[0]])
        budget = int(FILE_BYTES * FILES_PER_PLAYLIST * 2.2)
        cuts.venue.write_text(
            VENUE.format(
                base=urls.base_url,
                ws=urls.ws_url,
                data=cuts.data,
                budget=budget,
                port=cuts.port,
                token=TOKEN,
            )
        )
        cuts.checks.append(self.media_problems)
        nursery.start_soon(self.churn)

    async def churn(self) -> None:
        for current in itertools.cycle(self.playlists):
            self.cloud.set_playlists("front", [current])
            if await self.cloud.send_action({"action": "reload_playlist"}):
                self.reloads += 1
            await trio.sleep(self.rng.uniform(0.1, 0.6))

    def media_problems(self, data: Path) -> list[str]:
        """Every file at a final name is whole: its MD5 is the one the cloud announced."""
        media = data / "media"
        found = []
        paths = sorted(media.iterdir()) if media.is_dir() else []
        self.cuts_mid_download += any(p.name.endswith(".part") for p in paths)
        for path in paths:
            if not path.is_file() or path.name.endswith(".part"):
                continue
            media_id = int(path.name.split("_", 1)[0])
            announced = self.cloud.media[media_id].md5
            if hashlib.md5(path.read_bytes()).hexdigest() != announced:
                found.append(f"media: {path.name} does not match its MD5 ({announced})")
        return found

    def files_in_cache(self, data: Path) -> int:
        media = data / "media"
        return sum(1 for p in media.iterdir() if not p.name.endswith(".part"))
