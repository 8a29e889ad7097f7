"""Durable state on diskcache (SQLite): tokens, snapshots, LED playlist, settings, catalog, outbox.

Values are stored as JSON text, never pickles, so a tampered file cannot run code. Every call
runs in a worker thread; a whole transaction stays inside one thread call, as diskcache requires.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import diskcache
import trio

from edgebox.core.errors import CacheError, StorageFull

T = TypeVar("T")

_MISSING = object()
IN_ROWS = 2**31 - 1  # bytes: values below this size are kept in the database itself
OUTBOX = "outbox"


class Store:
    """Key-value state that survives restarts and power cuts (SQLite synchronous=FULL)."""

    def __init__(self, cache: diskcache.Cache) -> None:
        self.cache = cache

    @classmethod
    def open_sync(cls, directory: Path) -> Store:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(directory, 0o700)
        try:
            cache = diskcache.Cache(
                str(directory),
                eviction_policy="none",
                size_limit=2**62,
                sqlite_synchronous=2,
                timeout=30,
                # Every value in its SQLite row. diskcache writes a larger value (over 32 KiB
                # by default: an IPTV channel list) to a file of its own and, inside an open
                # transaction, deletes the old file before the commit: a crash in between
                # left the row pointing at nothing, and the whole list read back as missing.
                disk_min_file_size=IN_ROWS,
            )
        except Exception as exc:  # sqlite3 raises several kinds for a broken file
            raise CacheError(f"cannot open the state store in {directory}: {exc}") from exc
        for name in os.listdir(directory):
            path = directory / name
            if path.is_file():
                os.chmod(path, 0o600)
        return cls(cache)

    @classmethod
    async def open(cls, directory: Path) -> Store:
        return await trio.to_thread.run_sync(cls.open_sync, directory)

    def close_sync(self) -> None:
        self.cache.close()

    async def run(self, fn: Callable[[diskcache.Cache], T]) -> T:
        """Run `fn(cache)` in a worker thread, inside one transaction."""

        def call() -> T:
            with self.cache.transact():
                return fn(self.cache)

        return await _in_thread(call)

    def get_sync(self, key: str, default: Any = None) -> Any:
        raw = self.cache.get(key, _MISSING)
        return default if raw is _MISSING else json.loads(raw)

    def set_sync(self, key: str, value: Any) -> None:
        self.cache.set(key, json.dumps(value, separators=(",", ":")))

    async def get(self, key: str, default: Any = None) -> Any:
        return await _in_thread(self.get_sync, key, default)

    async def set(self, key: str, value: Any) -> None:
        await _in_thread(self.set_sync, key, value)

    async def delete(self, key: str) -> None:
        await _in_thread(self.cache.delete, key)

    async def set_many(self, items: dict[str, Any]) -> None:
        def write(_cache: diskcache.Cache) -> None:
            for key, value in items.items():
                self.set_sync(key, value)

        await self.run(write)

    # The outbox: status messages for the cloud, kept in order until it has taken them.

    async def outbox_append(self, message: dict[str, Any]) -> None:
        text = json.dumps(message, separators=(",", ":"))
        await _in_thread(lambda: self.cache.push(text, prefix=OUTBOX))

    async def outbox_peek(self) -> tuple[str, dict[str, Any]] | None:
        def peek() -> tuple[str, dict[str, Any]] | None:
            key, value = self.cache.peek(prefix=OUTBOX, default=(None, None))
            return None if key is None else (key, json.loads(value))

        return await _in_thread(peek)

    async def outbox_ack(self, key: str) -> None:
        await self.delete(key)

    async def outbox_len(self) -> int:
        def count() -> int:
            return sum(
                1 for k in self.cache.iterkeys() if isinstance(k, str) and k.startswith(OUTBOX)
            )

        return await _in_thread(count)


async def _in_thread(fn: Callable[..., T], *args: Any) -> T:
    """Run a store call in a worker thread; a full disk or a broken file is a CacheError."""
    try:
        return await trio.to_thread.run_sync(fn, *args)
    except sqlite3.OperationalError as exc:
        if "full" in str(exc):
            raise StorageFull(f"the state store cannot grow: {exc}") from exc
        raise CacheError(f"the state store failed: {exc}") from exc
    except sqlite3.DatabaseError as exc:
        raise CacheError(f"the state store failed: {exc}") from exc
    except OSError as exc:
        if exc.errno == errno.ENOSPC:
            raise StorageFull(f"the state store cannot grow: {exc}") from exc
        raise CacheError(f"the state store failed: {exc}") from exc
