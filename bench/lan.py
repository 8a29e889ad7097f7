"""The LAN under load, measured side by side in one run, every server started here on 127.0.0.1.

- Brightness fan-out: PUT /api/settings/brightness p50/p99 and SSE delivery p99 (PUT sent to
  event read) with 1, 200 and 1,000 listeners on /api/events/brightness, and brightness to the
  first frame at the new level on a virtual panel on a pty.
  The same listeners and changes on a bare quart-trio app whose streams all wait on one event:
  what quart-trio and hypercorn cost per stream, without the box's fan-out.
- IPTV check-device and GET /api/playlist/items at concurrency 1, 50 and 100, against a bare
  quart-trio app under hypercorn that answers the same bytes: req/s, p50/p95/p99, the server's
  CPU per request, and the box's req/s as a ratio of the bare app's. The bare app does a little
  less than it should: hypercorn restarts a connection's keep-alive timer in the request's own
  task, which quart-trio has cancelled by then, so its kept-alive connections never time out.
  The box keeps that timer (`IdleTimer` in edgebox/local/frontdoor.py).
- The 500-TV herd (bench/herd.py) after that.

The box (`edgebox run`) and the bare app each run in their own process, pinned to the second
core when there are two; this process (the clients) keeps the first. Every request loop is
bounded in count and in time. Clients move to a new loopback address every 90 requests, so the
IPTV limit of 100 requests/min per address is never what is measured.

    .venv/bin/python bench/lan.py [--quick] [--no-herd] [--only fan-out|requests] [--rounds N]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from functools import partial
from pathlib import Path

import attrs
import trio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.herd import PLAYLIST  # noqa: E402
from edgebox.cache.store import Store  # noqa: E402
from edgebox.iptv import model as iptv  # noqa: E402
from edgebox.iptv.catalog import DEVICE_PREFIX, IDS, Catalog  # noqa: E402
from edgebox.sim.panel import VirtualPanel  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from tests.support.venues import offline_venue  # noqa: E402

DEVICES = 2000
PER_ADDRESS = 90
PANEL_W, PANEL_H, PANEL_BAUD, FPS = 32, 16, 2_000_000, 30.0
LEVELS = (30, 90)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def addresses() -> Iterator[str]:
    """Loopback source addresses, each used for at most PER_ADDRESS requests."""
    for a in range(10, 250):
        for b in range(1, 255):
            yield f"127.0.{a}.{b}"


# A raw HTTP/1.1 client: keep-alive, Content-Length bodies; cheap enough not to be what is
# measured (httpx costs more CPU per request than the servers do).


class Connection:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buffer = bytearray()

    @classmethod
    async def open(cls, port: int, local: str | None = None) -> Connection:
        return cls(await trio.open_tcp_stream("127.0.0.1", port, local_address=local))

    async def _more(self) -> None:
        data = await self.stream.receive_some(65536)
        if not data:
            raise ConnectionError("closed by the server")
        self.buffer += data

    async def request(self, raw: bytes) -> tuple[int, bytes, bool]:
        """Status, body, and whether the server keeps the connection."""
        await self.stream.send_all(raw)
        while (end := self.buffer.find(b"\r\n\r\n")) < 0:
            await self._more()
        head = bytes(self.buffer[:end]).lower()
        del self.buffer[: end + 4]
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n")[1:]:
            if line.startswith(b"content-length:"):
                length = int(line[15:])
            elif line.startswith(b"transfer-encoding:"):
                raise ConnectionError("a chunked answer where a sized one was expected")
        while len(self.buffer) < length:
            await self._more()
        body = bytes(self.buffer[:length])
        del self.buffer[:length]
        return status, body, b"connection: close" not in head

    async def aclose(self) -> None:
        await self.stream.aclose()


def post(path: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


def put(path: str, body: bytes) -> bytes:
    return post(path, body).replace(b"POST", b"PUT", 1)


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()


@attrs.define
class Load:
    latencies: list[float] = attrs.Factory(list)
    failures: dict[str, int] = attrs.Factory(dict)
    elapsed: float = 0.0
    cpu: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0

    def line(self, name: str) -> str:
        per = self.cpu / len(self.latencies) * 1000 if self.latencies else 0.0
        return (
            f"{name:<22} {self.rate:7.0f} req/s  p50 {pct(self.latencies, 0.5):6.1f}"
            f"  p95 {pct(self.latencies, 0.95):6.1f}  p99 {pct(self.latencies, 0.99):6.1f} ms"
            f"  cpu {per:5.2f} ms/req" + (f"  failed {self.failures}" if self.failures else "")
        )


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def load(
    port: int,
    pid: int,
    request: Callable[[int], bytes],
    concurrency: int,
    total: int,
    seconds: float,
    sources: Iterator[str],
) -> Load:
    """`total` requests (or as many as `seconds` allow) from `concurrency` connections."""
    result = Load()
    counter = itertools.count()

    async def worker() -> None:
        conn: Connection | None = None
        used = 0
        try:
            while (n := next(counter)) < total:
                if conn is None or used >= PER_ADDRESS:
                    if conn is not None:
                        await conn.aclose()
                    conn, used = await Connection.open(port, next(sources)), 0
                began = time.perf_counter()
                try:
                    status, _, keep = await conn.request(request(n))
                except (ConnectionError, trio.BrokenResourceError) as exc:
                    name = type(exc).__name__
                    result.failures[name] = result.failures.get(name, 0) + 1
                    conn = None
                    continue
                used += 1
                if status == 200:
                    result.latencies.append(time.perf_counter() - began)
                else:
                    result.failures[str(status)] = result.failures.get(str(status), 0) + 1
                if not keep:
                    await conn.aclose()
                    conn = None
        finally:
            if conn is not None:
                await conn.aclose()

    cpu0, began = cpu_seconds(pid), time.perf_counter()
    with trio.move_on_after(seconds):
        async with trio.open_nursery() as nursery:
            for _ in range(concurrency):
                nursery.start_soon(worker)
    result.elapsed = time.perf_counter() - began
    result.cpu = cpu_seconds(pid) - cpu0
    return result


# Brightness fan-out


class Listener:
    """One SSE client on /api/events/brightness; keeps the arrival time of every event."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.arrived = trio.Event()

    async def run(self, port: int, task_status: trio.TaskStatus[None]) -> None:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(get("/api/events/brightness"))
            tail = b""
            started = False
            while True:
                data = await stream.receive_some(65536)
                if not data:
                    return
                now = time.perf_counter()
                seen = tail + data
                for _ in range(seen.count(b"data: ")):
                    self.times.append(now)
                tail = seen[-5:]
                self.arrived.set()
                if self.times and not started:
                    started = True
                    task_status.started()

    async def wait_for(self, count: int) -> None:
        while len(self.times) < count:
            self.arrived = trio.Event()
            await self.arrived.wait()


def panel_process(path: Path) -> None:
    """The virtual panel in a process of its own, so the clients' work never delays a frame's
    arrival time: one line per good frame, `<perf_counter> <brightest byte>` (the clock is
    CLOCK_MONOTONIC, the same in every process)."""
    panel = VirtualPanel(PANEL_W, PANEL_H, path=path)
    feed = panel.feed

    def watched(data: bytes) -> None:
        before = panel.counts.good
        feed(data)
        if panel.counts.good != before and panel.last_frame is not None:
            sys.stdout.write(f"{time.perf_counter()} {max(panel.last_frame)}\n")
            sys.stdout.flush()

    panel.feed = watched  # type: ignore[method-assign]
    trio.run(panel.run)


class FrameWatch:
    """The panel process's frames with their arrival times; a frame's level is its brightest
    byte (white text on black that never moves, so it only changes with the brightness)."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, int]] = []
        self.changed = trio.Event()

    async def run(
        self, path: Path, core: int | None, *, task_status: trio.TaskStatus[None]
    ) -> None:
        command = [sys.executable, __file__, "--panel", str(path)]
        process = await trio.lowlevel.open_process(
            command, stdout=subprocess.PIPE, preexec_fn=pinned(core)
        )
        assert process.stdout is not None
        try:
            while not path.exists():
                await trio.sleep(0.05)
            task_status.started()
            pending = b""
            while data := await process.stdout.receive_some():
                *lines, pending = (pending + data).split(b"\n")
                for line in lines:
                    at, level = line.split()
                    self.frames.append((float(at), int(level)))
                self.changed.set()
        finally:
            process.kill()
            with trio.CancelScope(shield=True):
                await process.wait()

    async def first_at(self, level: int, since: float, timeout: float = 3.0) -> float | None:
        with trio.move_on_after(timeout):
            while True:
                found = [at for at, value in self.frames[-200:] if at >= since and value == level]
                if found:
                    return min(found)
                self.changed = trio.Event()
                await self.changed.wait()
        return None


async def fan_out(
    port: int,
    pid: int,
    watch: FrameWatch | None,
    listeners: int,
    puts: int,
    refs: dict[int, int],
) -> tuple[list[float], list[float], list[float], float]:
    """`puts` brightness changes with `listeners` open streams: PUT latencies, every
    listener's delivery latency, the latency of the first frame at the new level (none
    without a `watch`), and the server's CPU seconds over the changes."""
    put_lat: list[float] = []
    delivery: list[float] = []
    frame_lat: list[float] = []
    async with trio.open_nursery() as nursery:
        group = [Listener() for _ in range(listeners)]
        limit = trio.CapacityLimiter(50)

        async def start(listener: Listener) -> None:
            async with limit:
                await nursery.start(listener.run, port)

        async with trio.open_nursery() as opening:
            for listener in group:
                opening.start_soon(start, listener)
        conn = await Connection.open(port)
        cpu = cpu_seconds(pid)
        for i in range(puts):
            level = LEVELS[i % 2]
            await trio.sleep(random.uniform(0.03, 0.08))
            began = time.perf_counter()
            status, _, _ = await conn.request(
                put("/api/settings/brightness", json.dumps({"brightness": level}).encode())
            )
            put_lat.append(time.perf_counter() - began)
            assert status == 200, status
            with trio.fail_after(30):
                for listener in group:
                    await listener.wait_for(i + 2)
                    delivery.append(listener.times[i + 1] - began)
            shown = await watch.first_at(refs[level], began) if watch is not None else None
            if shown is not None:
                frame_lat.append(shown - began)
        cpu = cpu_seconds(pid) - cpu
        await conn.aclose()
        nursery.cancel_scope.cancel()
    return put_lat, delivery, frame_lat, cpu


# The servers


def bare_app(port: int, bodies: Path) -> None:
    """A quart-trio app under hypercorn answering the box's bytes, configured as the box is."""
    from hypercorn.config import Config
    from hypercorn.trio import serve
    from quart import Response, request
    from quart_trio import QuartTrio

    check = (bodies / "check.json").read_bytes()
    items = (bodies / "items.json").read_bytes()
    app = QuartTrio("bare", static_folder=None)

    @app.post("/api/client/check-device")
    async def check_device() -> Response:
        await request.get_data()
        return Response(check, content_type="application/json")

    @app.get("/api/playlist/items")
    async def list_items() -> Response:
        return Response(items, content_type="application/json")

    @app.get("/healthz")
    async def healthz() -> Response:
        return Response(b'{"status":"ok"}', content_type="application/json")

    # The floor of the fan-out: every stream waits on one event and sends the new level.
    changed = [trio.Event(), b'data: {"brightness":100}\n\n']

    @app.put("/api/settings/brightness")
    async def set_brightness() -> Response:
        level = json.loads(await request.get_data())["brightness"]
        event = changed[0]
        changed[:] = [trio.Event(), b'data: {"brightness":%d}\n\n' % level]
        event.set()
        return Response(b'{"brightness":%d}\n' % level, content_type="application/json")

    @app.get("/api/events/brightness")
    async def brightness_events() -> Response:
        async def stream() -> AsyncIterator[bytes]:
            yield changed[1]
            while True:
                await changed[0].wait()
                yield changed[1]

        response = Response(stream(), content_type="text/event-stream")
        response.timeout = None
        return response

    cfg = Config()
    cfg.bind = [f"127.0.0.1:{port}"]
    cfg.accesslog = None
    cfg.backlog = 1024
    trio.run(partial(serve, app, cfg))


def pinned(core: int | None) -> Callable[[], None] | None:
    return None if core is None else (lambda: os.sched_setaffinity(0, {core}))


async def started(nursery: trio.Nursery, command: list[str], port: int, core: int | None) -> int:
    process = await nursery.start(
        partial(
            trio.run_process,
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=pinned(core),
        )
    )
    with trio.fail_after(60):
        while True:
            try:
                conn = await Connection.open(port)
                status, _, _ = await conn.request(get("/healthz"))
                await conn.aclose()
                if status == 200:
                    return int(process.pid)
            except OSError:
                pass
            await trio.sleep(0.1)


async def seed_catalog(data: Path) -> list[str]:
    """The herd's 60 channels, five news items and DEVICES active devices, written at once."""
    store = await Store.open(data / "state")
    catalog = await Catalog.load(store)
    await catalog.import_m3u(PLAYLIST, "FTA")
    for n in range(5):
        await catalog.add_news({"title": f"News {n}", "body": "Lobby bar open till late. " * 8})
    stamp = iptv.iso(iptv.utc_now())
    devices = [
        iptv.Device(
            id=i + 1,
            duid=f"TV{i:05d}",
            owner_name=f"Room {i}",
            activation_code="1234",
            created_at=stamp,
            allowed_types=iptv.TYPES,
            activated_at=stamp,
        )
        for i in range(DEVICES)
    ]

    def write(_cache: object) -> None:
        for device in devices:
            store.set_sync(DEVICE_PREFIX + device.duid, device.to_json())
        store.set_sync(IDS, catalog.ids | {"device": DEVICES + 1})

    await store.run(write)
    store.close_sync()
    return [d.duid for d in devices]


def text_item(n: int) -> bytes:
    return json.dumps(
        {
            "id": f"item-{n}",
            "duration": 30,
            "repeat_count": None,
            "border_effect": None,
            "content": {
                "content_type": "Text",
                "data": {
                    "text": f"Room {n}",
                    "scroll": False,
                    "color": [255, 255, 255],
                    "speed": 50.0,
                    "text_segments": None,
                },
            },
        }
    ).encode()


PANEL_TABLES = """[[canvases]]
name = "main"
width = {w}
height = {h}
source = "led"
fps = {fps}
[[panels]]
name = "p"
port = "{tty}"
protocol = "adalight"
baudrate = {baud}
width = {w}
height = {h}
canvas = "main"
"""


async def start_box(
    nursery: trio.Nursery, where: Path, tty: Path | None, core: int | None
) -> tuple[int, int, list[str]]:
    """A seeded box with 20 LED items, and with a panel on `tty` if given: port, pid, DUIDs."""
    data = where / "data"
    duids = await seed_catalog(data)
    port = free_port()
    venue = where / "venue.toml"
    text = offline_venue("lan-bench", data, port, admin_token="t")
    if tty is not None:
        text += PANEL_TABLES.format(tty=tty, w=PANEL_W, h=PANEL_H, fps=FPS, baud=PANEL_BAUD)
    venue.write_text(text)
    command = [sys.executable, "-m", "edgebox", "run", "--config", str(venue)]
    pid = await started(nursery, command, port, core)
    conn = await Connection.open(port)
    for n in range(20):
        status, _, _ = await conn.request(post("/api/playlist/items", text_item(n)))
        assert status == 201, status
    await conn.aclose()
    return port, pid, duids


async def fan_out_phase(tmp: Path, puts: int, core: int | None) -> None:
    frame_ms = 1000 / FPS
    wire_ms = (PANEL_W * PANEL_H * 3 + 6) * 10 / PANEL_BAUD * 1000
    print(
        f"\nbrightness fan-out, {puts} PUTs per row; panel {PANEL_W}x{PANEL_H} on a pty at"
        f" {FPS:g} fps, a frame is {wire_ms:.1f} ms on the wire (aim for the first frame:"
        f" p99 <= {frame_ms + wire_ms:.1f} ms)"
    )
    async with trio.open_nursery() as nursery:
        watch = FrameWatch()
        tty = tmp / "ttyLED"
        await nursery.start(watch.run, tty, 0 if core is not None else None)
        port, box, _ = await start_box(nursery, tmp, tty, core)
        conn = await Connection.open(port)
        refs = {}
        for level in LEVELS:
            await conn.request(put("/api/settings/brightness", b'{"brightness": %d}' % level))
            await trio.sleep(0.5)
            refs[level] = watch.frames[-1][1]
        await conn.aclose()
        assert refs[LEVELS[0]] != refs[LEVELS[1]], refs
        put_p99 = {}
        for listeners in (1, 200, 1000):
            put_lat, delivery, frame_lat, cpu = await fan_out(
                port, box, watch, listeners, puts, refs
            )
            put_p99[listeners] = pct(put_lat, 0.99)
            print(
                f"{listeners:>5} listeners  PUT p50 {pct(put_lat, 0.5):6.1f}"
                f" p99 {pct(put_lat, 0.99):6.1f} ms  delivery p50 {pct(delivery, 0.5):6.1f}"
                f" p99 {pct(delivery, 0.99):6.1f} ms  first frame p50"
                f" {pct(frame_lat, 0.5):6.1f} p99 {pct(frame_lat, 0.99):6.1f} ms"
                f" ({len(frame_lat)}/{puts} seen)"
            )
            print(f"{'':>17}box CPU {cpu * 1000 / puts:.1f} ms per change")
        print(f"PUT p99 with 1000 listeners / with 1: {put_p99[1000] / put_p99[1]:.2f}x")
        bodies = tmp / "bodies"
        bodies.mkdir()
        for name in ("check.json", "items.json"):
            (bodies / name).write_bytes(b"{}")
        bare_port = free_port()
        bare_command = [sys.executable, __file__, "--bare", str(bare_port), str(bodies)]
        bare = await started(nursery, bare_command, bare_port, core)
        print(
            "the same on a bare quart-trio app, every stream waiting on one trio.Event (what"
            " quart-trio and hypercorn cost per stream, woken all at once):"
        )
        for listeners in (1, 200, 1000):
            put_lat, delivery, _, cpu = await fan_out(bare_port, bare, None, listeners, puts, refs)
            print(
                f"{listeners:>5} listeners  PUT p50 {pct(put_lat, 0.5):6.1f}"
                f" p99 {pct(put_lat, 0.99):6.1f} ms  delivery p50 {pct(delivery, 0.5):6.1f}"
                f" p99 {pct(delivery, 0.99):6.1f} ms  bare CPU {cpu * 1000 / puts:.1f}"
                " ms per change"
            )
        nursery.cancel_scope.cancel()


async def throughput_phase(
    tmp: Path, counts: dict[int, int], seconds: float, core: int | None, rounds: int
) -> None:
    """A box without panels (no frames rendered beside the requests) and the bare app, taking
    turns `rounds` times per row: one run swings by a tenth or more on a shared machine."""
    sources = addresses()
    async with trio.open_nursery() as nursery:
        port, box, duids = await start_box(nursery, tmp, None, core)
        conn = await Connection.open(port)
        _, check_bytes, _ = await conn.request(
            post("/api/client/check-device", json.dumps({"duid": duids[0]}).encode())
        )
        _, items_bytes, _ = await conn.request(get("/api/playlist/items"))
        await conn.aclose()
        bodies = tmp / "bodies"
        bodies.mkdir()
        (bodies / "check.json").write_bytes(check_bytes)
        (bodies / "items.json").write_bytes(items_bytes)
        bare_port = free_port()
        bare_command = [sys.executable, __file__, "--bare", str(bare_port), str(bodies)]
        bare = await started(nursery, bare_command, bare_port, core)
        check_requests = [
            post("/api/client/check-device", json.dumps({"duid": d}).encode()) for d in duids
        ]
        targets: list[tuple[str, Callable[[int], bytes]]] = [
            ("check-device", lambda n: check_requests[n % len(check_requests)]),
            ("GET playlist items", lambda n: get("/api/playlist/items")),
        ]
        for name, request in targets:
            print(f"\n{name}: the box against a bare quart-trio app (same bytes)")
            for server_port, pid in ((port, box), (bare_port, bare)):
                await load(server_port, pid, request, 50, 300, 5.0, sources)  # warm-up
            for concurrency, total in counts.items():
                ratios, spreads = [], []
                for _ in range(rounds):
                    mine = await load(port, box, request, concurrency, total, seconds, sources)
                    other = await load(
                        bare_port, bare, request, concurrency, total, seconds, sources
                    )
                    print(mine.line(f"  box  c={concurrency}"))
                    print(other.line(f"  bare c={concurrency}"))
                    p50 = pct(mine.latencies, 0.5)
                    ratios.append(mine.rate / other.rate if other.rate else 0.0)
                    spreads.append(pct(mine.latencies, 0.95) / p50 if p50 else 0.0)
                    print(f"  box/bare req/s {ratios[-1]:.2f}x; box p95/p50 {spreads[-1]:.2f}")
                if rounds > 1:
                    print(
                        f"  c={concurrency}, median of {rounds} interleaved rounds: box/bare req/s"
                        f" {statistics.median(ratios):.2f}x; box p95/p50"
                        f" {statistics.median(spreads):.2f}"
                    )
        nursery.cancel_scope.cancel()


async def main(quick: bool, herd: bool, parts: str, rounds: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 8192)), hard))
    two = len(os.sched_getaffinity(0)) >= 2
    core = 1 if two else None
    if two:
        os.sched_setaffinity(0, {0})
    cores = "servers on core 1, clients on core 0" if two else "one core"
    print(f"edgebox LAN bench ({cores}; {DEVICES} devices, 60 channels, 20 LED items)")
    puts = 20 if quick else 40
    counts = {1: 600, 50: 2000, 100: 2000} if quick else {1: 1500, 50: 5000, 100: 5000}
    with tempfile.TemporaryDirectory(prefix="edgebox-lan-") as tmp:
        (Path(tmp) / "fan-out").mkdir()
        (Path(tmp) / "requests").mkdir()
        if parts in ("all", "fan-out"):
            await fan_out_phase(Path(tmp) / "fan-out", puts, core)
        if parts in ("all", "requests"):
            await throughput_phase(
                Path(tmp) / "requests", counts, 6.0 if quick else 10.0, core, rounds
            )
    if herd and parts == "all":
        print("\nthe herd (bench/herd.py --polls 1 --interval 10)", flush=True)
        await trio.run_process(
            [sys.executable, str(ROOT / "bench" / "herd.py"), "--polls", "1", "--interval", "10"]
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--panel":
        panel_process(Path(sys.argv[2]))
        sys.exit(0)
    if len(sys.argv) == 4 and sys.argv[1] == "--bare":
        bare_app(int(sys.argv[2]), Path(sys.argv[3]))
        sys.exit(0)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--no-herd", action="store_true", help="skip the 500-TV herd")
    parser.add_argument("--only", choices=("all", "fan-out", "requests"), default="all")
    parser.add_argument(
        "--rounds", type=int, default=1, help="box and bare app take turns N times per row"
    )
    args = parser.parse_args()
    started_at = time.perf_counter()
    trio.run(main, args.quick, not args.no_herd, args.only, max(1, args.rounds))
    print(f"\n(bench ran {time.perf_counter() - started_at:.0f} s)")
