from __future__ import annotations

import os
import stat
from pathlib import Path

from edgebox.cache.store import Store


async def test_values_round_trip_as_json_and_survive_reopen(tmp_path: Path) -> None:
    s = await Store.open(tmp_path / "state")
    await s.set("a", {"x": [1, 2], "y": None})
    await s.set_many({"b": 1, "c": "two"})
    s.close_sync()
    again = await Store.open(tmp_path / "state")
    assert await again.get("a") == {"x": [1, 2], "y": None}
    assert await again.get("b") == 1
    assert await again.get("missing", "default") == "default"
    again.close_sync()


async def test_state_directory_and_files_are_private(tmp_path: Path) -> None:
    s = await Store.open(tmp_path / "state")
    await s.set("tokens", {"access": "secret"})
    s.close_sync()
    s = await Store.open(tmp_path / "state")
    assert stat.S_IMODE(os.stat(tmp_path / "state").st_mode) == 0o700
    for name in os.listdir(tmp_path / "state"):
        assert stat.S_IMODE(os.stat(tmp_path / "state" / name).st_mode) == 0o600, name
    s.close_sync()


async def test_outbox_keeps_order_across_reopen_until_acknowledged(tmp_path: Path) -> None:
    s = await Store.open(tmp_path / "state")
    for n in range(5):
        await s.outbox_append({"n": n})
    first = await s.outbox_peek()
    assert first is not None
    await s.outbox_ack(first[0])
    s.close_sync()
    s = await Store.open(tmp_path / "state")
    assert await s.outbox_len() == 4
    seen = []
    while (head := await s.outbox_peek()) is not None:
        seen.append(head[1]["n"])
        await s.outbox_ack(head[0])
    assert seen == [1, 2, 3, 4]
    s.close_sync()
