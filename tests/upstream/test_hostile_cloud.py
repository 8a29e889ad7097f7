"""A hostile or broken cloud: odd names, foreign URLs, absurd sizes, bad checksums, huge JSON.

Nothing crashes, nothing lands outside the cache directory, the token stays home, and every
problem is reported against the playlist it belongs to.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import trio
from quart import Response, request
from quart_trio import QuartTrio

from edgebox.sim.cloud import SimCloud
from tests.support.parts import Parts, statuses


def item(cloud: SimCloud, name: str, data: bytes, **overrides: Any) -> dict[str, Any]:
    made = cloud.add_media("plain.png", data)
    return {**made, "media_name": name, **overrides}


def files_under(root: Path) -> set[Path]:
    return {Path(d) / f for d, _, names in os.walk(root) for f in names}


async def test_hostile_names_sizes_and_checksums_end_up_reported_not_written_elsewhere(
    cloud: SimCloud, parts: Parts, tmp_path: Path
) -> None:
    before = files_under(tmp_path) - files_under(tmp_path / "data")
    items = [
        item(cloud, "../../escape.png", b"a" * 1000),
        item(cloud, "/etc/passwd", b"b" * 1000),
        item(cloud, "a\0b.png", b"c" * 1000),
        item(cloud, "huge.mp4", b"d" * 1000, file_size=10**15),
        item(cloud, "short-sum.png", b"e" * 1000, checksum="abc123"),
    ]
    cloud.set_playlists("front", [cloud.playlist(101, "Hostile", items)])
    assert await parts.sync.sync_once()
    final = [m for m in await parts.sent() if m.get("status") == "partial"]
    assert len(final) == 1
    assert final[0]["total_items"] == 5 and final[0]["downloaded_items"] == 3
    assert set(final[0]["missing_files"]) == {"huge.mp4", "short-sum.png"}
    state = parts.sync.playlists[101]
    assert "max_file_bytes" in (state.error or "")

    media_dir = parts.media.directory
    landed = sorted(p.name for p in media_dir.iterdir() if p.is_file())
    assert len(landed) == 3 and all("/" not in n and "\0" not in n for n in landed)
    assert not (tmp_path / "escape.png").exists() and not (tmp_path.parent / "escape.png").exists()
    assert files_under(tmp_path) - files_under(tmp_path / "data") == before
    assert len(parts.hub.playback["front"].media_ids) == 3


async def test_a_media_url_on_another_host_is_fetched_without_the_token(
    cloud: SimCloud, parts: Parts, nursery: trio.Nursery
) -> None:
    seen: list[dict[str, str]] = []
    body = b"elsewhere" * 500
    other = QuartTrio("elsewhere")

    @other.get("/files/<name>")
    async def file(name: str) -> Response:
        seen.append({k.lower(): v for k, v in request.headers.items()})
        return Response(body, content_type="image/png")

    from hypercorn.config import Config
    from hypercorn.trio import serve as hypercorn_serve

    config = Config()
    config.bind = ["127.0.0.1:0"]
    config.accesslog = None
    binds: list[str] = await nursery.start(hypercorn_serve, other, config)
    foreign = f"{binds[0]}/files/x.png"
    entry = item(
        cloud,
        "x.png",
        b"unused",
        media_url=foreign,
        file_size=len(body),
        checksum=hashlib.md5(body).hexdigest(),
    )
    cloud.set_playlists("front", [cloud.playlist(101, "Foreign", [entry])])
    assert await parts.sync.sync_once()
    assert statuses(await parts.sent(), 101)[-1] == ("ready", 1)
    assert len(seen) == 1 and "authorization" not in seen[0]
    assert all(r.authorization for r in cloud.requests_to("/api/v1/admin"))


async def test_huge_or_deeply_nested_playlists_json_keeps_the_last_good_snapshot(
    cloud: SimCloud, parts: Parts
) -> None:
    cloud.set_playlists("front", [cloud.playlist(101, "Good", [item(cloud, "a.png", b"a" * 99)])])
    assert await parts.sync.sync_once()
    for body in (
        b'{"front_screen": "' + b"x" * (50 * 1024 * 1024) + b'"}',
        b"[" * 100_000 + b"]" * 100_000,
        json.dumps({"front_screen": {"playlists": [{"id": "not a number"}]}}).encode(),
        b"\xff\xfe not json",
    ):
        cloud.playlists_body = body
        assert not await parts.sync.sync_once()
        assert parts.sync.last_error
        assert parts.sync.screens is not None and parts.sync.screens.find(101) is not None
        assert parts.hub.playback["front"].playlist_id == 101
    cloud.playlists_body = None
    assert await parts.sync.sync_once()
