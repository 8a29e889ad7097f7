"""Disk full: the media cache lives on a 3 MB tmpfs that fills up during a sync.

The tmpfs is mounted in a private mount namespace (`unshare -rm`), so the test needs no root and
leaves nothing mounted; the box's side runs in that child process and reports what it saw.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import trio

from edgebox.sim.cloud import SimCloud, serve
from tests.support.parts import Parts, statuses

MB = 1024 * 1024


async def child(root: str) -> dict[str, Any]:
    """Runs inside the namespace with the cache directory on the small file system."""
    tmp = Path(root)
    report: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        cloud = SimCloud(users={"box": "s3cret-password"})
        await nursery.start(serve, cloud)
        parts = Parts(cloud, tmp, min_free_bytes=300_000)
        sync = await parts.open()
        small = [cloud.add_media(f"small{i}.png", bytes([i]) * 200_000) for i in range(2)]
        cloud.set_playlists("front", [cloud.playlist(101, "Small", small)])
        assert await sync.sync_once()
        report["front_before"] = list(parts.hub.playback["front"].media_ids)

        big = [cloud.add_media(f"big{i}.mp4", bytes([50 + i]) * MB) for i in range(4)]
        cloud.set_playlists("back", [cloud.playlist(201, "Big", big)])
        await parts.sent()
        report["full_sync_ok"] = await sync.sync_once()
        sent = await parts.sent()
        report["big_status"] = statuses(sent, 201)[-1]
        report["big_final"] = next(
            m
            for m in reversed(sent)
            if m.get("playlist_id") == 201 and m["status"] != "downloading"
        )
        report["big_error"] = sync.playlists[201].error
        report["front_during"] = list(parts.hub.playback["front"].media_ids)
        front_items = sync.screens.screens["front"].playlists[0].media_items
        report["front_files_ok"] = [await parts.media.verified(i) is not None for i in front_items]
        report["big_served"] = sum(
            parts.media.locate(i) is not None
            for i in sync.screens.screens["back"].playlists[0].media_items
        )

        subprocess.run(["mount", "-o", "remount,size=16m", str(tmp / "data")], check=True)
        await parts.sent()
        report["after_sync_ok"] = await sync.sync_once()
        report["big_after"] = statuses(await parts.sent(), 201)[-1]
        report["back_after"] = len(parts.hub.playback["back"].media_ids)
        await parts.close()
        nursery.cancel_scope.cancel()
    return report


def about_space(error: str | None) -> bool:
    return any(word in (error or "").lower() for word in ("space", "full", "free"))


def test_a_full_disk_makes_the_playlist_partial_keeps_what_plays_and_recovers(
    tmp_path: Path,
) -> None:
    unshare = shutil.which("unshare")
    assert unshare, "util-linux's unshare is needed for the private tmpfs"
    data = tmp_path / "data"
    data.mkdir()
    script = (
        "import json, subprocess, sys, trio\n"
        "from tests.cache.test_disk_full import child\n"
        f"subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', {str(data)!r}],"
        " check=True)\n"
        f"print(json.dumps(trio.run(child, {str(tmp_path)!r})))\n"
    )
    done = subprocess.run(
        [unshare, "-rm", sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])

    assert len(report["front_before"]) == 2
    assert report["full_sync_ok"] is True
    status, downloaded = report["big_status"]
    assert status in ("partial", "failed") and downloaded < 4
    final = report["big_final"]
    if status == "failed":
        assert about_space(final["error"])
    else:
        assert len(final["missing_files"]) == 4 - downloaded
    assert about_space(report["big_error"])
    assert report["front_during"] == report["front_before"]
    assert report["front_files_ok"] == [True, True]
    assert report["big_served"] == downloaded, report
    assert report["after_sync_ok"] is True
    assert report["big_after"] == ["ready", 4]
    assert report["back_after"] == 4
