"""Power cuts: the real gateway killed with SIGKILL at random moments while its LED playlist
is edited and IPTV channels are imported; after every restart its store opens and it shows
the last acknowledged change, with no import half applied. bench/powercuts.py cuts 200+."""

from __future__ import annotations

import json
from pathlib import Path

from edgebox.cache import catalog
from edgebox.cache.store import Store
from tests.powercut import PowerCuts, store_problems


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
