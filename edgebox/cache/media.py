"""Media files of the box on disk: streamed to a `.part` with MD5 on the way, checked, fsynced
and renamed into place; named safely; evicted by budget and free space.

The bytes come from a `Fetch` (the HTTP download with Range resume is `edgebox.upstream.media`):
it sees only the item's `Part`, and this module sees no network.

What is known about each verified file (size, mtime_ns, MD5) lives in the store, so a restart
trusts files whose stat has not changed instead of hashing gigabytes again. Failures are never
remembered: the next `ensure` of a failed item tries again.
"""

from __future__ import annotations

import errno
import hashlib
import io
import logging
import os
import re
import shutil
import stat
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import diskcache
import trio

from edgebox.cache.store import Store
from edgebox.core.config import CacheConfig
from edgebox.core.errors import CacheError, ChecksumMismatch, StorageFull, UpstreamError
from edgebox.core.metrics import Metrics
from edgebox.core.values import MediaItem

log = logging.getLogger(__name__)

CHUNK = 1024 * 1024
PART = ".part"
MAX_NAME = 120
MAX_EXTENSION = 16
VERIFIED_PREFIX = "media/verified/"
PART_PREFIX = "media/part/"
RECORD_PART_AFTER = 8 * CHUNK

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def safe_name(media_id: int, media_name: str) -> str:
    """`{media_id}_{name}` with only `[A-Za-z0-9._-]`, at most MAX_NAME characters.

    Accents are dropped rather than replaced (`Café` → `Cafe`); a cut keeps the extension. A name
    never ends in `.part`, so no verified file can be taken for another's partial download.
    """
    decomposed = unicodedata.normalize("NFKD", media_name)
    name = "".join(c for c in decomposed if not unicodedata.combining(c))
    name = _UNSAFE.sub("_", name).lstrip(".") or "media"
    prefix = f"{media_id}_"
    room = MAX_NAME - len(prefix)
    if len(name) > room:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= MAX_EXTENSION:
            name = f"{stem[: room - len(extension) - 1]}.{extension}"
        else:
            name = name[:room]
    if name.endswith(PART):
        name = name[: -len(PART)] + "_part"
    return prefix + name


@attrs.frozen
class Verified:
    """A file as it was when its MD5 was computed; while its stat matches, the MD5 holds."""

    size: int
    mtime_ns: int
    md5: str

    def matches(self, st: os.stat_result) -> bool:
        return self.size == st.st_size and self.mtime_ns == st.st_mtime_ns

    def to_json(self) -> dict[str, Any]:
        return {"size": self.size, "mtime_ns": self.mtime_ns, "md5": self.md5}

    @classmethod
    def from_json(cls, raw: Any) -> Verified | None:
        if not isinstance(raw, dict):
            return None
        size, mtime_ns, md5 = raw.get("size"), raw.get("mtime_ns"), raw.get("md5")
        if isinstance(size, int) and isinstance(mtime_ns, int) and isinstance(md5, str):
            return cls(size, mtime_ns, md5)
        return None


@attrs.frozen
class PartRecord:
    """What a `.part` is becoming (`owner`, "md5:size") and how many of its bytes were fsynced
    before the record was written. After a power cut the bytes past `durable` may be anything
    (the disk wrote some pages and not others), so only those before it are resumed."""

    owner: str
    durable: int

    def to_json(self) -> dict[str, Any]:
        return {"owner": self.owner, "durable": self.durable}

    @classmethod
    def from_json(cls, raw: Any) -> PartRecord | None:
        if not isinstance(raw, dict):
            return None
        owner, durable = raw.get("owner"), raw.get("durable")
        if isinstance(owner, str) and type(durable) is int and durable >= 0:
            return cls(owner, durable)
        return None


@attrs.frozen
class _Entry:
    name: str
    size: int
    mtime_ns: int


@attrs.define(eq=False)
class MediaCache:
    """The files under `directory`, one per media item, and what is known to be verified.

    `ensure(..., keep=items)` may evict files not in `keep` to make room for a download; without
    `keep` it never removes anything and raises StorageFull when the download does not fit, so
    call `evict(keep)` first or pass `keep`.
    """

    config: CacheConfig
    store: Store
    metrics: Metrics | None
    directory: Path
    limiter: trio.CapacityLimiter
    _verified: dict[str, Verified]
    _parts: dict[str, PartRecord]  # final name -> what its .part holds
    _sizes: dict[str, int]  # every file in the directory, finals and parts, by name
    _pending: dict[str, int] = attrs.Factory(dict)  # bytes in-flight downloads will still write
    _room: trio.Lock = attrs.Factory(trio.Lock)
    _locks: dict[str, trio.Lock] = attrs.Factory(dict)
    disk_free: int | None = None  # the disk's free bytes when last looked at, for the status page

    @classmethod
    async def open(
        cls, config: CacheConfig, store: Store, metrics: Metrics | None = None
    ) -> MediaCache:
        directory = config.directory / "media"
        entries = await trio.to_thread.run_sync(_prepare, directory)
        sizes = {e.name: e.size for e in entries}

        def load(cache: diskcache.Cache) -> tuple[dict[str, Verified], dict[str, PartRecord]]:
            verified: dict[str, Verified] = {}
            parts: dict[str, PartRecord] = {}
            for key in list(cache.iterkeys()):
                if not isinstance(key, str):
                    continue
                if key.startswith(VERIFIED_PREFIX):
                    name = key[len(VERIFIED_PREFIX) :]
                    record = Verified.from_json(store.get_sync(key))
                    if record is not None and name in sizes:
                        verified[name] = record
                    else:
                        cache.delete(key)
                elif key.startswith(PART_PREFIX):
                    name = key[len(PART_PREFIX) :]
                    part = PartRecord.from_json(store.get_sync(key))
                    if part is not None and name + PART in sizes:
                        parts[name] = part
                    else:
                        cache.delete(key)
            return verified, parts

        verified, parts = await store.run(load)
        cache = cls(
            config,
            store,
            metrics,
            directory,
            trio.CapacityLimiter(config.max_concurrent_downloads),
            verified,
            parts,
            sizes,
        )
        cache._report_size()
        await cache.refresh_disk_free()
        return cache

    async def refresh_disk_free(self) -> int:
        self.disk_free = (await trio.to_thread.run_sync(shutil.disk_usage, self.directory)).free
        return self.disk_free

    def path_for(self, item: MediaItem) -> Path:
        return self.directory / safe_name(item.media_id, item.media_name)

    def locate(self, item: MediaItem) -> Path | None:
        """The verified file for `item` by the in-memory index alone; never touches the disk."""
        name = safe_name(item.media_id, item.media_name)
        record = self._verified.get(name)
        if record is None or record.size != item.file_size or record.md5 != item.checksum:
            return None
        return self.directory / name

    def used_bytes(self) -> int:
        return sum(self._sizes.values())

    async def verified(self, item: MediaItem) -> Path | None:
        """The file for `item` if it holds exactly the announced bytes.

        A file whose size and mtime match its stored verification is trusted without reading
        it; any other file of the right size is hashed once and the result remembered.
        """
        name = safe_name(item.media_id, item.media_name)
        path = self.directory / name
        st = await trio.to_thread.run_sync(_stat, path)
        record = self._verified.get(name)
        if st is None:
            self._sizes.pop(name, None)
            if record is not None:
                await self._forget([name])
            return None
        self._sizes[name] = st.st_size
        if record is not None and record.matches(st):
            return path if record.md5 == item.checksum else None
        if st.st_size != item.file_size:
            if record is not None:
                await self._forget([name])
            return None
        md5 = await trio.to_thread.run_sync(_hash_file, path)
        record = Verified(st.st_size, st.st_mtime_ns, md5)
        self._verified[name] = record
        await self.store.set(VERIFIED_PREFIX + name, record.to_json())
        return path if md5 == item.checksum else None

    async def ensure(
        self,
        fetch: Fetch,
        item: MediaItem,
        *,
        progress: Callable[[int, int], None] | None = None,
        keep: Iterable[MediaItem] | None = None,
    ) -> int:
        """Make the verified file for `item` present; returns the bytes transferred (0 when it
        already was). `fetch` brings the missing bytes into the item's `Part` (the download,
        `edgebox.upstream.media`); `keep` names what may not be evicted to make room.

        Raises StorageFull, ChecksumMismatch (the partial file is gone, the next call starts
        clean) or UpstreamError (a partial file stays and the next call resumes it).
        """
        name = safe_name(item.media_id, item.media_name)
        if item.file_size > self.config.max_file_bytes:
            raise self._failed(
                "too_large",
                StorageFull(
                    f"{name}: {item.file_size} bytes is more than cache.max_file_bytes "
                    f"({self.config.max_file_bytes})"
                ),
            )
        keep_names = None if keep is None else {safe_name(k.media_id, k.media_name) for k in keep}
        with self._name_lock(name) as lock:
            async with lock:
                if await self.verified(item) is not None:
                    return 0
                async with self.limiter:
                    return await self._download(fetch, item, name, progress, keep_names)

    async def evict(self, keep: Iterable[MediaItem]) -> list[str]:
        """Remove stray `.part` files of items not in `keep`, then files not in `keep`, oldest
        first, while the cache is over cache.max_bytes or the disk under cache.min_free_bytes."""
        return await self._sweep({safe_name(k.media_id, k.media_name) for k in keep}, 0, False)

    async def remove_except(self, keep: Iterable[MediaItem]) -> list[str]:
        """Remove every file, verified or partial, of an item not in `keep`."""
        return await self._sweep({safe_name(k.media_id, k.media_name) for k in keep}, 0, True)

    # Filling a part

    async def _download(
        self,
        fetch: Fetch,
        item: MediaItem,
        name: str,
        progress: Callable[[int, int], None] | None,
        keep_names: set[str] | None,
    ) -> int:
        final = self.directory / name
        owner = f"{item.checksum}:{item.file_size}"
        record = self._parts.get(name)
        durable = record.durable if record is not None and record.owner == owner else None
        if durable is None and record is not None:
            await self._forget([], [name])
        try:
            part = await trio.to_thread.run_sync(
                _PartFile.open, final.with_name(name + PART), owner, durable, item.file_size
            )
        except OSError as exc:
            raise self._failed("disk", _disk_error(name, exc)) from exc
        self._sizes[part.path.name] = part.size
        finished = False
        try:
            async with self._room:  # one check-and-reserve at a time, or two could both fit
                await self._make_room(name, item.file_size - part.size, keep_names)
                self._pending[name] = item.file_size - part.size
            resumed_from = part.size
            transferred = 0
            view = Part(self, name, part, item, progress)
            while True:
                got = await fetch(view)
                transferred += got
                if part.size < item.file_size:
                    raise self._failed(
                        "incomplete",
                        UpstreamError(
                            f"{name}: the body ended after {part.size} of {item.file_size} "
                            "bytes; the next sync resumes it"
                        ),
                    )
                if part.hexdigest() == item.checksum:
                    break
                if not resumed_from or got >= item.file_size:
                    await self._discard(name, part)
                    raise self._failed(
                        "checksum",
                        ChecksumMismatch(
                            f"{name}: MD5 {part.hexdigest()} differs from the announced "
                            f"{item.checksum}; the partial file was deleted"
                        ),
                    )
                # A disk that lost a write it had acknowledged: once more, from byte 0.
                self._failed(
                    "damaged_part",
                    ChecksumMismatch(
                        f"{name}: MD5 wrong after resuming from byte {resumed_from}; the bytes "
                        "kept from before were damaged, so the whole file is fetched again"
                    ),
                )
                await self._restart(name, part)
                resumed_from = 0
            try:
                st = await trio.to_thread.run_sync(part.finish, final)
            except OSError as exc:
                raise self._failed("disk", _disk_error(name, exc)) from exc
            finished = True
        finally:
            self._pending.pop(name, None)
            with trio.CancelScope(shield=True):
                if not (finished or part.discarded):
                    if part.size == 0:
                        await self._discard(name, part)
                    elif part.size > part.durable:
                        await self._checkpoint(name, part)
                await trio.to_thread.run_sync(part.close)
        record = Verified(st.st_size, st.st_mtime_ns, item.checksum)
        self._sizes.pop(part.path.name, None)
        self._sizes[name] = st.st_size
        self._verified[name] = record
        self._parts.pop(name, None)

        def commit(cache: diskcache.Cache) -> None:
            self.store.set_sync(VERIFIED_PREFIX + name, record.to_json())
            cache.delete(PART_PREFIX + name)

        try:
            await self.store.run(commit)
        except CacheError as exc:
            # The file itself is whole and checked; without its record the next start hashes
            # it once more instead of trusting its stat.
            log.warning("media %s verified but not recorded: %s", name, exc)
        self._report_size()
        log.info("media %s verified (%d bytes, %d transferred)", name, st.st_size, transferred)
        return transferred

    async def _receive(
        self,
        chunks: AsyncIterator[bytes],
        transport_errors: tuple[type[Exception], ...],
        name: str,
        part: _PartFile,
        total: int,
        progress: Callable[[int, int], None] | None,
    ) -> tuple[int, BaseException | None]:
        """Stream `chunks` into `part`: one worker thread writes and hashes a block while the
        next one arrives, so at most three blocks are held whatever the file's size.

        Everything that arrived before a transport error is written, so a resume loses nothing.
        """
        send, receive = trio.open_memory_channel[bytes](1)
        room = total - part.size
        failure: BaseException | None = None
        received = 0

        async def write_blocks(cancel: trio.CancelScope) -> None:
            nonlocal failure
            async with receive:
                async for block in receive:
                    try:
                        await trio.to_thread.run_sync(part.write, block)
                    except OSError as exc:
                        failure = exc
                        cancel.cancel()
                        return
                    self._sizes[part.path.name] = part.size
                    self._pending[name] = total - part.size
                    if part.size - part.durable >= RECORD_PART_AFTER:
                        await self._checkpoint(name, part)
                    if self.metrics is not None:
                        self.metrics.sync_bytes.inc(len(block))
                    if progress is not None:
                        progress(part.size, total)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(write_blocks, nursery.cancel_scope)
            async with send:
                blocks: list[bytes] = []
                held = 0
                try:
                    async for chunk in chunks:
                        received += len(chunk)
                        if received > room:
                            failure = Overflow()
                            break
                        blocks.append(chunk)
                        held += len(chunk)
                        if held >= CHUNK:
                            await send.send(b"".join(blocks))
                            blocks, held = [], 0
                except transport_errors as exc:
                    failure = exc
                if blocks and not isinstance(failure, Overflow):
                    await send.send(b"".join(blocks))
        return min(received, room), failure

    async def _make_room(self, name: str, need: int, keep_names: set[str] | None) -> None:
        shortfall = await self._shortfall(need)
        if shortfall and keep_names is not None:
            await self._sweep(keep_names | {name}, need, False)
            shortfall = await self._shortfall(need)
        if shortfall:
            raise self._failed("storage", StorageFull(f"{name}: {shortfall}"))

    async def _shortfall(self, need: int) -> str:
        """Why `need` more bytes do not fit, or "" when they do."""
        pending = sum(self._pending.values())
        committed = self.used_bytes() + pending + need
        if committed > self.config.max_bytes:
            return (
                f"{need} more bytes would take the cache to {committed}, over cache.max_bytes "
                f"({self.config.max_bytes}), with nothing unreferenced left to evict"
            )
        free = await self.refresh_disk_free()
        if free - pending - need < self.config.min_free_bytes:
            return (
                f"{need} more bytes would leave {free - pending - need} bytes free on the disk, "
                f"under cache.min_free_bytes ({self.config.min_free_bytes})"
            )
        return ""

    # Removing

    async def _sweep(self, keep_names: set[str], need: int, everything: bool) -> list[str]:
        busy = set(self._pending) | {n + PART for n in self._pending}
        protected = keep_names | {n + PART for n in keep_names} | busy
        pending = sum(self._pending.values()) + need
        removed, entries = await trio.to_thread.run_sync(
            _sweep_directory, self.directory, self.config, protected, pending, everything
        )
        for entry in entries:
            if entry.name not in busy:
                self._sizes[entry.name] = entry.size
        present = {e.name for e in entries} | busy
        for name in list(self._sizes):
            if name not in present:
                del self._sizes[name]
        await self._forget(
            [n for n in removed if not n.endswith(PART)],
            [n.removesuffix(PART) for n in removed if n.endswith(PART)],
        )
        self._report_size()
        if removed:
            log.info("media cache removed %d file(s): %s", len(removed), ", ".join(removed))
        return removed

    async def _forget(self, finals: list[str], parts: Iterable[str] = ()) -> None:
        """Drop what is known about removed files: `finals` by their name, `parts` by the name
        of the file they were becoming."""
        parts = list(parts)
        for name in finals:
            self._verified.pop(name, None)
        for name in parts:
            self._parts.pop(name, None)

        def delete(cache: diskcache.Cache) -> None:
            for name in finals:
                cache.delete(VERIFIED_PREFIX + name)
            for name in parts:
                cache.delete(PART_PREFIX + name)

        if finals or parts:
            await self.store.run(delete)

    async def _checkpoint(self, name: str, part: _PartFile) -> None:
        """fsync the part, then vouch for the bytes now surely on disk, so that a later ensure,
        even after a power cut, resumes from them.

        Done every RECORD_PART_AFTER bytes and when a download stops short. Small parts are so
        vouched for only when their download fails: after a power cut they are fetched again,
        which costs less than an fsync and a store write for every file.
        """
        size = await trio.to_thread.run_sync(part.sync)
        record = PartRecord(part.owner, size)
        self._parts[name] = record
        await self.store.set(PART_PREFIX + name, record.to_json())
        part.durable = size

    async def _restart(self, name: str, part: _PartFile) -> None:
        """Empty the part; a record that vouches for its old bytes is brought down to none."""
        await trio.to_thread.run_sync(part.restart)
        if part.durable:
            await self._checkpoint(name, part)

    async def _discard(self, name: str, part: _PartFile) -> None:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(part.discard)
        self._sizes.pop(part.path.name, None)
        self._parts.pop(name, None)
        await self.store.delete(PART_PREFIX + name)

    # Bookkeeping

    @contextmanager
    def _name_lock(self, name: str) -> Iterator[trio.Lock]:
        """One download per file at a time; the lock goes away with its last user."""
        lock = self._locks.setdefault(name, trio.Lock())
        try:
            yield lock
        finally:
            if not lock.locked() and lock.statistics().tasks_waiting == 0:
                self._locks.pop(name, None)

    def _failed(self, reason: str, error: Exception) -> Exception:
        if self.metrics is not None:
            self.metrics.download_failures.labels(reason=reason).inc()
        log.warning("media download failed (%s): %s", reason, error)
        return error

    def _report_size(self) -> None:
        if self.metrics is not None:
            self.metrics.cache_bytes.set(self.used_bytes())


class Overflow(Exception):
    """The body is longer than the announced file size."""


@attrs.define
class Part:
    """One item's `.part` file as a download sees it: the bytes it holds, a way to stream more
    in, to start over from byte 0 or to drop it, and the cache's accounting of failures."""

    cache: MediaCache
    name: str
    file: _PartFile
    item: MediaItem
    progress: Callable[[int, int], None] | None

    @property
    def size(self) -> int:
        return self.file.size

    def hexdigest(self) -> str:
        return self.file.hexdigest()

    async def restart(self) -> None:
        await self.cache._restart(self.name, self.file)

    async def discard(self) -> None:
        await self.cache._discard(self.name, self.file)

    async def receive(
        self, chunks: AsyncIterator[bytes], transport_errors: tuple[type[Exception], ...]
    ) -> tuple[int, BaseException | None]:
        """Append `chunks`; returns the bytes taken and what stopped them early: one of
        `transport_errors`, an OSError of the disk, or Overflow past the item's size."""
        return await self.cache._receive(
            chunks, transport_errors, self.name, self.file, self.item.file_size, self.progress
        )

    def failed(self, reason: str, error: Exception) -> Exception:
        """`error`, counted under `reason` in the download failure metrics."""
        return self.cache._failed(reason, error)

    def disk_failed(self, error: OSError) -> Exception:
        return self.cache._failed("disk", _disk_error(self.name, error))


# Brings the missing bytes of an item into its Part; returns how many it transferred.
Fetch = Callable[[Part], Awaitable[int]]


class _PartFile:
    """A `.part` file and the MD5 of everything in it; used by one worker thread at a time.

    `owner` ("md5:size") names the item it is becoming; the store vouches for its first
    `durable` bytes (see PartRecord).
    """

    def __init__(
        self, path: Path, owner: str, file: io.BufferedIOBase, md5: Any, size: int, durable: int
    ) -> None:
        self.path, self.owner, self.file, self.md5, self.size = path, owner, file, md5, size
        self.durable = durable
        self.discarded = False

    @classmethod
    def open(cls, path: Path, owner: str, durable: int | None, limit: int) -> _PartFile:
        """With `durable` (a record for this item), the existing part cut to its durable bytes
        and re-hashed; else, or when it is longer than the item, an empty one."""
        md5 = hashlib.md5()
        if durable is not None:
            try:
                file = open(path, "r+b")  # noqa: SIM115 - closed by close/finish/discard
            except FileNotFoundError:
                pass
            else:
                if durable <= limit:
                    if os.fstat(file.fileno()).st_size > durable:
                        file.truncate(durable)
                    size = _hash_into(file, md5)
                    return cls(path, owner, file, md5, size, size)
                file.close()
        return cls(path, owner, open(path, "wb"), md5, 0, 0)

    def write(self, block: bytes) -> None:
        self.file.write(block)
        self.md5.update(block)
        self.size += len(block)

    def sync(self) -> int:
        """Everything written so far on disk; returns how much that is."""
        self.file.flush()
        os.fsync(self.file.fileno())
        return self.size

    def restart(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.md5 = hashlib.md5()
        self.size = 0

    def hexdigest(self) -> str:
        return str(self.md5.hexdigest())

    def finish(self, final: Path) -> os.stat_result:
        """fsync, rename over `final`, fsync the directory: after a power cut the file is either
        the old one or the whole new one."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.path, final)
        _fsync_directory(final.parent)
        return os.stat(final)

    def close(self) -> None:
        self.file.close()

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)
        self.discarded = True


def _prepare(directory: Path) -> list[_Entry]:
    directory.mkdir(parents=True, exist_ok=True)
    return _scan(directory)


def _scan(directory: Path) -> list[_Entry]:
    entries = []
    with os.scandir(directory) as it:
        for e in it:
            try:
                st = e.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue
            if stat.S_ISREG(st.st_mode):
                entries.append(_Entry(e.name, st.st_size, st.st_mtime_ns))
    return entries


def _sweep_directory(
    directory: Path, config: CacheConfig, protected: set[str], pending: int, everything: bool
) -> tuple[list[str], list[_Entry]]:
    """Remove unprotected parts, then unprotected files oldest first (all of them when
    `everything`) until the budget and the free-space reserve hold; returns removed and kept."""
    entries = _scan(directory)
    removed: list[str] = []
    kept: list[_Entry] = []
    candidates: list[_Entry] = []
    for e in entries:
        if e.name in protected:
            kept.append(e)
        elif everything or e.name.endswith(PART):
            _unlink(directory / e.name)
            removed.append(e.name)
        else:
            candidates.append(e)
    used = sum(e.size for e in kept) + sum(e.size for e in candidates) + pending
    free = shutil.disk_usage(directory).free - pending
    candidates.sort(key=lambda e: (e.mtime_ns, e.name))
    for e in candidates:
        if used <= config.max_bytes and free >= config.min_free_bytes:
            kept.append(e)
            continue
        _unlink(directory / e.name)
        removed.append(e.name)
        used -= e.size
        free += e.size
    return removed, kept


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


def _stat(path: Path) -> os.stat_result | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def _hash_file(path: Path) -> str:
    md5 = hashlib.md5()
    with open(path, "rb") as file:
        _hash_into(file, md5)
    return md5.hexdigest()


def _hash_into(file: io.BufferedIOBase, md5: Any) -> int:
    """Feed the rest of `file` to `md5` in CHUNK blocks; returns the bytes read."""
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    total = 0
    while n := file.readinto(view):
        md5.update(view[:n])
        total += n
    return total


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _disk_error(name: str, exc: OSError) -> CacheError:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull(f"{name}: the disk is full ({exc.strerror})")
    return CacheError(f"{name}: cannot write the media file: {exc}")
