"""Media sync: MB/s through MediaCache.ensure next to a plain httpx download of the same files,
the downloader's peak RSS growth, and an unchanged resync of many small items.

A SimCloud serves the files from this process on 127.0.0.1; each download pass runs in its own
process, so its RSS is not mixed with the server's copy of the files.

    .venv/bin/python bench/sync.py [--files 20] [--total-mib 1024] [--concurrency 1,3]
                                   [--rate 20] [--small 1000] [--dir /tmp]

The paced run (`--rate` MB/s per response, at the highest concurrency) is what a venue's uplink
looks like; unpaced loopback shows the box's own ceiling: MD5 and disk writes per byte.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import trio

from edgebox.cache.media import MediaCache
from edgebox.cache.store import Store
from edgebox.core.config import CacheConfig
from edgebox.core.values import MediaItem
from edgebox.sim.cloud import SimCloud, serve
from edgebox.upstream.media import http_fetch
from edgebox.upstream.protocol import parse_media_item

MB = 1_000_000


def status_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak of this program; unlike ru_maxrss, not inherited over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# The download side, in its own process: `sync.py --pass raw|cache`, a job as JSON on stdin.


async def raw_pass(job: dict[str, Any], items: list[MediaItem]) -> int:
    """Every file with plain httpx streaming into /dev/null, `concurrency` at a time."""
    limiter = trio.CapacityLimiter(job["concurrency"])
    total = 0
    async with httpx.AsyncClient(trust_env=False, timeout=60) as http:

        async def one(item: MediaItem) -> None:
            nonlocal total
            async with limiter:
                url = job["origin"] + item.media_url
                async with http.stream("GET", url, headers=job["headers"]) as response:
                    response.raise_for_status()
                    with open(os.devnull, "wb") as sink:
                        async for chunk in response.aiter_bytes():
                            sink.write(chunk)
                            total += len(chunk)

        async with trio.open_nursery() as nursery:
            for item in items:
                nursery.start_soon(one, item)
    return total


async def cache_pass(job: dict[str, Any], items: list[MediaItem]) -> int:
    """Every file through MediaCache.ensure into a fresh cache directory."""
    root = Path(job["directory"])
    store = await Store.open(root / "state")
    config = CacheConfig(
        root, max_bytes=2**50, min_free_bytes=0, max_concurrent_downloads=job["concurrency"]
    )
    cache = await MediaCache.open(config, store)
    total = 0
    async with httpx.AsyncClient(trust_env=False, timeout=60) as http:

        async def one(item: MediaItem) -> None:
            nonlocal total
            moved = await cache.ensure(
                http_fetch(http, job["origin"] + item.media_url, job["headers"]), item
            )
            total += moved

        async with trio.open_nursery() as nursery:
            for item in items:
                nursery.start_soon(one, item)
    store.close_sync()
    return total


async def download_pass(kind: str) -> None:
    job = json.loads(sys.stdin.read())
    items = [parse_media_item(raw) for raw in job["items"]]
    run = raw_pass if kind == "raw" else cache_pass
    before, cpu = status_mib("VmRSS"), cpu_seconds()
    began = time.perf_counter()
    total = await run(job, items)
    elapsed = time.perf_counter() - began
    expected = sum(i.file_size for i in items)
    if total != expected:
        raise SystemExit(f"{kind}: transferred {total} bytes, expected {expected}")
    result = {
        "bytes": total,
        "seconds": elapsed,
        "cpu": cpu_seconds() - cpu,
        "rss_before": before,
        "rss_peak": status_mib("VmHWM"),
    }
    print(json.dumps(result))


# The server side and the report.


async def run_pass(kind: str, job: dict[str, Any]) -> dict[str, Any]:
    done = await trio.run_process(
        [sys.executable, __file__, "--pass", kind],
        stdin=json.dumps(job).encode(),
        capture_stdout=True,
    )
    return json.loads(done.stdout)


def line(name: str, result: dict[str, Any], raw: dict[str, Any] | None = None) -> str:
    rate = result["bytes"] / MB / result["seconds"]
    share = "" if raw is None else f" {100 * rate / (raw['bytes'] / MB / raw['seconds']):4.0f} %"
    growth = result["rss_peak"] - result["rss_before"]
    return (
        f"  {name:<26} {result['seconds']:6.2f} s {rate:7.1f} MB/s{share:<6}"
        f"  CPU {result['cpu']:5.2f} s  RSS {result['rss_before']:4.0f} MiB, peak"
        f" +{growth:.1f} MiB"
    )


def ceilings(workdir: Path, size: int = 256 * 2**20) -> str:
    """What this machine's one core does on its own: MD5, and writing plus fsync to `workdir`."""
    data = os.urandom(size)
    began = time.perf_counter()
    hashlib.md5(data).hexdigest()
    md5_rate = size / MB / (time.perf_counter() - began)
    view = memoryview(data)
    with tempfile.NamedTemporaryFile(dir=workdir) as file:
        began = time.perf_counter()
        for offset in range(0, size, 2**20):
            file.write(view[offset : offset + 2**20])
        file.flush()
        os.fsync(file.fileno())
        write_rate = size / MB / (time.perf_counter() - began)
    return f"one core here: MD5 {md5_rate:.0f} MB/s, write + fsync {write_rate:.0f} MB/s"


async def bulk_download(
    cloud: SimCloud,
    token: str,
    workdir: Path,
    files: int,
    total_mib: int,
    concurrencies: list[int],
    rate: int | None,
) -> None:
    """`files` random files totalling `total_mib`, downloaded raw and through the cache; with
    `rate`, each response is paced to that many bytes per second, as a venue's uplink would."""
    total = total_mib * 2**20
    sizes = [total // files + (1 if i < total % files else 0) for i in range(files)]
    raws = [cloud.add_media(f"bulk-{i:02d}.mp4", os.urandom(size)) for i, size in enumerate(sizes)]
    print(await trio.to_thread.run_sync(ceilings, workdir))
    print(
        f"{files} files, {total / 2**20:.0f} MiB of random bytes, served from a process of"
        f" {status_mib('VmRSS'):.0f} MiB; each pass runs in a process of its own"
    )
    runs = [(None, c) for c in concurrencies] + ([(rate, max(concurrencies))] if rate else [])
    for paced, concurrency in runs:
        cloud.slow_bytes_per_s = paced
        directory = Path(tempfile.mkdtemp(prefix="edgebox-bench-sync-", dir=workdir))
        job = {
            "origin": cloud.origin,
            "headers": {"Authorization": f"Bearer {token}"},
            "items": raws,
            "concurrency": concurrency,
            "directory": str(directory),
        }
        raw = await run_pass("raw", job)
        cached = await run_pass("cache", job)
        pace = (
            "loopback, unpaced" if paced is None else f"each response paced to {paced / MB:g} MB/s"
        )
        print(f"{concurrency} at a time, {pace}:")
        print(line("raw httpx -> /dev/null", raw))
        print(line("MediaCache.ensure -> disk", cached, raw))
        await trio.to_thread.run_sync(shutil.rmtree, directory)
    cloud.slow_bytes_per_s = None
    for raw in raws:
        del cloud.media[raw["media_id"]]


async def small_items_resync(cloud: SimCloud, token: str, workdir: Path, count: int) -> None:
    """`count` small items downloaded once, then ensured again unchanged, as every sync after the
    first does: by the same cache, and by a cache reopened from the store (a restart).

    Then the sync loop's own pass over the same items as a 1,000-item playlist: fetch, compare,
    report nothing, apply; what a 5-minute resync of an unchanged venue costs.
    """
    raws = [cloud.add_media(f"small-{i:04d}.png", os.urandom(2048)) for i in range(count)]
    items = [parse_media_item(raw) for raw in raws]
    directory = Path(tempfile.mkdtemp(prefix="edgebox-bench-small-", dir=workdir))
    store = await Store.open(directory / "state")
    config = CacheConfig(directory, max_bytes=2**50, min_free_bytes=0)
    headers = {"Authorization": f"Bearer {token}"}
    requests = len(cloud.requests)
    print(f"{count} small items of 2 KiB:")
    async with httpx.AsyncClient(trust_env=False, timeout=60) as http:

        async def ensure_all(cache: MediaCache) -> tuple[int, float]:
            moved = 0

            async def one(item: MediaItem) -> None:
                nonlocal moved
                n = await cache.ensure(
                    http_fetch(http, cloud.origin + item.media_url, headers), item
                )
                moved += n

            began = time.perf_counter()
            async with trio.open_nursery() as nursery:
                for item in items:
                    nursery.start_soon(one, item)
            return moved, time.perf_counter() - began

        cache = await MediaCache.open(config, store)
        for name in ("first sync", "unchanged resync"):
            moved, seconds = await ensure_all(cache)
            print(
                f"  {name:<28} {moved:>9} bytes transferred  {seconds:6.2f} s"
                f"  {len(cloud.requests) - requests} requests"
            )
            requests = len(cloud.requests)
        began = time.perf_counter()
        reopened = await MediaCache.open(config, store)
        opened = time.perf_counter() - began
        moved, seconds = await ensure_all(reopened)
        print(
            f"  {'after a restart':<28} {moved:>9} bytes transferred  {seconds:6.2f} s"
            f"  {len(cloud.requests) - requests} requests  (open: {opened:.2f} s)"
        )
    store.close_sync()
    await sync_loop_resync(cloud, directory, raws)
    await trio.to_thread.run_sync(shutil.rmtree, directory)


async def sync_loop_resync(cloud: SimCloud, directory: Path, raws: list[dict[str, Any]]) -> None:
    from edgebox.core import config
    from edgebox.hub import Hub
    from edgebox.upstream.client import CloudClient
    from edgebox.upstream.control import Outbox
    from edgebox.upstream.sync import Sync

    cfg = config.parse(
        {
            "cloud": {
                "base_url": cloud.base_url,
                "ws_url": cloud.ws_url,
                "username": "box",
                "password": "s3cret-password",
            },
            "device": {"sn_number": "BENCH-1"},
            "cache": {"directory": str(directory / "box"), "min_free_bytes": 0},
        }
    )
    cloud.require_registration = False
    cloud.set_playlists("front", [cloud.playlist(101, "Thousand", raws)])
    store = await Store.open(cfg.cache.directory / "state")
    outbox = Outbox(store)
    async with CloudClient.make_http(cfg.cloud) as http:
        client = CloudClient(cfg.cloud, "BENCH-1", store, http)
        media = await MediaCache.open(cfg.cache, store)
        sync = Sync(client, media, store, await Hub.load(store), outbox)
        print(f"the sync loop over one playlist of {len(raws)} items:")
        for name in ("first sync", "unchanged resync"):
            sent, requests, queued = cloud.media_bytes_sent, len(cloud.requests), outbox.length
            began = time.perf_counter()
            assert await sync.sync_once()
            seconds = time.perf_counter() - began
            print(
                f"  {name:<28} {cloud.media_bytes_sent - sent:>9} bytes transferred"
                f"  {seconds:6.2f} s  {len(cloud.requests) - requests} requests"
                f"  {outbox.length - queued} status messages"
            )
    store.close_sync()


async def main(args: argparse.Namespace) -> None:
    cloud = SimCloud()
    async with trio.open_nursery() as nursery:
        await nursery.start(serve, cloud)
        token = cloud.issue_tokens("box")["access"]
        workdir = Path(args.dir)
        concurrencies = [int(c) for c in args.concurrency.split(",")]
        if args.total_mib:
            await bulk_download(
                cloud, token, workdir, args.files, args.total_mib, concurrencies, args.rate
            )
        if args.small:
            await small_items_resync(cloud, token, workdir, args.small)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--total-mib", type=int, default=1024)
    parser.add_argument("--concurrency", default="1,3")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument(
        "--rate", type=float, default=20.0, help="MB/s per response for the paced run; 0: none"
    )
    parser.add_argument("--dir", default=tempfile.gettempdir())
    parser.add_argument("--pass", dest="kind", choices=["raw", "cache"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.kind:
        trio.run(download_pass, args.kind)
    elif not 1 <= args.files <= 10_000 or not 0 <= args.total_mib <= 64 * 1024:
        parser.error("--files must be 1-10000 and --total-mib 0-65536")
    else:
        args.rate = int(args.rate * MB) or None
        trio.run(main, args)
