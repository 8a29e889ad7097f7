"""Thirty days without the cloud, in simulated time: day 30 behaves as day 1, and nothing grows.

The clock is a MockClock that only moves when the test jumps it, an hour at a time, so every
periodic task of the box (sync retries, reconnects, probes, preview expiry) runs on each jump
while the LAN requests between jumps run on real sockets with the clock still.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import trio
import trio.testing

from edgebox.core import config
from edgebox.runtime import wiring

START = dt.datetime(2026, 3, 1, 8, 0, tzinfo=dt.UTC)
ITEM = {
    "duration": 10,
    "content": {"content_type": "Text", "data": {"text": "Today"}},
}


@pytest.fixture
def still_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock()


class Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


def rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def open_files() -> int:
    return len(os.listdir("/proc/self/fd"))


async def a_day_of_use(lan: httpx.AsyncClient, clock: trio.testing.MockClock) -> dict[str, Any]:
    """Hourly TV checks and sign reads, one sign edit and one abandoned preview."""
    statuses = set()
    for _hour in range(24):
        clock.jump(3600)
        answer = await lan.post("/api/client/check-device", json={"duid": "LOBBY-TV"})
        assert answer.status_code == 200, answer.text
        statuses.add(answer.json()["status"])
        assert (await lan.get("/api/playlist/items")).status_code == 200
    added = await lan.post("/api/playlist/items", json=ITEM)
    assert added.status_code == 201
    assert (await lan.delete(f"/api/playlist/items/{added.json()['id']}")).status_code == 204
    assert (await lan.post("/api/preview", json=ITEM)).status_code == 200
    clock.jump(6)
    await trio.testing.wait_all_tasks_blocked(0.05)
    preview = (await lan.get("/api/preview/status")).json()
    return {"statuses": statuses, "preview": preview}


async def rate_limit_holds(lan: httpx.AsyncClient, clock: trio.testing.MockClock) -> None:
    clock.jump(60 - trio.current_time() % 60)
    for _ in range(100):
        assert (await lan.post("/api/client/check-device", json={"duid": "X"})).status_code != 429
    refused = await lan.post("/api/client/check-device", json={"duid": "X"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    clock.jump(61)
    assert (await lan.post("/api/client/check-device", json={"duid": "X"})).status_code != 429


async def test_thirty_days_offline_day_thirty_behaves_as_day_one(
    still_clock: trio.testing.MockClock,
    make_config: Callable[..., config.VenueConfig],
    nursery: trio.Nursery,
) -> None:
    cfg = make_config(cloud={"enabled": True})  # 127.0.0.1:9: nothing listens there
    box = await wiring.open_box(cfg)
    box.iptv.clock = lambda: START + dt.timedelta(seconds=trio.current_time())
    await box.iptv.register(
        "Lobby TV", "LOBBY-TV", expiry_date=(START + dt.timedelta(days=15)).date(), disabled=False
    )
    await nursery.start(wiring.run, box)
    assert box.sync is not None
    counter = Counter()
    logging.getLogger("edgebox").addHandler(counter)
    figures: dict[int, dict[str, Any]] = {}
    try:
        async with httpx.AsyncClient(base_url=box.lan_urls[0]) as lan:
            await rate_limit_holds(lan, still_clock)
            for day in range(1, 31):
                logged_before = counter.count
                used = await a_day_of_use(lan, still_clock)
                figures[day] = {
                    **used,
                    "rss": rss_mib(),
                    "files": open_files(),
                    "outbox": box.sync.outbox.length,
                    "logged": counter.count - logged_before,
                    "sync_runs": box.sync.runs,
                }
            await rate_limit_holds(lan, still_clock)
    finally:
        logging.getLogger("edgebox").removeHandler(counter)

    first, last = figures[1], figures[30]
    assert first["statuses"] == {"active"} and last["statuses"] == {"expired"}
    assert first["preview"] == last["preview"]
    assert last["preview"] == {"active": False}
    # The sync keeps retrying all month; an attempt still on the wire when the clock jumps
    # waits for the next hour, so not every hour has one.
    assert last["sync_runs"] - first["sync_runs"] >= 0.8 * 29 * 24
    assert last["sync_runs"] > figures[29]["sync_runs"]
    assert last["files"] <= first["files"] + 3
    assert last["rss"] - first["rss"] < 20
    assert last["outbox"] == first["outbox"]
    assert max(f["logged"] for f in figures.values()) <= 60
