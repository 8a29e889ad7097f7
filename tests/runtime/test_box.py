from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import trio
import trio.testing

from edgebox.core.backoff import Backoff
from edgebox.runtime.box import Box, Supervisor
from tests.conftest import base_venue


def test_backoff_doubles_up_to_the_cap_with_bounded_jitter() -> None:
    b = Backoff(initial=1, cap=60, jitter=0.2)
    delays = [b.next_delay() for _ in range(10)]
    for n, d in enumerate(delays):
        base = min(60, 2**n)
        assert base * 0.8 <= d <= min(60, base * 1.2)
    b.reset()
    assert b.next_delay() <= 1.2


async def test_failing_service_restarts_with_backoff_and_others_keep_running(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sup = Supervisor(backoff=lambda: Backoff(initial=1, cap=8, jitter=0))
    starts: list[float] = []
    ticks = 0

    async def flaky(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        starts.append(trio.current_time())
        task_status.started()
        raise RuntimeError("panel unplugged")

    async def steady(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        nonlocal ticks
        task_status.started()
        while True:
            await trio.sleep(1)
            ticks += 1

    async with trio.open_nursery() as nursery:
        nursery.start_soon(sup.supervise, "flaky", flaky)
        nursery.start_soon(sup.supervise, "steady", steady)
        await trio.sleep(40.5)
        nursery.cancel_scope.cancel()

    gaps = [round(b - a) for a, b in itertools.pairwise(starts)]
    assert gaps[:5] == [1, 2, 4, 8, 8]
    assert ticks == 40
    assert sup.states["flaky"].last_error == "RuntimeError: panel unplugged"
    assert sup.states["flaky"].restarts == len(starts)
    assert sup.states["steady"].status == "running"
    assert not sup.healthy()


async def test_box_serves_health_on_loopback(box: Box) -> None:
    async with httpx.AsyncClient() as client:
        r = await client.get(box.lan_urls[0] + "/healthz")
        assert r.status_code == 200
        assert r.json()["status"] == "ok"
        r = await client.get(box.lan_urls[0] + "/no/such/route")
        assert r.status_code == 404
        assert "error" in r.json()


def test_sigterm_stops_the_box_within_five_seconds(tmp_path: Path) -> None:
    venue = base_venue(tmp_path / "data")
    path = tmp_path / "venue.toml"
    path.write_text(_to_toml(venue))
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgebox", "run", "--config", str(path)],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        assert proc.stderr is not None
        for line in proc.stderr:
            if "serving on" in line or time.monotonic() > deadline:
                break
        started = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
    finally:
        proc.kill()
        proc.wait()


def _to_toml(venue: dict[str, object]) -> str:
    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        return str(v)

    lines = [f"{k} = {value(v)}" for k, v in venue.items() if not isinstance(v, dict | list)]
    for k, v in venue.items():
        if isinstance(v, dict):
            lines.append(f"[{k}]")
            lines.extend(f"{kk} = {value(vv)}" for kk, vv in v.items())
    return "\n".join(lines) + "\n"
