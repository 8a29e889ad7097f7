"""Power cuts for the box's local state, as a harness the tests and bench/powercuts.py share.

The real gateway runs as `edgebox run` in its own process (cloud off, LAN on 127.0.0.1). A
client keeps changing what the box holds, one request at a time: LED playlist edits and
brightness through the LED API, M3U imports through the admin API and `edgebox iptv import`.
At a random moment (seeded) the box gets SIGKILL, sometimes while it is still starting. Then,
before and after the restart, the harness checks:

- the store opens, and the catalog and playlist in it load without a skipped entry;
- what the box shows is the last acknowledged (2xx) state, or that state plus the one
  change that was in flight when the power went;
- no import is half applied: every imported channel carries the same import's URL.

To add cuts during other work (media sync, cache eviction), append a `Workload` (its changes
and its expected state) to `PowerCuts.workloads` and a check to `PowerCuts.checks`; each
check gets the data directory of a box that is down and returns its problems.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import httpx
import trio

from edgebox.cache.store import Store
from edgebox.core.errors import ValidationError
from edgebox.iptv.catalog import Catalog
from edgebox.ledsign import model as ledsign
from tests.support.net import free_port
from tests.support.venues import offline_venue

TOKEN = "powercut-admin-token"

Row = tuple[str, str, float]  # an LED item as the harness tells them apart: id, text, duration


@attrs.frozen
class State:
    """What the box holds that the harness changes."""

    playlist: tuple[Row, ...] = ()
    brightness: int = 100
    channels: int | None = None  # which import the channels come from; None before any


@attrs.frozen
class Change:
    """One request, and the state it leaves once the box has applied it."""

    name: str
    send: Callable[[httpx.AsyncClient], Awaitable[bool]]  # True when acknowledged
    after: State


# A workload picks the next change from the current state; it may run a subprocess.
Workload = Callable[["PowerCuts", State], Change]
Check = Callable[[Path], list[str]]


def item_body(row: Row) -> dict[str, Any]:
    return {"id": row[0], "duration": row[2], "content": {"type": "Text", "data": {"text": row[1]}}}


def playlist_rows(items: list[dict[str, Any]]) -> tuple[Row, ...]:
    return tuple((i["id"], i["content"]["data"]["text"], float(i["duration"])) for i in items)


def m3u(version: int, channels: int) -> str:
    return "#EXTM3U\n" + "".join(
        f'#EXTINF:-1 group-title="G{i % 7}",Channel {i}\nhttp://stream.example/{version}/{i}\n'
        for i in range(channels)
    )


def import_version(channels: list[dict[str, Any]]) -> tuple[set[int], int]:
    """The import versions the channels' URLs name, and how many channels there are."""
    return {int(c["url"].split("/")[-2]) for c in channels}, len(channels)


def led_edit(cuts: PowerCuts, state: State) -> Change:
    """Add, replace, delete or reorder playlist items, or set the brightness."""
    rng, rows = cuts.rng, list(state.playlist)
    kind = rng.choice(["add", "add", "update", "delete", "reorder", "brightness"])
    if kind == "add" and len(rows) >= 40:
        kind = "delete"
    if kind in ("update", "delete", "reorder") and not rows:
        kind = "add"
    n = cuts.next_number()
    if kind == "add":
        row = (f"item-{n}", f"text {n}", float(rng.randint(1, 60)))
        after = attrs.evolve(state, playlist=(*rows, row))
        return Change(
            kind, lambda c: _ok(c.post("/api/playlist/items", json=item_body(row))), after
        )
    if kind == "update":
        at = rng.randrange(len(rows))
        row = (rows[at][0], f"text {n}", float(rng.randint(1, 60)))
        after = attrs.evolve(
            state, playlist=tuple(row if i == at else r for i, r in enumerate(rows))
        )
        url = f"/api/playlist/items/{row[0]}"
        return Change(kind, lambda c: _ok(c.put(url, json=item_body(row))), after)
    if kind == "delete":
        gone = rows.pop(rng.randrange(len(rows)))
        url = f"/api/playlist/items/{gone[0]}"
        return Change(kind, lambda c: _ok(c.delete(url)), attrs.evolve(state, playlist=tuple(rows)))
    if kind == "reorder":
        rng.shuffle(rows)
        ids = [r[0] for r in rows]
        after = attrs.evolve(state, playlist=tuple(rows))
        return Change(
            kind, lambda c: _ok(c.put("/api/playlist/reorder", json={"item_ids": ids})), after
        )
    level = rng.randint(0, 100)
    after = attrs.evolve(state, brightness=level)
    body = {"brightness": level}
    return Change(kind, lambda c: _ok(c.put("/api/settings/brightness", json=body)), after)


def iptv_import(cuts: PowerCuts, state: State) -> Change:
    """A whole M3U import, through the admin API or (now and then) `edgebox iptv import`."""
    version = cuts.next_number()
    after = attrs.evolve(state, channels=version)
    text = m3u(version, cuts.channels_per_import)
    if cuts.rng.random() < cuts.cli_share:
        playlist = cuts.workdir / f"import-{version}.m3u"
        playlist.write_text(text)
        command = [
            sys.executable, "-m", "edgebox", "iptv", "--config", str(cuts.venue),
            "import", str(playlist), "--type", "FTA",
        ]  # fmt: skip

        async def by_cli(_client: httpx.AsyncClient) -> bool:
            done = await trio.run_process(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
            )
            return done.returncode == 0

        return Change("cli import", by_cli, after)
    body = {"playlist": text, "type": "FTA"}
    return Change(
        "import", lambda c: _ok(c.post("/api/admin/iptv/channels/import", json=body)), after
    )


async def _ok(request: Awaitable[httpx.Response]) -> bool:
    return (await request).is_success


@attrs.define
class Figures:
    cuts: int = 0
    cuts_in_flight: int = 0  # a change was on its way when the power went
    cuts_at_startup: int = 0
    in_flight_applied: int = 0  # of those, how many the box had applied
    acknowledged: int = 0
    changes_by_kind: dict[str, int] = attrs.Factory(dict)
    restart_seconds: list[float] = attrs.Factory(list)
    problems: list[str] = attrs.Factory(list)


class StoreWarnings(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.seen.append(record.getMessage())


def store_problems(data: Path) -> list[str]:
    """The store opens, and its catalog and LED playlist load whole."""
    warnings = StoreWarnings()
    logger = logging.getLogger("edgebox.iptv.catalog")
    logger.addHandler(warnings)
    found = []
    try:
        store = Store.open_sync(data / "state")
        try:
            Catalog.load_sync(store)
            for index, raw in enumerate(store.get_sync("led/items", [])):
                try:
                    ledsign.parse_item(raw)
                except ValidationError as exc:
                    found.append(f"store: LED item {index} is unreadable: {exc}")
        finally:
            store.close_sync()
    except Exception as exc:  # whatever goes wrong here is what the harness reports
        found.append(f"the store does not load: {type(exc).__name__}: {exc}")
    finally:
        logger.removeHandler(warnings)
    return [f"store: {w}" for w in warnings.seen] + found


@attrs.define
class PowerCuts:
    """Cut the power `cuts` times; `figures` says what happened."""

    workdir: Path
    seed: int = 1
    channels_per_import: int = 1500
    max_gap: float = 0.4  # a cut lands 0 to this many seconds into the box's work
    startup_share: float = 0.1  # of cuts, those that land while the box starts
    cli_share: float = 0.1  # of imports, those that go through `edgebox iptv import`
    workloads: list[tuple[float, Workload]] = attrs.Factory(
        lambda: [(0.7, led_edit), (0.3, iptv_import)]
    )
    checks: list[Check] = attrs.Factory(lambda: [store_problems])
    figures: Figures = attrs.Factory(Figures)
    rng: random.Random = attrs.field(init=False)
    port: int = attrs.field(init=False, factory=free_port)
    _numbers: int = attrs.field(init=False, default=0)
    _last_cut: trio.Process | None = attrs.field(init=False, default=None)

    def __attrs_post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.data.mkdir(parents=True, exist_ok=True)
        self.venue.write_text(offline_venue("powercut", self.data, self.port, admin_token=TOKEN))

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def venue(self) -> Path:
        return self.workdir / "venue.toml"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def next_number(self) -> int:
        self._numbers += 1
        return self._numbers

    def pick(self, state: State) -> Change:
        weights = [w for w, _ in self.workloads]
        workload = self.rng.choices([w for _, w in self.workloads], weights)[0]
        return workload(self, state)

    async def run(self, cuts: int) -> Figures:
        """Cut the power `cuts` times, then start the box once more to check the last cut."""
        expected: Expected = State()
        for number in range(cuts + 1):
            last = number == cuts
            box, began = await self._start()
            try:
                if not last and self.rng.random() < self.startup_share:
                    await trio.sleep(self.rng.uniform(0, 1.0))
                    self.figures.cuts_at_startup += 1
                    self._cut(box)
                    continue
                await self._until_serving(box)
                self.figures.restart_seconds.append(time.monotonic() - began)
                state = await self._check_served(expected)
                if not last:
                    expected = await self._work_until_cut(box, state)
            finally:
                with trio.CancelScope(shield=True):
                    if box.returncode is None:
                        if last:
                            box.terminate()
                        else:
                            self._cut(box)
                    await box.wait()
                self._check_log()
                for check in self.checks:
                    self.figures.problems += await trio.to_thread.run_sync(check, self.data)
        return self.figures

    async def _start(self) -> tuple[trio.Process, float]:
        with self.log.open("w") as out:
            began = time.monotonic()
            box = await trio.lowlevel.open_process(
                [sys.executable, "-m", "edgebox", "run", "--config", str(self.venue)],
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        return box, began

    @property
    def log(self) -> Path:
        return self.workdir / "box.log"

    def _cut(self, box: trio.Process) -> None:
        if box.returncode is None and box is not self._last_cut:
            os.kill(box.pid, signal.SIGKILL)
            self._last_cut = box
            self.figures.cuts += 1

    async def _until_serving(self, box: trio.Process) -> None:
        with trio.fail_after(60):
            async with httpx.AsyncClient(base_url=self.base, timeout=2) as probe:
                while True:
                    if box.returncode is not None:
                        raise RuntimeError(f"the box exited with {box.returncode}")
                    try:
                        if (await probe.get("/healthz")).status_code == 200:
                            return
                    except httpx.TransportError:
                        pass
                    await trio.sleep(0.05)

    async def _work_until_cut(self, box: trio.Process, state: State) -> Expected:
        """Send changes one after another until the power goes. After the restart the box
        must show `state`, or the change in flight applied to it."""
        sending: list[Change] = []
        caught: list[Change] = []
        headers = {"Authorization": f"Bearer {TOKEN}"}
        gap = self.rng.uniform(0, self.max_gap)
        async with (
            httpx.AsyncClient(base_url=self.base, headers=headers, timeout=30) as client,
            trio.open_nursery() as nursery,
        ):

            async def cut_after_gap() -> None:
                await trio.sleep(gap)
                caught.extend(sending)
                self._cut(box)

            nursery.start_soon(cut_after_gap)
            while not caught and box.returncode is None:
                change = self.pick(state)
                sending.append(change)
                try:
                    acknowledged = await change.send(client)
                except httpx.TransportError:
                    acknowledged = False
                sending.clear()
                if acknowledged:
                    state = change.after
                    self.figures.acknowledged += 1
                    kinds = self.figures.changes_by_kind
                    kinds[change.name] = kinds.get(change.name, 0) + 1
                elif not caught and box.returncode is None:
                    self.figures.problems.append(f"the box refused a {change.name}")
                    await trio.sleep(gap)  # let the cut come
        if not caught:
            return state
        self.figures.cuts_in_flight += 1
        return InFlight(state, caught[0])

    async def _check_served(self, expected: Expected) -> State:
        """What the box serves after a restart: the acknowledged state, or that state with the
        change in flight applied; anything else, and any half-applied import, is a problem."""
        allowed = [expected] if isinstance(expected, State) else [expected.state, expected.after]
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(base_url=self.base, headers=headers, timeout=30) as client:
            items = (await client.get("/api/playlist/items")).json()
            brightness = (await client.get("/api/settings/brightness")).json()["brightness"]
            channels = (await client.get("/api/admin/iptv/channels")).json()
        versions, count = import_version(channels)
        if len(versions) > 1 or (versions and count != self.channels_per_import):
            self.figures.problems.append(
                f"a half-applied import: {count} channels from imports {sorted(versions)}"
            )
        seen = State(playlist_rows(items), brightness, max(versions, default=None))
        if seen not in allowed:
            self.figures.problems.append(f"after a cut the box shows {seen}, not {allowed}")
        elif isinstance(expected, InFlight) and seen == expected.after != expected.state:
            self.figures.in_flight_applied += 1
        return seen

    def _check_log(self) -> None:
        for line in self.log.read_text(errors="replace").splitlines():
            if "Traceback" in line or "unreadable" in line or " ERROR " in line:
                self.figures.problems.append(f"box log: {line[:200]}")


@attrs.frozen
class InFlight:
    """Acknowledged `state`, and a change the cut caught on its way: only a restart tells
    whether the box applied it."""

    state: State
    change: Change

    @property
    def after(self) -> State:
        return self.change.after


Expected = State | InFlight


def report(figures: Figures, elapsed: float) -> str:
    restarts = sorted(figures.restart_seconds) or [float("nan")]
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(figures.changes_by_kind.items()))
    return "\n".join(
        [
            f"cuts {figures.cuts} (at startup {figures.cuts_at_startup}, with a change in flight"
            f" {figures.cuts_in_flight}, of which applied {figures.in_flight_applied})",
            f"acknowledged changes {figures.acknowledged}: {kinds}",
            f"restart to serving: median {restarts[len(restarts) // 2]:.2f} s,"
            f" max {restarts[-1]:.2f} s",
            f"problems {len(figures.problems)}",
            *(f"  {p}" for p in figures.problems[:20]),
            f"in {elapsed:.1f} s",
        ]
    )
