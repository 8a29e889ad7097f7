"""The LAN port's front door against a real box on loopback: which connections it serves itself
(a first request that is a plain GET of an event stream) and that hypercorn keeps the rest,
including the cases that look like a stream and are not."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import AsyncIterator, Callable

import h11
import pytest
import trio

from edgebox.core import config
from edgebox.local.server import ClientTimeouts, serve_lan
from edgebox.runtime import wiring
from tests.conftest import ADMIN_TOKEN

STREAM = b"GET /api/events/brightness HTTP/1.1\r\nHost: box\r\n\r\n"


async def connect(box: wiring.Box | str) -> trio.SocketStream:
    url = box if isinstance(box, str) else box.lan_urls[0]
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return await trio.open_tcp_stream(host, int(port))


class Reader:
    """One client connection's answers, parsed by h11 as a client would."""

    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.conn = h11.Connection(h11.CLIENT)
        self._asked()

    def _asked(self) -> None:
        """h11 frames what it reads by the request it believes was sent."""
        self.conn.send(h11.Request(method="GET", target="/", headers=[("Host", "box")]))
        self.conn.send(h11.EndOfMessage())

    async def next(self) -> h11.Event:
        while True:
            event = self.conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            self.conn.receive_data(await self.stream.receive_some(65536))

    async def response(self) -> h11.Response:
        event = await self.next()
        assert isinstance(event, h11.Response), event
        return event

    async def data(self) -> bytes:
        event = await self.next()
        assert isinstance(event, h11.Data), event
        return bytes(event.data)

    async def body(self) -> bytes:
        got = b""
        while not isinstance(event := await self.next(), h11.EndOfMessage):
            assert isinstance(event, h11.Data), event
            got += event.data
        return got

    def again(self) -> None:
        """Ready for the next answer on a kept-alive connection."""
        self.conn.start_next_cycle()
        self._asked()


async def closed(stream: trio.SocketStream) -> bool:
    with trio.move_on_after(5):
        try:
            while await stream.receive_some(65536):
                pass
        except trio.BrokenResourceError:
            pass
        return True
    return False


async def test_a_stream_asked_first_is_served_by_the_door_and_hears_each_change(
    box: wiring.Box,
) -> None:
    with trio.fail_after(10):
        stream = await connect(box)
        await stream.send_all(STREAM)
        reader = Reader(stream)
        answer = await reader.response()
        headers = dict(answer.headers)
        assert answer.status_code == 200
        assert headers[b"content-type"].startswith(b"text/event-stream")
        assert headers[b"cache-control"] == b"no-cache"
        assert headers[b"transfer-encoding"] == b"chunked"
        assert headers[b"connection"] == b"close"  # the door serves one request per connection
        assert b"date" in headers and headers[b"server"] == b"hypercorn-h11"
        assert await reader.data() == b'data: {"brightness":100}\n\n'
        for level in (10, 90):
            await box.hub.set_brightness(level)
            assert await reader.data() == b'data: {"brightness":%d}\n\n' % level
        await stream.aclose()


async def test_a_stream_asked_on_a_reused_connection_is_hypercorns_and_works_the_same(
    box: wiring.Box,
) -> None:
    with trio.fail_after(10):
        stream = await connect(box)
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n")
        reader = Reader(stream)
        assert (await reader.response()).status_code == 200
        await reader.body()
        reader.again()
        await stream.send_all(STREAM)
        answer = await reader.response()
        assert answer.status_code == 200
        assert b"connection" not in dict(answer.headers)
        assert await reader.data() == b'data: {"brightness":100}\n\n'
        await box.hub.set_brightness(30)
        assert await reader.data() == b'data: {"brightness":30}\n\n'
        await stream.aclose()


async def test_a_refused_stream_gets_the_apps_answer_and_the_connection_closes(
    box: wiring.Box,
) -> None:
    with trio.fail_after(10):
        stream = await connect(box)
        await stream.send_all(b"GET /api/status/events HTTP/1.1\r\nHost: box\r\n\r\n")
        reader = Reader(stream)
        answer = await reader.response()
        assert answer.status_code == 401
        assert b"admin token required" in await reader.body()
        assert await closed(stream)

        stream = await connect(box)
        await stream.send_all(
            b"GET /api/status/events HTTP/1.1\r\nHost: box\r\n"
            b"Authorization: Bearer " + ADMIN_TOKEN.encode() + b"\r\n\r\n"
        )
        reader = Reader(stream)
        assert (await reader.response()).status_code == 200
        assert (await reader.data()).startswith(b"event: status\ndata: {")
        await stream.aclose()


@pytest.mark.parametrize(
    "request_bytes",
    [
        # a body: not a plain GET
        b"GET /api/events/brightness HTTP/1.1\r\nHost: box\r\nContent-Length: 2\r\n\r\n{}",
        # a second request already sent behind the first
        STREAM + b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n",
        # an upgrade
        b"GET /api/events/brightness HTTP/1.1\r\nHost: box\r\nConnection: Upgrade\r\n"
        b"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n",
    ],
    ids=["body", "pipelined", "upgrade"],
)
async def test_what_only_looks_like_a_stream_request_is_left_to_hypercorn(
    box: wiring.Box, request_bytes: bytes
) -> None:
    """Hypercorn answers each as it always has: the stream, without the door's `Connection:
    close` (or for an h2c upgrade, its 101)."""
    with trio.fail_after(10):
        stream = await connect(box)
        await stream.send_all(request_bytes)
        head = b""
        while b"\r\n\r\n" not in head:
            head += await stream.receive_some(65536)
        assert b"connection: close" not in head.lower()
        assert head.startswith((b"HTTP/1.1 200", b"HTTP/1.1 101"))
        await stream.aclose()


async def test_a_malformed_stream_request_gets_hypercorns_400(box: wiring.Box) -> None:
    with trio.fail_after(10):
        stream = await connect(box)
        await stream.send_all(b"GET /api/events/brightness HTTP/1.1\r\nBad Header\r\n\r\n")
        answer = await Reader(stream).response()
        assert answer.status_code == 400
        assert await closed(stream)


async def test_a_stream_over_http_1_0_ends_with_its_connection(box: wiring.Box) -> None:
    with trio.fail_after(10):
        stream = await connect(box)
        await stream.send_all(b"GET /api/events/brightness?x=1 HTTP/1.0\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got or b"data:" not in got:
            got += await stream.receive_some(65536)
        assert got.startswith(b"HTTP/1.1 200 ")
        assert b"transfer-encoding" not in got.lower()  # HTTP/1.0 has no chunks
        assert got.endswith(b'data: {"brightness":100}\n\n')
        await stream.aclose()


async def test_a_client_that_goes_away_loses_its_subscription_at_once(box: wiring.Box) -> None:
    with trio.fail_after(10):
        while not all(s.status == "running" for s in box.supervisor.states.values()):
            await trio.sleep(0.005)
        before = box.hub.subscriber_count
        stream = await connect(box)
        await stream.send_all(STREAM)
        reader = Reader(stream)
        await reader.response()
        await reader.data()
        assert box.hub.subscriber_count == before + 1
        await stream.aclose()
        while box.hub.subscriber_count > before:
            await trio.sleep(0.01)


@pytest.fixture
async def quick_box(
    make_config: Callable[..., config.VenueConfig], nursery: trio.Nursery
) -> AsyncIterator[str]:
    """The URL of a box whose LAN server gives a client 1 s to send its headers."""
    box = await wiring.open_box(make_config())
    urls = await nursery.start(serve_lan(wiring.lan_parts(box), ClientTimeouts(idle=1.0)))
    yield urls[0]
    nursery.cancel_scope.cancel()


@pytest.mark.parametrize("head", [STREAM, b"GET /api/settings/brightness HTTP/1.1\r\n\r\n"])
async def test_a_client_that_drips_a_head_is_cut_off_after_the_idle_timeout(
    quick_box: str, head: bytes
) -> None:
    """1 s at the door; a head the door hands on early gets hypercorn's 1 s after that."""
    stream = await connect(quick_box)
    began = time.monotonic()
    with trio.fail_after(5):
        try:
            for i in range(len(head) - 2):  # never quite finished
                await stream.send_all(head[i : i + 1])
                await trio.sleep(0.1)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        assert await closed(stream)
    assert time.monotonic() - began < 2.5


async def test_an_idle_connection_is_closed_after_the_idle_timeout(quick_box: str) -> None:
    stream = await connect(quick_box)
    began = time.monotonic()
    assert await closed(stream)
    assert 0.9 < time.monotonic() - began < 2.5


async def test_a_kept_alive_connection_lives_while_used_and_closes_once_idle(
    quick_box: str,
) -> None:
    """The idle deadline moves with each answer: requests 0.6 s apart keep the connection for
    3 s, then it closes 1 s after the last answer, not before."""
    stream = await connect(quick_box)
    reader = Reader(stream)
    with trio.fail_after(10):
        for i in range(5):
            if i:
                reader.again()
                await trio.sleep(0.6)
            await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n")
            assert (await reader.response()).status_code == 200
            await reader.body()
        answered = time.monotonic()
        assert await closed(stream)
    assert 0.9 < time.monotonic() - answered < 2.0


async def test_a_request_under_way_is_not_cut_off_by_the_idle_timeout(quick_box: str) -> None:
    """Its body takes 1.7 s to arrive, longer than the 1 s idle timeout, within the body's."""
    stream = await connect(quick_box)
    body = b'{"brightness":50}'
    with trio.fail_after(10):
        await stream.send_all(
            b"PUT /api/settings/brightness HTTP/1.1\r\nHost: box\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        await trio.sleep(0.2)
        for i in range(len(body)):
            await stream.send_all(body[i : i + 1])
            await trio.sleep(0.1)
        reader = Reader(stream)
        assert (await reader.response()).status_code == 200
        assert await reader.body() == b'{"brightness":50}\n'
    await stream.aclose()


async def test_clients_that_reset_as_they_ask_for_a_stream_leave_the_door_listening(
    box: wiring.Box,
) -> None:
    with trio.fail_after(20):
        for _ in range(50):
            stream = await connect(box)
            stream.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            await stream.send_all(STREAM)
            await stream.aclose()  # a reset, not a goodbye
        stream = await connect(box)
        await stream.send_all(b"GET /healthz HTTP/1.1\r\nHost: box\r\n\r\n")
        assert (await Reader(stream).response()).status_code == 200
        await stream.aclose()
