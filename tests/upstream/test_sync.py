"""The playlist sync against the simulated cloud: cache, status reports, snapshot and playback."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from edgebox.sim.cloud import SimCloud
from edgebox.upstream import protocol
from tests.support.parts import Parts, statuses


def add_files(cloud: SimCloud, count: int, size: int = 20_000, first: int = 0) -> list[dict]:
    return [
        cloud.add_media(f"slide{first + i}.png", bytes([first + i]) * size) for i in range(count)
    ]


async def test_a_playlist_downloads_reports_each_item_and_then_plays(
    cloud: SimCloud, parts: Parts
) -> None:
    items = add_files(cloud, 3)
    cloud.set_playlists("front", [cloud.playlist(101, "Morning", items)])
    assert await parts.sync.sync_once()
    sent = await parts.sent()
    assert statuses(sent, 101) == [
        ("downloading", 0),
        ("downloading", 1),
        ("downloading", 2),
        ("downloading", 3),
        ("ready", 3),
    ]
    assert sent[-1] == {"type": "ready_playlists", "playlist_ids": [101]}
    playback = parts.hub.playback["front"]
    assert playback.playlist_id == 101
    assert list(playback.media_ids) == [i["media_id"] for i in items]
    for item in parts.sync.screens.screens["front"].playlists[0].media_items:
        path = parts.media.locate(item)
        assert path is not None
        assert hashlib.md5(path.read_bytes()).hexdigest() == item.checksum


async def test_an_unchanged_second_sync_moves_no_bytes_and_tells_the_cloud_nothing(
    cloud: SimCloud, parts: Parts
) -> None:
    cloud.set_playlists("front", [cloud.playlist(101, "Morning", add_files(cloud, 5))])
    await parts.sync.sync_once()
    await parts.sent()
    before = cloud.media_bytes_sent
    assert await parts.sync.sync_once()
    assert cloud.media_bytes_sent == before
    assert await parts.sent() == []


async def test_a_wrong_checksum_makes_the_playlist_partial_and_it_plays_the_rest(
    cloud: SimCloud, parts: Parts
) -> None:
    items = add_files(cloud, 3)
    cloud.wrong_checksum.add(items[1]["media_id"])
    cloud.set_playlists("front", [cloud.playlist(101, "Morning", items)])
    await parts.sync.sync_once()
    sent = await parts.sent()
    final = [m for m in sent if m.get("status") == "partial"]
    assert final == [
        {
            "type": "playlist_status",
            "playlist_id": 101,
            "status": "partial",
            "total_items": 3,
            "downloaded_items": 2,
            "missing_files": ["slide1.png"],
        }
    ]
    assert list(parts.hub.playback["front"].media_ids) == [
        items[0]["media_id"],
        items[2]["media_id"],
    ]
    assert sent[-1] == {"type": "ready_playlists", "playlist_ids": []}
    cloud.wrong_checksum.clear()
    await parts.sync.sync_once()
    assert statuses(await parts.sent(), 101)[-1] == ("ready", 3)
    assert len(parts.hub.playback["front"].media_ids) == 3


async def test_a_playlist_with_nothing_downloadable_fails_and_the_screen_keeps_its_playlist(
    cloud: SimCloud, parts: Parts
) -> None:
    good = add_files(cloud, 2)
    cloud.set_playlists("front", [cloud.playlist(101, "Morning", good)])
    await parts.sync.sync_once()
    bad = add_files(cloud, 2, first=10)
    cloud.wrong_checksum.update(i["media_id"] for i in bad)
    cloud.set_playlists(
        "front",
        [cloud.playlist(101, "Morning", good), cloud.playlist(102, "Evening", bad)],
        current=102,
    )
    await parts.sent()
    await parts.sync.sync_once()
    failed = [m for m in await parts.sent() if m.get("status") == "failed"]
    assert [(m["playlist_id"], m["downloaded_items"]) for m in failed] == [(102, 0)]
    assert "checksum" in failed[0]["error"].lower() or "md5" in failed[0]["error"].lower()
    assert parts.hub.playback["front"].playlist_id == 101


async def test_with_the_cloud_down_from_the_start_the_box_plays_its_persisted_snapshot(
    cloud: SimCloud, parts: Parts
) -> None:
    items = add_files(cloud, 2)
    cloud.set_playlists("front", [cloud.playlist(101, "Morning", items)])
    await parts.sync.sync_once()
    await parts.close()
    cloud.down = True

    sync = await parts.open()
    await sync.start()
    assert not await sync.sync_once()
    assert sync.screens is not None and sync.screens.find(101) is not None
    assert parts.hub.playback["front"].playlist_id == 101
    assert len(parts.hub.playback["front"].media_ids) == 2
    sent = await parts.sent()
    assert {"type": "ready_playlists", "playlist_ids": [101]} in sent
    assert "down" in (sync.last_error or "") or sync.last_error


async def test_switch_playlist_downloads_first_then_switches_and_a_later_sync_keeps_it(
    cloud: SimCloud, parts: Parts
) -> None:
    morning, evening = add_files(cloud, 2), add_files(cloud, 2, first=10)
    cloud.set_playlists(
        "front",
        [cloud.playlist(101, "Morning", morning), cloud.playlist(102, "Evening", evening)],
    )
    await parts.sync.sync_once()
    assert parts.hub.playback["front"].playlist_id == 101
    await parts.sent()
    cloud.slow_bytes_per_s = 200_000
    seen: list[int | None] = []

    async def watch() -> None:
        with parts.hub.subscribe({"playback"}) as changes:
            async for change in changes:
                seen.append(change.value[1].playlist_id)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch)
        await parts.sync.switch(102)
        nursery.cancel_scope.cancel()
    assert parts.hub.playback["front"].playlist_id == 102
    assert seen == [102]
    sent = await parts.sent()
    assert sent[-1] == {"type": "ready_playlists", "playlist_ids": [101, 102]}
    await parts.sync.sync_once()
    assert parts.hub.playback["front"].playlist_id == 102


async def test_the_screen_follows_the_clouds_current_playlist_when_it_changes(
    cloud: SimCloud, parts: Parts
) -> None:
    lists = [
        cloud.playlist(101, "Morning", add_files(cloud, 1)),
        cloud.playlist(102, "Evening", add_files(cloud, 1, first=10)),
    ]
    cloud.set_playlists("front", lists, current=101)
    await parts.sync.sync_once()
    cloud.set_playlists("front", lists, current=102)
    await parts.sync.sync_once()
    assert parts.hub.playback["front"].playlist_id == 102
    cloud.set_playlists("front", None)
    await parts.sync.sync_once()
    assert parts.hub.playback["front"].playlist_id is None


async def test_cleanup_old_playlists_removes_other_media_but_never_what_plays(
    cloud: SimCloud, parts: Parts
) -> None:
    a, b, c = add_files(cloud, 1), add_files(cloud, 1, first=10), add_files(cloud, 1, first=20)
    cloud.set_playlists(
        "front",
        [cloud.playlist(101, "A", a), cloud.playlist(102, "B", b), cloud.playlist(103, "C", c)],
    )
    await parts.sync.sync_once()
    await parts.sync.cleanup([102])
    by_id = {p.id: p for _, p in parts.sync.screens.playlists()}
    present = {pid: parts.media.locate(by_id[pid].media_items[0]) is not None for pid in by_id}
    assert present == {101: True, 102: True, 103: False}


async def test_reload_playlist_fetches_again_and_announces_the_ready_playlists(
    cloud: SimCloud, parts: Parts
) -> None:
    cloud.set_playlists("front", [cloud.playlist(101, "A", add_files(cloud, 1))])
    await parts.sync.sync_once()
    await parts.sent()
    cloud.set_playlists("back", [cloud.playlist(201, "B", add_files(cloud, 2, first=10))])
    await parts.sync.handle(protocol.ReloadPlaylist())
    sent = await parts.sent()
    assert statuses(sent, 201)[-1] == ("ready", 2)
    assert sent[-1] == {"type": "ready_playlists", "playlist_ids": [101, 201]}
    assert parts.hub.playback["back"].playlist_id == 201


@pytest.fixture
def thread_patient_clock() -> trio.testing.MockClock:
    """Jumps only once the loop has idled 50 ms, so store and file threads finish first."""
    return trio.testing.MockClock(autojump_threshold=0.05)


async def test_the_sync_runs_again_every_interval_and_retries_sooner_while_the_cloud_is_down(
    thread_patient_clock: trio.testing.MockClock, cloud: SimCloud, parts: Parts
) -> None:
    cloud.set_playlists("front", [cloud.playlist(101, "A", add_files(cloud, 1))])
    parts.sync.interval = 300

    async def next_sync(changes: Any) -> bool:
        while (change := await changes.get()).value["kind"] != "finished":
            pass
        return bool(change.value["ok"])

    with parts.hub.subscribe({"sync"}) as changes:
        async with trio.open_nursery() as nursery:
            await nursery.start(parts.sync.run)
            assert await next_sync(changes)
            first = trio.current_time()
            cloud.set_playlists("front", [cloud.playlist(101, "A", add_files(cloud, 2, first=5))])
            assert await next_sync(changes)
            assert 300 <= trio.current_time() - first <= 301
            assert len(parts.hub.playback["front"].media_ids) == 2
            cloud.down = True
            assert not await next_sync(changes)
            failed_at = trio.current_time()
            cloud.down = False
            assert await next_sync(changes)
            assert 1 <= trio.current_time() - failed_at <= 3
            nursery.cancel_scope.cancel()


async def test_a_reload_just_before_the_next_sync_is_not_cut_short_by_its_deadline(
    thread_patient_clock: trio.testing.MockClock, cloud: SimCloud, parts: Parts
) -> None:
    cloud.set_playlists("front", [cloud.playlist(101, "A", add_files(cloud, 1))])
    parts.sync.interval = 300
    with parts.hub.subscribe({"sync"}) as changes:
        async with trio.open_nursery() as nursery:
            await nursery.start(parts.sync.run)
            while (await changes.get()).value["kind"] != "finished":
                pass
            await trio.sleep(299)
            slow = add_files(cloud, 1, size=300_000, first=7)
            cloud.set_playlists("back", [cloud.playlist(201, "Slow", slow)])
            cloud.slow_bytes_per_s = 100_000  # three seconds of download, past the deadline
            runs = parts.sync.runs
            await parts.sync.request(protocol.ReloadPlaylist())
            while (change := await changes.get()).value["kind"] != "finished":
                assert change.value["kind"] != "file_failed", change.value
            nursery.cancel_scope.cancel()
    assert change.value["run"] == runs + 1, "the reload's own sync did not finish"
    assert parts.sync.playlists[201].status == "ready"
    assert parts.hub.playback["back"].playlist_id == 201


async def test_a_new_playlist_that_does_not_fit_evicts_what_no_playlist_needs_any_more(
    cloud: SimCloud, tmp_path: Path
) -> None:
    box = Parts(cloud, tmp_path / "small", max_bytes=2 * 3 * 20_000 + 1000, min_free_bytes=0)
    sync = await box.open()
    try:
        lists = [
            cloud.playlist(101 + n, f"L{n}", add_files(cloud, 3, first=10 * n)) for n in range(3)
        ]
        cloud.set_playlists("front", lists[:2])
        await sync.sync_once()
        cloud.set_playlists("front", [lists[2]])
        await sync.sync_once()
        assert sync.playlists[103].status == "ready"
        assert box.hub.playback["front"].playlist_id == 103
        assert box.media.used_bytes() <= 2 * 3 * 20_000
    finally:
        await box.close()
