"""A venue after a power cut: N TVs, each from its own loopback address, call check-device
within one second, then poll channels. Prints answered, errors, 429s, latency, rate and the
RSS of the box, which runs as `edgebox run` in its own process.

    .venv/bin/python bench/herd.py [--tvs 500] [--polls 2] [--interval 30]
"""

from __future__ import annotations

import argparse
import random
import resource
import subprocess
import sys
import tempfile
import time
from functools import partial
from pathlib import Path

import httpx
import trio

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from edgebox.cache.store import Store
from edgebox.iptv.catalog import Catalog
from tests.support.net import free_port
from tests.support.venues import offline_venue

PLAYLIST = "#EXTM3U\n" + "".join(
    f'#EXTINF:-1 tvg-logo="http://logo.example/{i}.png" group-title="G{i % 5}",Channel {i}\n'
    f"http://stream.example/{i}.m3u8\n"
    for i in range(60)
)


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.errors = 0
        self.limited = 0
        self.kinds: dict[str, int] = {}

    def line(self, name: str, elapsed: float) -> str:
        lat = sorted(self.latencies)
        p = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000) if lat else (lambda q: 0)
        return (
            f"{name:<13} answered {len(lat):>5}  errors {self.errors}  429 {self.limited}"
            f"  p50 {p(0.5):7.1f} ms  p99 {p(0.99):7.1f} ms  max {p(1.0):7.1f} ms"
            f"  {len(lat) / elapsed:7.0f} req/s" + (f"  {self.kinds}" if self.kinds else "")
        )


def tv_client(number: int, base: str) -> httpx.AsyncClient:
    """A TV's own client from its own loopback address, made before the clock starts (an SSL
    context per client would otherwise eat the box's CPU inside the measured second)."""
    address = f"127.0.{1 + number // 250}.{1 + number % 250}"
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=base, transport=transport, timeout=10)


async def tv(
    client: httpx.AsyncClient, duid: str, polls: int, interval: float, tallies: list[Tally]
) -> None:
    async with client:
        await trio.sleep(random.random())
        for round_ in range(polls + 1):
            tally = tallies[round_]
            began = time.perf_counter()
            try:
                if round_ == 0:
                    r = await client.post("/api/client/check-device", json={"duid": duid})
                else:
                    r = await client.get("/api/client/channels", params={"duid": duid})
            except httpx.HTTPError as exc:
                tally.errors += 1
                tally.kinds[type(exc).__name__] = tally.kinds.get(type(exc).__name__, 0) + 1
            else:
                if r.status_code == 200:
                    tally.latencies.append(time.perf_counter() - began)
                elif r.status_code == 429:
                    tally.limited += 1
                else:
                    tally.errors += 1
            if round_ < polls:
                await trio.sleep(interval + random.uniform(-1, 1) * min(1.0, interval / 10))


def rss_of(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def seed(data: Path, tvs: int) -> list[str]:
    store = await Store.open(data / "state")
    catalog = await Catalog.load(store)
    await catalog.import_m3u(PLAYLIST, "FTA")
    duids = []
    for i in range(tvs):
        device = await catalog.register(f"Room {i}", f"TV{i:04d}", disabled=False)
        duids.append(device.duid)
    store.close_sync()
    return duids


async def main(tvs: int, polls: int, interval: float) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 4 * tvs + 256)), hard))
    with tempfile.TemporaryDirectory(prefix="edgebox-herd-") as tmp:
        data, port = Path(tmp) / "data", free_port()
        venue = Path(tmp) / "venue.toml"
        venue.write_text(offline_venue("herd", data, port, admin_token="t"))
        duids = await seed(data, tvs)
        base = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "edgebox", "run", "--config", str(venue)]
        async with trio.open_nursery() as nursery:
            box = await nursery.start(partial(trio.run_process, command, stderr=subprocess.DEVNULL))
            with trio.fail_after(30):
                async with httpx.AsyncClient(base_url=base) as probe:
                    while True:
                        try:
                            if (await probe.get("/healthz")).status_code == 200:
                                break
                        except httpx.TransportError:
                            await trio.sleep(0.1)
            tallies = [Tally() for _ in range(polls + 1)]
            clients = [tv_client(i, base) for i in range(tvs)]
            rss_before = rss_of(box.pid)
            began = time.perf_counter()
            with trio.fail_after(60 + polls * (interval + 30)):
                async with trio.open_nursery() as herd:
                    for client, duid in zip(clients, duids, strict=True):
                        herd.start_soon(tv, client, duid, polls, interval, tallies)
            elapsed = time.perf_counter() - began
            print(f"{tvs} TVs, {polls} channel polls every {interval:g} s, box in its own process")
            print(tallies[0].line("check-device", 1.0 + max(tallies[0].latencies, default=0)))
            for n, tally in enumerate(tallies[1:], start=1):
                print(tally.line(f"channels #{n}", 1.0 + max(tally.latencies, default=0)))
            total = sum(len(t.latencies) for t in tallies)
            print(
                f"total {total} answered in {elapsed:.1f} s;"
                f" box RSS {rss_before:.0f} MiB idle, {rss_of(box.pid):.0f} MiB after the herd"
            )
            box.terminate()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tvs", type=int, default=500)
    parser.add_argument("--polls", type=int, default=2)
    parser.add_argument("--interval", type=float, default=30.0)
    args = parser.parse_args()
    if not 1 <= args.tvs <= 60_000 or not 0 <= args.polls <= 20:
        parser.error("--tvs must be 1-60000 and --polls 0-20")
    trio.run(main, args.tvs, args.polls, args.interval)
