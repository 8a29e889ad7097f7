"""The outage matrix: whatever the cloud does, the venue keeps working and no report is lost.

Each case runs the real gateway against the simulated cloud on loopback, with a virtual panel on
a pty. During the fault the LAN APIs must answer every request and the panel must keep getting
frames; status messages produced meanwhile must reach the cloud once each, in order, and the
control socket must be back within 5 s of the cloud's return.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import httpx
import pytest
import trio
import trio.testing

from edgebox.cache.store import Store
from edgebox.core import config
from edgebox.core.backoff import Backoff
from edgebox.ledsign import model as ledsign
from edgebox.runtime import wiring
from edgebox.sim.cloud import CloudURLs, SimCloud, serve
from edgebox.upstream import protocol
from edgebox.upstream.client import CloudClient
from edgebox.upstream.control import ControlChannel, Outbox
from tests.support.fakes.panel import MakePanel

OUTAGE_SECONDS = 3.0
SCROLLING = {
    "repeat_count": 0,
    "content": {"content_type": "Text", "data": {"text": "OPEN ALL DAY", "scroll": True}},
}


@attrs.define
class CloudServer:
    """The simulated cloud on a fixed port that can stop listening and come back."""

    cloud: SimCloud
    nursery: trio.Nursery
    port: int = 0
    scope: trio.CancelScope | None = None

    async def start(self) -> CloudURLs:
        async def run(*, task_status: trio.TaskStatus[CloudURLs]) -> None:
            with trio.CancelScope() as self.scope:
                await serve(self.cloud, "127.0.0.1", self.port, task_status=task_status)

        urls: CloudURLs = await self.nursery.start(run)
        self.port = int(urls.origin.rsplit(":", 1)[1])
        return urls

    def stop(self) -> None:
        assert self.scope is not None
        self.scope.cancel()


@pytest.fixture
async def server(nursery: trio.Nursery) -> AsyncIterator[CloudServer]:
    s = CloudServer(SimCloud(users={"box": "s3cret-password"}), nursery)
    await s.start()
    yield s


Fault = Callable[[CloudServer, trio.Nursery], Any]


async def refuse(server: CloudServer, _n: trio.Nursery) -> None:
    server.cloud.drop_connections()
    server.stop()


async def stop_refusing(server: CloudServer) -> None:
    await server.start()


def knob(name: str, value: Any) -> tuple[Fault, Callable[[CloudServer], Any]]:
    """A fault that is one SimCloud knob, set after the cloud restarts (sockets dropped)."""

    async def start(server: CloudServer, _n: trio.Nursery) -> None:
        setattr(server.cloud, name, value)
        server.cloud.drop_connections()

    async def stop(server: CloudServer) -> None:
        setattr(server.cloud, name, attrs.fields_dict(SimCloud)[name].default)

    return start, stop


def garbage() -> tuple[Fault, Callable[[CloudServer], Any]]:
    scope = trio.CancelScope()

    async def start(server: CloudServer, nursery: trio.Nursery) -> None:
        async def spray() -> None:
            with scope:
                frames: list[Any] = ["{not json", b"\x00\xff\xfe", "[]", '{"action": 7}', "null"]
                while True:
                    for frame in frames:
                        await server.cloud.send_action(frame)
                        await trio.sleep(0.05)

        nursery.start_soon(spray)

    async def stop(_server: CloudServer) -> None:
        scope.cancel()

    return start, stop


FAULTS = {
    "refusing connections": lambda: (refuse, stop_refusing),
    "500 to everything": lambda: knob("fail_status", 500),
    "502 to everything": lambda: knob("fail_status", 502),
    "503 to everything": lambda: knob("fail_status", 503),
    "down": lambda: knob("down", True),
    "401 to everything": lambda: knob("unauthorized", True),
    "hanging after headers": lambda: knob("hang_after_headers", True),
    "dripping bytes": lambda: knob("slow_bytes_per_s", 50),
    "socket closed every 0.7 s": lambda: knob("drop_ws_after_seconds", 0.7),
    "garbage frames": garbage,
}


# A cloud that answers the socket's handshake with 503 or 401 is up and refusing: the box waits
# out its backoff (1, 2, 4 s ... at most 60 s, jitter ±50 %) instead of probing, so as not to
# hammer it; after this 3 s outage that wait can reach 6 s. Every other fault is back in 5 s.
BACK_WITHIN = {"down": 5.0 + 6.0, "401 to everything": 5.0 + 6.0}


@pytest.mark.parametrize("fault", FAULTS)
async def test_during_an_outage_the_venue_keeps_working_and_no_report_is_lost(
    fault: str,
    server: CloudServer,
    make_config: Callable[..., config.VenueConfig],
    panels: MakePanel,
    nursery: trio.Nursery,
) -> None:
    cloud = server.cloud
    slide = cloud.add_media("slide.png", b"\x89PNG" * 5000)
    cloud.set_playlists("front", [cloud.playlist(101, "Lobby", [slide])])
    panel = await panels(32, 16)
    cfg = make_config(
        cloud={
            "base_url": cloud.base_url,
            "ws_url": cloud.ws_url,
            "enabled": True,
            "heartbeat_interval": 1,
            "request_timeout": 2,
        },
        canvases=[{"name": "main", "width": 32, "height": 16}],
        panels=[
            {"name": "p", "port": str(panel.path), "baudrate": 2_000_000, "width": 32, "height": 16}
        ],
    )
    box = await wiring.open_box(cfg)
    await box.hub.add_led_item(ledsign.parse_item(SCROLLING))
    await nursery.start(wiring.run, box)
    ready = {"type": "ready_playlists", "playlist_ids": [101]}
    with trio.fail_after(10):
        await cloud.wait_for(lambda: ready in cloud.received and cloud.connected > 0)
    assert box.sync is not None

    start, stop = FAULTS[fault]()
    await start(server, nursery)
    if fault == "dripping bytes":
        more = cloud.add_media("big.png", b"\x89PNG" * 50_000)
        cloud.set_playlists("back", [cloud.playlist(201, "Big", [more])])
        await box.sync.request(protocol.ReloadPlaylist())
    marks = [{"type": "ready_playlists", "playlist_ids": [9000 + n]} for n in range(6)]
    frames_before = panel.counts.good
    answered = 0
    async with httpx.AsyncClient(base_url=box.lan_urls[0], timeout=2) as lan:
        began = trio.current_time()
        put = 0
        while (elapsed := trio.current_time() - began) < OUTAGE_SECONDS:
            if put < len(marks) and elapsed >= put * OUTAGE_SECONDS / len(marks):
                await box.sync.outbox.put(marks[put])
                put += 1
            for answer in (
                await lan.get("/api/playlist/items"),
                await lan.post("/api/client/check-device", json={"duid": "NOPE"}),
                await lan.get("/healthz"),
            ):
                assert answer.status_code < 500, (answer.request.url, answer.text)
                answered += 1
            await trio.sleep(0.05)
        for mark in marks[put:]:
            await box.sync.outbox.put(mark)
    assert answered > 30
    assert panel.counts.good - frames_before > 20 * OUTAGE_SECONDS

    await stop(server)
    returned = trio.current_time()
    limit = BACK_WITHIN.get(fault, 5.0)
    with trio.fail_after(limit):
        await cloud.wait_for(
            lambda: cloud.connected > 0 and all(m in cloud.received for m in marks)
        )
    back_after = trio.current_time() - returned
    got = [m for m in cloud.received if m in marks]
    assert got == marks, f"{fault}: reports arrived as {[m['playlist_ids'] for m in got]}"
    print(f"{fault}: {answered} LAN answers during the outage, socket back {back_after:.2f} s")
    assert back_after <= limit
    assert box.supervisor.healthy()
    if fault == "garbage frames":
        await cloud.send_action({"action": "set_volume", "volume": 17})
        with trio.fail_after(5):
            while box.hub.volume != 17:
                await trio.sleep(0.02)


async def test_after_a_long_outage_the_socket_is_back_within_five_seconds_of_the_return(
    server: CloudServer,
    store: Store,
    make_config: Callable[..., config.VenueConfig],
) -> None:
    """Ten minutes away leave the backoff at its 60 s cap; a cheap TCP probe ends the wait.

    Real time: the backoff starts where ten minutes of failures leave it, so the test waits
    seconds, not minutes, and no mocked clock can jump past a loopback connect.
    """
    cfg = make_config(cloud={"base_url": server.cloud.base_url, "ws_url": server.cloud.ws_url})
    async with CloudClient.make_http(cfg.cloud) as http:
        client = CloudClient(cfg.cloud, "SN-TEST-1", store, http)
        await client.access_token()
        outbox = Outbox(store)

        async def ignore(_action: object) -> None:
            pass

        backoff = Backoff(initial=1, cap=60, jitter=0)
        channel = ControlChannel(client, outbox, ignore, backoff=backoff)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(channel.run)
            await server.cloud.wait_connected()
            await refuse(server, nursery)
            for n in range(3):
                await outbox.put({"type": "ready_playlists", "playlist_ids": [n]})
            with trio.fail_after(10):
                while not channel.unreachable:
                    await trio.sleep(0.01)
                backoff.attempt = 10  # what ten minutes of 1, 2, 4 ... 60 s waits leave
                while backoff.attempt <= 10:  # now in a 60 s wait
                    await trio.sleep(0.01)
            await trio.sleep(1)
            await server.start()
            returned = trio.current_time()
            with trio.fail_after(10):
                await server.cloud.wait_received(3)
            assert trio.current_time() - returned <= 5
            nursery.cancel_scope.cancel()
    assert [m["playlist_ids"] for m in server.cloud.received] == [[0], [1], [2]]
