"""The media cache's storage side alone: a Fetch that is not HTTP fills an item's Part.

The seam between storage (cache/media.py) and download (upstream/media.py) is `Part` and
`Fetch`; these tests stand on it without a network, as a transport-free download would.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edgebox.cache.media import Fetch, MediaCache, Overflow, Part
from edgebox.cache.store import Store
from edgebox.core.config import CacheConfig
from edgebox.core.errors import ChecksumMismatch
from edgebox.core.values import MediaItem


def item_for(data: bytes, media_id: int = 1) -> MediaItem:
    return MediaItem(
        media_id=media_id,
        order=0,
        media_name=f"clip-{media_id}.bin",
        media_type="image",
        mimetype="image/png",
        media_url=f"/media/{media_id}",
        file_size=len(data),
        checksum=hashlib.md5(data).hexdigest(),
    )


async def blocks(*parts: bytes) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def memory_fetch(data: bytes, seen: list[int]) -> Fetch:
    """A Fetch that serves `data` from memory, from where the part stands (a resume)."""

    async def fetch(part: Part) -> int:
        seen.append(part.size)
        got, failure = await part.receive(blocks(data[part.size :]), (ConnectionError,))
        assert failure is None
        return got

    return fetch


async def test_a_fetch_without_a_network_fills_the_part_and_the_file_is_verified(
    store: Store, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 4096
    item = item_for(data)
    cache = await MediaCache.open(CacheConfig(tmp_path), store)
    seen: list[int] = []
    assert await cache.ensure(memory_fetch(data, seen), item) == len(data)
    assert seen == [0]
    path = cache.locate(item)
    assert path is not None and path.read_bytes() == data
    assert await cache.ensure(memory_fetch(data, seen), item) == 0
    assert seen == [0]


async def test_a_transport_error_keeps_the_bytes_for_a_resume_from_where_they_stop(
    store: Store, tmp_path: Path
) -> None:
    data = bytes(range(256)) * 8192
    item = item_for(data)
    cache = await MediaCache.open(CacheConfig(tmp_path), store)
    half = len(data) // 2

    async def cut_short(part: Part) -> int:
        async def broken() -> AsyncIterator[bytes]:
            yield data[:half]
            raise ConnectionError("link down")

        got, failure = await part.receive(broken(), (ConnectionError,))
        assert isinstance(failure, ConnectionError) and got == half
        raise part.failed("network", ConnectionError(f"kept {part.size} bytes"))

    with pytest.raises(ConnectionError, match=f"kept {half} bytes"):
        await cache.ensure(cut_short, item)
    seen: list[int] = []
    assert await cache.ensure(memory_fetch(data, seen), item) == len(data) - half
    assert seen == [half]
    assert cache.locate(item) is not None


async def test_more_bytes_than_announced_are_refused_as_overflow(
    store: Store, tmp_path: Path
) -> None:
    data = b"x" * 1000
    item = item_for(data)
    cache = await MediaCache.open(CacheConfig(tmp_path), store)

    async def too_long(part: Part) -> int:
        got, failure = await part.receive(blocks(data, b"more"), (ConnectionError,))
        assert isinstance(failure, Overflow) and got == len(data)
        await part.discard()
        raise part.failed("size", ChecksumMismatch("longer than announced"))

    with pytest.raises(ChecksumMismatch):
        await cache.ensure(too_long, item)
    assert cache.locate(item) is None
    assert not any(cache.directory.iterdir())
