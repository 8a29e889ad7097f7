"""A crash in the middle of a store transaction keeps the old values, small or large."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from edgebox.cache.store import Store

CRASH_MID_TRANSACTION = """
import os, sys
from pathlib import Path
from edgebox.cache.store import Store
store = Store.open_sync(Path(sys.argv[1]))
with store.cache.transact():
    store.set_sync("small", "new")
    store.set_sync("large", ["new"] * 100_000)
    os._exit(1)  # the power goes before the commit
"""


def test_a_crash_before_the_commit_keeps_every_old_value_even_a_large_one(tmp_path: Path) -> None:
    """A value over diskcache's 32 KiB file threshold (an IPTV channel list) once read back as
    missing after such a crash: its old file was deleted before the commit."""
    store = Store.open_sync(tmp_path / "state")
    store.set_sync("small", "old")
    store.set_sync("large", ["old"] * 100_000)
    store.close_sync()
    crashed = subprocess.run(
        [sys.executable, "-c", CRASH_MID_TRANSACTION, str(tmp_path / "state")], check=False
    )
    assert crashed.returncode == 1
    store = Store.open_sync(tmp_path / "state")
    try:
        assert store.get_sync("small") == "old"
        assert store.get_sync("large") == ["old"] * 100_000
    finally:
        store.close_sync()
