"""The media cache against the simulated cloud on loopback, with real files and a real store."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from edgebox.cache import media
from edgebox.cache.media import MAX_NAME, MediaCache, safe_name
from edgebox.cache.store import Store
from edgebox.core.config import CacheConfig
from edgebox.core.errors import ChecksumMismatch, StorageFull, UpstreamError
from edgebox.core.metrics import Metrics
from edgebox.core.values import MediaItem
from edgebox.sim.cloud import SimCloud
from edgebox.upstream.media import http_fetch
from edgebox.upstream.protocol import parse_media_item

MiB = 1024 * 1024


def media_item(raw: dict[str, Any], **changes: Any) -> MediaItem:
    """The MediaItem the box would parse from a SimCloud item dict."""
    parsed = parse_media_item({**raw, "media_name": "placeholder"})  # names the parser refuses
    return attrs.evolve(parsed, media_name=raw["media_name"], **changes)  # still reach the cache


@attrs.define
class Rig:
    """A cloud, an HTTP client with the cloud's bearer, and a way to open caches on one store."""

    cloud: SimCloud
    http: httpx.AsyncClient
    store: Store
    root: Path
    headers: dict[str, str]
    metrics: Metrics = attrs.Factory(Metrics.create)

    async def cache(self, **settings: Any) -> MediaCache:
        return await MediaCache.open(CacheConfig(self.root, **settings), self.store, self.metrics)

    def add(self, name: str, data: bytes, **kwargs: Any) -> MediaItem:
        return media_item(self.cloud.add_media(name, data, **kwargs))

    def url(self, item: MediaItem) -> str:
        return self.cloud.origin + item.media_url

    async def ensure(self, cache: MediaCache, item: MediaItem, **kwargs: Any) -> int:
        return await cache.ensure(
            http_fetch(self.http, self.url(item), self.headers), item, **kwargs
        )

    def media_requests(self) -> list[Any]:
        return self.cloud.requests_to("/media/")

    def sample(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return 0.0 if value is None else value


@pytest.fixture
async def rig(cloud: SimCloud, store: Store, tmp_path: Path) -> AsyncIterator[Rig]:
    token = cloud.issue_tokens("box")["access"]
    async with httpx.AsyncClient(trust_env=False, timeout=30) as http:
        yield Rig(cloud, http, store, tmp_path / "data", {"Authorization": f"Bearer {token}"})


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def spy_hashing(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count every byte the cache reads back from disk to hash it."""
    hashed: list[int] = []
    real = media._hash_into

    def counting(file: Any, md5: Any) -> int:
        n = real(file, md5)
        hashed.append(n)
        return n

    monkeypatch.setattr(media, "_hash_into", counting)
    return hashed


# Downloads


async def test_download_lands_under_its_safe_name_with_the_announced_md5(rig: Rig) -> None:
    data = os.urandom(3 * MiB + 17)
    item = rig.add("clip one.mp4", data)
    cache = await rig.cache()
    seen: list[tuple[int, int]] = []

    assert await rig.ensure(cache, item, progress=lambda d, t: seen.append((d, t))) == len(data)

    path = cache.path_for(item)
    assert path == cache.directory / f"{item.media_id}_clip_one.mp4"
    assert path.read_bytes() == data
    assert sorted(p.name for p in cache.directory.iterdir()) == [path.name]
    assert cache.locate(item) == path
    assert await cache.verified(item) == path
    assert cache.used_bytes() == len(data)
    assert seen[-1] == (len(data), len(data))
    assert [d for d, _ in seen] == sorted({d for d, _ in seen})
    assert rig.sample("edgebox_sync_bytes_total") == len(data)
    assert rig.sample("edgebox_cache_bytes") == len(data)
    assert cache.locate(attrs.evolve(item, checksum="0" * 32)) is None


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_cut_download_resumes_with_range_and_ends_with_the_right_md5(
    rig: Rig, seed: int
) -> None:
    rng = random.Random(seed)
    data = rng.randbytes(2 * MiB + rng.randrange(MiB))
    item = rig.add("clip.mp4", data)
    cut = rng.randrange(1, len(data))
    rig.cloud.truncate_at = cut
    cache = await rig.cache()

    with pytest.raises(UpstreamError):
        await rig.ensure(cache, item)
    part = cache.path_for(item).with_name(cache.path_for(item).name + ".part")
    kept = part.stat().st_size
    assert 0 < kept <= cut
    assert not cache.path_for(item).exists()
    assert cache.locate(item) is None

    sent_before = rig.cloud.media_bytes_sent
    assert await rig.ensure(cache, item) == len(data) - kept
    assert rig.media_requests()[-1].headers["range"] == f"bytes={kept}-"
    assert rig.cloud.media_bytes_sent - sent_before == len(data) - kept
    assert md5_of(cache.path_for(item)) == item.checksum
    assert not part.exists()
    assert rig.sample("edgebox_download_failures_total", reason="network") == 1


async def test_resume_survives_a_restart_of_the_box(rig: Rig) -> None:
    data = os.urandom(3 * MiB)
    item = rig.add("clip.mp4", data)
    rig.cloud.truncate_at = 2 * MiB + 5
    with pytest.raises(UpstreamError):
        await rig.ensure(await rig.cache(), item)

    again = await rig.cache()
    assert await rig.ensure(again, item) == MiB - 5
    assert rig.media_requests()[-1].headers["range"] == f"bytes={2 * MiB + 5}-"
    assert again.path_for(item).read_bytes() == data


async def test_large_part_is_vouched_for_while_it_downloads(rig: Rig) -> None:
    """A power cut runs no cleanup: the store must already know the part is worth resuming, and
    up to which byte it was on disk; past that byte the disk may have kept anything."""
    data = os.urandom(media.RECORD_PART_AFTER + 3 * MiB)
    item = rig.add("clip.mp4", data)
    rig.cloud.slow_bytes_per_s = 64 * MiB
    cache = await rig.cache()
    key = media.PART_PREFIX + cache.path_for(item).name
    seen: list[Any] = []
    with trio.CancelScope() as scope:

        def progress(done: int, total: int) -> None:
            seen.append((done, rig.store.get_sync(key)))
            if done > media.RECORD_PART_AFTER:
                scope.cancel()

        await rig.ensure(cache, item, progress=progress)
    assert seen[0][1] is None
    done, during = seen[-1]
    assert during["owner"] == f"{item.checksum}:{len(data)}"
    assert media.RECORD_PART_AFTER <= during["durable"] <= done

    # What the cut leaves: the record as it was, and garbage past its durable bytes.
    rig.store.set_sync(key, during)
    part = cache.path_for(item).with_name(cache.path_for(item).name + ".part")
    with part.open("r+b") as f:
        f.seek(during["durable"])
        f.write(b"\0" * 2 * MiB)
    rig.cloud.slow_bytes_per_s = None
    assert await rig.ensure(await rig.cache(), item) == len(data) - during["durable"]
    assert rig.media_requests()[-1].headers["range"] == f"bytes={during['durable']}-"
    assert cache.path_for(item).read_bytes() == data


async def test_a_resumed_part_that_was_damaged_is_fetched_whole_at_once(rig: Rig) -> None:
    """A disk that lost writes it had acknowledged leaves a part that resumes into the wrong MD5:
    the same ensure fetches the whole file again instead of failing until the next sync."""
    data = os.urandom(3 * MiB)
    item = rig.add("clip.mp4", data)
    rig.cloud.truncate_at = 2 * MiB
    cache = await rig.cache()
    with pytest.raises(UpstreamError):
        await rig.ensure(cache, item)
    part = cache.path_for(item).with_name(cache.path_for(item).name + ".part")
    kept = part.stat().st_size
    with part.open("r+b") as f:
        f.seek(kept // 2)
        f.write(b"\xff" * 100)

    assert await rig.ensure(cache, item) == len(data) - kept + len(data)
    ranges = [r.headers.get("range") for r in rig.media_requests()[-2:]]
    assert ranges == [f"bytes={kept}-", None]
    assert cache.path_for(item).read_bytes() == data
    assert not part.exists()
    assert rig.sample("edgebox_download_failures_total", reason="damaged_part") == 1


async def test_a_resumed_download_the_cloud_serves_wrong_is_tried_whole_once_then_fails(
    rig: Rig,
) -> None:
    data = os.urandom(2 * MiB)
    item = rig.add("clip.mp4", data)
    rig.cloud.truncate_at = MiB
    cache = await rig.cache()
    with pytest.raises(UpstreamError):
        await rig.ensure(cache, item)

    rig.add("clip.mp4", os.urandom(len(data)), media_id=item.media_id)  # not what `item` says
    with pytest.raises(ChecksumMismatch):
        await rig.ensure(cache, item)
    assert [r.headers.get("range") for r in rig.media_requests()[-2:]] == [f"bytes={MiB}-", None]
    assert cache.locate(item) is None
    assert list(cache.directory.iterdir()) == []


async def test_server_that_ignores_the_range_gets_the_file_again_from_the_start(rig: Rig) -> None:
    data = os.urandom(2 * MiB + 3)
    item = rig.add("clip.mp4", data)
    rig.cloud.truncate_at = MiB + 100
    cache = await rig.cache()
    with pytest.raises(UpstreamError):
        await rig.ensure(cache, item)

    rig.cloud.ignore_range = True
    assert await rig.ensure(cache, item) == len(data)
    assert rig.media_requests()[-1].headers["range"] == f"bytes={MiB + 100}-"
    assert cache.path_for(item).read_bytes() == data


async def test_part_of_an_older_version_is_not_resumed(rig: Rig) -> None:
    old = os.urandom(2 * MiB)
    item = rig.add("clip.mp4", old, media_id=7)
    rig.cloud.truncate_at = MiB
    cache = await rig.cache()
    with pytest.raises(UpstreamError):
        await rig.ensure(cache, item)

    new = os.urandom(2 * MiB)
    item = rig.add("clip.mp4", new, media_id=7)
    assert await rig.ensure(cache, item) == len(new)
    assert "range" not in rig.media_requests()[-1].headers
    assert cache.path_for(item).read_bytes() == new


def range_refusing_cloud(
    data: bytes, answer: Callable[[int], httpx.Response]
) -> httpx.MockTransport:
    """A cloud that answers `answer(start)` to any range request and the whole file otherwise."""

    def handle(request: httpx.Request) -> httpx.Response:
        asked = request.headers.get("range")
        if asked:
            return answer(int(asked.removeprefix("bytes=").rstrip("-")))
        return httpx.Response(200, content=data)

    return httpx.MockTransport(handle)


@pytest.mark.parametrize(
    "answer",
    [
        lambda start: httpx.Response(416, headers={"Content-Range": "bytes */0"}),
        lambda start: httpx.Response(
            206, headers={"Content-Range": "bytes 0-9/10"}, content=b"x" * 10
        ),
    ],
    ids=["416", "206-from-elsewhere"],
)
async def test_refused_or_misplaced_range_starts_over_without_one(
    rig: Rig, answer: Callable[[int], httpx.Response]
) -> None:
    data = os.urandom(MiB + 1)
    item = rig.add("clip.mp4", data)
    rig.cloud.truncate_at = 1000
    cache = await rig.cache()
    with pytest.raises(UpstreamError):
        await rig.ensure(cache, item)

    sent: list[httpx.Request] = []
    transport = range_refusing_cloud(data, answer)

    async def record(request: httpx.Request) -> None:
        sent.append(request)

    async with httpx.AsyncClient(transport=transport, event_hooks={"request": [record]}) as http:
        assert await cache.ensure(http_fetch(http, "http://cloud.test/m", {}), item) == len(data)
    assert [r.headers.get("range") for r in sent] == ["bytes=1000-", None]
    assert cache.path_for(item).read_bytes() == data


async def test_wrong_checksum_never_lands_and_the_next_ensure_tries_again(rig: Rig) -> None:
    data = os.urandom(MiB + 5)
    item = rig.add("logo.png", data)
    rig.cloud.wrong_checksum.add(item.media_id)
    cache = await rig.cache()

    for attempt in (1, 2):
        with pytest.raises(ChecksumMismatch):
            await rig.ensure(cache, item)
        assert list(cache.directory.iterdir()) == []
        assert len(rig.media_requests()) == attempt
        assert "range" not in rig.media_requests()[-1].headers
    assert cache.locate(item) is None
    assert cache.used_bytes() == 0
    assert rig.sample("edgebox_download_failures_total", reason="checksum") == 2

    rig.cloud.wrong_checksum.clear()
    assert await rig.ensure(cache, item) == len(data)
    assert cache.path_for(item).read_bytes() == data


async def test_body_of_another_size_than_announced_is_refused(rig: Rig) -> None:
    data = os.urandom(5000)
    item = rig.add("logo.png", data)
    cache = await rig.cache()
    for size in (len(data) - 1, len(data) + 1):
        with pytest.raises(ChecksumMismatch, match="bytes"):
            await rig.ensure(cache, attrs.evolve(item, file_size=size))
        assert list(cache.directory.iterdir()) == []


async def test_chunked_body_longer_than_announced_stops_at_the_announced_size(rig: Rig) -> None:
    data = os.urandom(3 * MiB)
    item = rig.add("clip.mp4", data, media_id=9)

    async def body() -> AsyncIterator[bytes]:
        for i in range(0, len(data), 65536):
            yield data[i : i + 65536]

    def handle(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body())

    cache = await rig.cache()
    short = attrs.evolve(item, file_size=MiB, checksum=hashlib.md5(data[:MiB]).hexdigest())
    async with httpx.AsyncClient(transport=httpx.MockTransport(handle)) as http:
        with pytest.raises(ChecksumMismatch, match="more than"):
            await cache.ensure(http_fetch(http, "http://cloud.test/m", {}), short)
    assert list(cache.directory.iterdir()) == []


# Names


HOSTILE_NAMES = [
    "../../x",
    "/etc/passwd",
    "a\0b",
    "",
    ".",
    "..",
    ".hidden",
    "a/b/../../c",
    "..\\..\\win.ini",
    "x" * 5000 + ".mp4",
    "視頻 ünïcödé 🎬.mp4",
    "clip.mp4.part",
    "\n\r\t",
]


async def test_hostile_names_from_the_cloud_stay_inside_the_cache_directory(rig: Rig) -> None:
    cache = await rig.cache()
    directory = cache.directory.resolve()
    for i, name in enumerate(HOSTILE_NAMES):
        data = os.urandom(100 + i)
        raw = rig.cloud.add_media(
            name, data, media_id=500 + i, media_url=f"/media/images/{500 + i}/file"
        )
        item = media_item(raw)
        assert await rig.ensure(cache, item) == len(data)
        path = cache.path_for(item)
        assert path.resolve().parent == directory
        assert path.read_bytes() == data
        assert len(path.name) <= MAX_NAME
    names = sorted(p.name for p in cache.directory.iterdir())
    assert len(names) == len(HOSTILE_NAMES)
    assert all(not n.startswith(".") and not n.endswith(".part") for n in names)
    state = rig.store.cache.directory
    for path in rig.root.parent.rglob("*"):
        if path.is_file():
            assert path.parent in (cache.directory, Path(state)), path


@given(st.integers(0, 2**53), st.text())
def test_safe_name_is_always_one_plain_file_name(media_id: int, name: str) -> None:
    safe = safe_name(media_id, name)
    assert safe.startswith(f"{media_id}_")
    assert 0 < len(safe) <= MAX_NAME
    assert set(safe) <= set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")
    assert safe not in (".", "..") and not safe.startswith(".")
    assert not safe.endswith(".part")
    assert Path("/cache", safe).parent == Path("/cache")


def test_safe_name_keeps_what_it_can() -> None:
    assert safe_name(38, "logo1.jpg") == "38_logo1.jpg"
    assert safe_name(1, "Café menu.png") == "1_Cafe_menu.png"
    assert safe_name(2, "../../x") == "2__.._x"
    assert safe_name(3, "") == safe_name(3, "...") == "3_media"
    long = safe_name(4, "a" * 500 + ".webm")
    assert len(long) == MAX_NAME and long.endswith("a.webm")


# Trusting what was verified


async def test_unchanged_file_is_trusted_without_a_request_or_a_rehash(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = rig.add("clip.mp4", os.urandom(2 * MiB))
    cache = await rig.cache()
    await rig.ensure(cache, item)
    hashed = spy_hashing(monkeypatch)
    requests = len(rig.media_requests())

    assert await rig.ensure(cache, item) == 0
    assert await rig.ensure(await rig.cache(), item) == 0  # after a restart, from the store
    assert hashed == []
    assert len(rig.media_requests()) == requests


async def test_file_changed_on_disk_is_hashed_again_and_replaced(
    rig: Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(MiB + 1)
    item = rig.add("clip.mp4", data)
    cache = await rig.cache()
    await rig.ensure(cache, item)
    path = cache.path_for(item)
    hashed = spy_hashing(monkeypatch)

    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert await rig.ensure(cache, item) == 0  # touched, same bytes: hashed once, trusted again
    assert hashed == [len(data)]
    assert await rig.ensure(cache, item) == 0
    assert hashed == [len(data)]

    with path.open("r+b") as f:
        f.write(b"\0" * 10)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))
    assert await cache.verified(item) is None
    assert await rig.ensure(cache, item) == len(data)
    assert path.read_bytes() == data

    path.write_bytes(b"short")
    assert await cache.verified(item) is None
    assert await rig.ensure(cache, item) == len(data)
    path.unlink()
    assert await cache.verified(item) is None
    assert cache.locate(item) is None


# Space


async def test_file_over_max_file_bytes_is_refused_without_a_request(rig: Rig) -> None:
    item = rig.add("big.mp4", os.urandom(10_001))
    cache = await rig.cache(max_file_bytes=10_000)
    with pytest.raises(StorageFull, match="max_file_bytes"):
        await rig.ensure(cache, item)
    assert rig.media_requests() == []
    assert rig.sample("edgebox_download_failures_total", reason="too_large") == 1


async def age(cache: MediaCache, items: list[MediaItem]) -> None:
    """Give files mtimes in the order of `items`, oldest first."""
    for i, item in enumerate(items):
        os.utime(cache.path_for(item), ns=(10**18 + i * 10**9, 10**18 + i * 10**9))
    for item in items:
        await cache.verified(item)  # re-verify the touched files so the index matches again


async def test_eviction_by_budget_removes_unreferenced_files_oldest_first(rig: Rig) -> None:
    a, b, c, d = (rig.add(f"{n}.png", os.urandom(10_000)) for n in "abcd")
    cache = await rig.cache()
    for item in (a, b, c, d):
        await rig.ensure(cache, item)
    await age(cache, [a, b, c, d])
    stray = rig.add("stray.png", os.urandom(300_000))
    kept_part = rig.add("kept.png", os.urandom(300_000))
    for item in (stray, kept_part):
        rig.cloud.truncate_at = 1000
        with pytest.raises(UpstreamError):
            await rig.ensure(cache, item)

    smaller = await rig.cache(max_bytes=25_000 + 1000)
    assert smaller.used_bytes() == 42_000
    removed = await smaller.evict([c, kept_part])
    assert removed == [
        f"{stray.media_id}_stray.png.part",
        f"{a.media_id}_a.png",
        f"{b.media_id}_b.png",
    ]
    names = sorted(p.name for p in smaller.directory.iterdir())
    assert names == sorted(
        [
            smaller.path_for(c).name,
            smaller.path_for(d).name,
            smaller.path_for(kept_part).name + ".part",
        ]
    )
    assert smaller.used_bytes() == 21_000
    assert smaller.locate(a) is None and smaller.locate(c) is not None
    assert await smaller.evict([c, kept_part]) == []


async def test_ensure_evicts_unreferenced_files_to_make_room(rig: Rig) -> None:
    a, b, c = (rig.add(f"{n}.png", os.urandom(10_000)) for n in "abc")
    cache = await rig.cache(max_bytes=25_000)
    await rig.ensure(cache, a)
    await rig.ensure(cache, b)

    with pytest.raises(StorageFull, match="max_bytes"):
        await rig.ensure(cache, c)
    with pytest.raises(StorageFull, match="max_bytes"):
        await rig.ensure(cache, c, keep=[a, b, c])
    assert len(rig.media_requests()) == 2

    assert await rig.ensure(cache, c, keep=[b, c]) == 10_000
    assert cache.locate(a) is None
    assert sorted(p.name for p in cache.directory.iterdir()) == sorted(
        [cache.path_for(b).name, cache.path_for(c).name]
    )
    assert rig.sample("edgebox_cache_bytes") == 20_000


async def test_free_space_reserve_is_kept(rig: Rig) -> None:
    a, b = rig.add("a.png", os.urandom(1000)), rig.add("b.png", os.urandom(1000))
    cache = await rig.cache()
    await rig.ensure(cache, a)
    await rig.ensure(cache, b)

    free = shutil.disk_usage(rig.root).free
    tight = await rig.cache(min_free_bytes=free + 2**30)
    c = rig.add("c.png", os.urandom(1000))
    with pytest.raises(StorageFull, match="min_free_bytes"):
        await rig.ensure(tight, c, keep=[a, c])
    assert tight.locate(b) is None and tight.locate(a) is not None
    assert await tight.evict([a]) == []
    assert sorted(p.name for p in tight.directory.iterdir()) == [tight.path_for(a).name]


async def test_remove_except_keeps_only_referenced_files(rig: Rig) -> None:
    a, b = rig.add("a.png", os.urandom(1000)), rig.add("b.png", os.urandom(1000))
    cut = rig.add("c.mp4", os.urandom(200_000))
    cache = await rig.cache()
    await rig.ensure(cache, a)
    await rig.ensure(cache, b)
    rig.cloud.truncate_at = 5000
    with pytest.raises(UpstreamError):
        await rig.ensure(cache, cut)

    removed = await cache.remove_except([b])
    assert sorted(removed) == sorted([cache.path_for(a).name, cache.path_for(cut).name + ".part"])
    assert [p.name for p in cache.directory.iterdir()] == [cache.path_for(b).name]
    assert cache.used_bytes() == 1000

    assert await rig.ensure(await rig.cache(), cut) == 200_000  # nothing left to resume


# Concurrency and the network


class CountingTransport(httpx.AsyncBaseTransport):
    """The real transport, counting responses whose body is still open."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.open = 0
        self.most = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.open += 1
        self.most = max(self.most, self.open)
        stream = response.stream
        counter = self

        class Counted(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                async for chunk in stream:  # type: ignore[union-attr]
                    yield chunk

            async def aclose(self) -> None:
                counter.open -= 1
                await stream.aclose()  # type: ignore[union-attr]

        response.stream = Counted()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


async def test_no_more_downloads_in_flight_than_configured(rig: Rig) -> None:
    items = [rig.add(f"{i}.png", os.urandom(40_000)) for i in range(6)]
    rig.cloud.slow_bytes_per_s = 200_000
    cache = await rig.cache(max_concurrent_downloads=2)
    transport = CountingTransport()
    results: list[int] = []
    async with httpx.AsyncClient(transport=transport) as http:

        async def one(item: MediaItem) -> None:
            results.append(await cache.ensure(http_fetch(http, rig.url(item), rig.headers), item))

        async with trio.open_nursery() as nursery:
            for item in items:
                nursery.start_soon(one, item)
    assert results == [40_000] * 6
    assert transport.most == 2
    assert all(md5_of(cache.path_for(i)) == i.checksum for i in items)


async def test_same_item_ensured_twice_at_once_is_downloaded_once(rig: Rig) -> None:
    item = rig.add("clip.mp4", os.urandom(100_000))
    rig.cloud.slow_bytes_per_s = 1_000_000
    cache = await rig.cache()
    results: list[int] = []

    async def one() -> None:
        results.append(await rig.ensure(cache, item))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(one)
        nursery.start_soon(one)
    assert sorted(results) == [0, 100_000]
    assert len(rig.media_requests()) == 1


async def test_cancelled_download_keeps_its_part_and_resumes(rig: Rig) -> None:
    data = os.urandom(2 * MiB)
    item = rig.add("clip.mp4", data)
    rig.cloud.slow_bytes_per_s = 4 * MiB
    cache = await rig.cache()
    with trio.CancelScope() as scope:
        await rig.ensure(cache, item, progress=lambda done, total: scope.cancel())
    assert scope.cancelled_caught
    part = cache.path_for(item).with_name(cache.path_for(item).name + ".part")
    kept = part.stat().st_size
    assert 0 < kept < len(data)

    rig.cloud.slow_bytes_per_s = None
    assert await rig.ensure(cache, item) == len(data) - kept
    assert cache.path_for(item).read_bytes() == data


async def test_http_errors_are_upstream_errors_and_nothing_is_left_behind(rig: Rig) -> None:
    item = rig.add("clip.mp4", os.urandom(1000))
    cache = await rig.cache()
    rig.cloud.fail_status = 500
    with pytest.raises(UpstreamError, match="HTTP 500"):
        await rig.ensure(cache, item)
    rig.cloud.fail_status = None
    with pytest.raises(UpstreamError, match="HTTP 401"):
        await cache.ensure(http_fetch(rig.http, rig.url(item), {}), item)
    assert list(cache.directory.iterdir()) == []
    assert rig.sample("edgebox_download_failures_total", reason="http") == 2
    assert await rig.ensure(cache, item) == 1000


async def test_unreachable_cloud_is_an_upstream_error(rig: Rig) -> None:
    item = rig.add("clip.mp4", os.urandom(1000))
    cache = await rig.cache()
    with pytest.raises(UpstreamError) as raised:
        await cache.ensure(http_fetch(rig.http, "http://127.0.0.1:9/media/x", rig.headers), item)
    assert isinstance(raised.value.__cause__, httpx.ConnectError)
    with pytest.raises(UpstreamError):
        await cache.ensure(http_fetch(rig.http, "http://[::1", rig.headers), item)


async def test_headers_are_sent_exactly_as_given(rig: Rig) -> None:
    item = rig.add("clip.mp4", os.urandom(1000))
    cache = await rig.cache()
    headers = {**rig.headers, "X-Edgebox-Trace": "abc"}
    await cache.ensure(http_fetch(rig.http, rig.url(item), headers), item)
    sent = rig.media_requests()[-1].headers
    assert sent["authorization"] == rig.headers["Authorization"]
    assert sent["x-edgebox-trace"] == "abc"


async def test_store_records_follow_the_files(rig: Rig) -> None:
    item = rig.add("clip.mp4", os.urandom(1000))
    cache = await rig.cache()
    await rig.ensure(cache, item)
    name = cache.path_for(item).name
    record = await rig.store.get(media.VERIFIED_PREFIX + name)
    st = cache.path_for(item).stat()
    assert record == {"size": 1000, "mtime_ns": st.st_mtime_ns, "md5": item.checksum}

    cache.path_for(item).unlink()
    await rig.cache()
    assert await rig.store.get(media.VERIFIED_PREFIX + name) is None
