"""Power cuts: the real gateway killed with SIGKILL at random moments while its LED playlist
is edited and IPTV channels are imported; after every restart its store opens and it shows
the last acknowledged change, with no import half applied. bench/powercuts.py cuts 200+."""

from __future__ import annotations

import json
import random
from pathlib import Path

import trio

from edgebox.cache.store import Store
from edgebox.iptv import catalog
from tests.support.powercut import PowerCuts, store_problems
from tests.support.powercut_cloud import FILES_PER_PLAYLIST, ChurningCloud


async def test_sigkill_at_random_moments_loses_no_acknowledged_change(tmp_path: Path) -> None:
    cuts = PowerCuts(tmp_path, seed=20261202)
    figures = await cuts.run(5)
    assert figures.problems == []
    assert figures.cuts == 5
    assert figures.acknowledged > 0
    assert len(figures.restart_seconds) == 5 + 1 - figures.cuts_at_startup


def test_the_harness_sees_a_damaged_store(tmp_path: Path) -> None:
    """The check after each cut can fail: a torn entry and an unreadable playlist are named."""
    store = Store.open_sync(tmp_path / "state")
    store.cache.set(catalog.DEVICE_PREFIX + "TV1", '{"id": 1, "duid": "TV')
    store.set_sync("led/items", [{"id": "x", "content": {"type": "Text", "data": {}}}])
    store.close_sync()
    problems = store_problems(tmp_path)
    assert any("TV1" in p for p in problems), problems
    assert any("content.data.text" in p for p in problems), problems
    assert json.dumps(problems)


async def test_sigkill_during_media_sync_and_eviction_never_leaves_a_torn_file(
    tmp_path: Path,
) -> None:
    cuts = PowerCuts(tmp_path, seed=20261203, max_gap=2.5, startup_share=0.0)
    cloud = ChurningCloud(random.Random(7))
    async with trio.open_nursery() as nursery:
        await cloud.start(nursery, cuts)
        figures = await cuts.run(5)
        nursery.cancel_scope.cancel()
    assert figures.problems == []
    assert figures.cuts == 5
    downloads = cloud.cloud.requests_to("/media/")
    assert len(downloads) > 5, "the box was not syncing when the power went"
    assert cloud.cuts_mid_download > 0, "no cut landed mid-download"
    fetched = {int(r.path.split("/")[3]) for r in downloads}
    # The budget holds two playlists: a third one's files come only after an eviction.
    assert len(fetched) > 2 * FILES_PER_PLAYLIST, "no playlist made it in past a full cache"
    assert 0 < cloud.files_in_cache(cuts.data) <= 2.2 * FILES_PER_PLAYLIST
