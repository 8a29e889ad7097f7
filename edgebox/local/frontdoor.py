"""The LAN port's listener: event streams go straight to their sockets, the rest to hypercorn.

Hypercorn sends each chunk of a response through h11 events, a per-connection lock and a
shielded cancel scope: about 60 µs per chunk here, so with 200 editors listening one brightness
change spent 12 ms in that path before the last of them heard it (`bench/lan.py`). A connection
whose first request is a plain GET of an event stream is served here instead. The same app
routes, authorises and answers it (a 401 or a 404 is the app's, as everywhere); only the
transport differs: h11 frames the answer and each chunk is one `send_all`. The connection then
serves that one request and closes. Every other connection, including a stream asked for after
other requests on a reused connection, is hypercorn's, exactly as before.

While the door reads a request's head to choose, a client has the idle timeout to send it; a
connection handed on gets hypercorn's own timeout from then on, as a new one would, kept by an
`IdleTimer` that costs a request nothing.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any
from urllib.parse import unquote

import attrs
import h11
import trio
from hypercorn.config import Config
from hypercorn.trio.lifespan import Lifespan
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import repr_socket_addr, wrap_app

log = logging.getLogger(__name__)

MAX_RECV = 2**16
App = Callable[[dict[str, Any], Any, Any], Awaitable[None]]


class Replay:
    """`stream` with the bytes the door read ahead given back first, for hypercorn's
    `TCPServer`. Past those, every call is `stream`'s own method: no layer per request."""

    def __init__(self, stream: trio.SocketStream, ahead: bytes) -> None:
        self.socket = stream.socket  # hypercorn reads the addresses from it
        self.send_all = stream.send_all
        self.send_eof = stream.send_eof
        self.aclose = stream.aclose
        self._stream = stream
        self._ahead = ahead

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        self.receive_some = self._stream.receive_some  # type: ignore[method-assign]
        return self._ahead


class IdleTimer:
    """Hypercorn's keep-alive timer for one connection, moved instead of started anew.

    Hypercorn stops its idle task when a request comes and starts a new one when the answer
    is out: a lock and a task start per request, about 65 µs of the 750 µs of CPU a check-device
    took here (one-connection A/B against `hypercorn.trio.serve` with the same app). This
    is one task per connection whose deadline `restart` moves and `stop` lifts; when the
    deadline passes, or the server shuts down, it closes the connection as hypercorn's would.
    """

    def __init__(self, server: TCPServer, nursery: trio.Nursery) -> None:
        self.server = server
        self.nursery = nursery
        self.scope: trio.CancelScope | None = None

    async def restart(self, _task_group: object, _action: object) -> None:
        deadline = trio.current_time() + self.server.config.keep_alive_timeout
        if self.scope is None:
            self.scope = trio.CancelScope(deadline=deadline)
            self.nursery.start_soon(self._run, self.scope)
        else:
            self.scope.deadline = deadline

    async def stop(self) -> None:
        if self.scope is not None:
            self.scope.deadline = math.inf

    async def _run(self, scope: trio.CancelScope) -> None:
        with scope:
            await self.server.context.terminated.wait()
        with trio.CancelScope(shield=True):
            await self.server._initiate_server_close()


def _could_be(prefix: bytes, data: bytes) -> bool:
    return data.startswith(prefix) or prefix.startswith(data)


@attrs.define
class FrontDoor:
    """Chooses who serves each new connection on the LAN port."""

    app: App
    config: Config
    stream_paths: frozenset[str]
    state: dict[str, Any] = attrs.field(factory=dict)  # the lifespan's, copied per request
    context: WorkerContext = attrs.field(factory=lambda: WorkerContext(None))
    wrapped: Any = attrs.field(init=False)  # the app as hypercorn's connections call it

    def __attrs_post_init__(self) -> None:
        self.wrapped = wrap_app(self.app, self.config.wsgi_max_body_size, "asgi")

    async def connection(self, stream: trio.SocketStream) -> None:
        """Serve one connection; whatever happens to it, the listener keeps listening."""
        try:
            ahead = await self._read_ahead(stream)
            if ahead is None:
                return
            request = self._stream_request(ahead)
            if request is None:
                state = ConnectionState(self.state.copy())
                replay = Replay(stream, ahead)
                server = TCPServer(
                    self.wrapped,
                    self.config,
                    self.context,
                    state,
                    replay,  # type: ignore[arg-type]
                )
                async with trio.open_nursery() as nursery:
                    server.idle_task = IdleTimer(server, nursery)  # type: ignore[assignment]
                    await server.run()
                    nursery.cancel_scope.cancel()
            else:
                await self._serve_stream(stream, *request)
        except OSError:
            pass  # the peer is gone (a reset while the door asked its address)
        finally:
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _read_ahead(self, stream: trio.SocketStream) -> bytes | None:
        """The first bytes, up to a whole request head if it may be a stream's; None if the
        client closed or kept the head back longer than the idle timeout."""
        ahead = b""
        with trio.move_on_after(self.config.keep_alive_timeout):
            try:
                while True:
                    data = await stream.receive_some(MAX_RECV)
                    if not data:
                        return None
                    ahead += data
                    if (
                        not _could_be(b"GET /", ahead)
                        or b"\r\n\r\n" in ahead
                        or len(ahead) > self.config.h11_max_incomplete_size
                    ):
                        return ahead
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return None
        return None

    def _stream_request(self, ahead: bytes) -> tuple[h11.Connection, h11.Request] | None:
        """The parsed request when `ahead` is exactly one plain GET of an event stream."""
        head, found, rest = ahead.partition(b"\r\n\r\n")
        if not found or rest:
            return None
        path = head[4 : head.find(b" ", 4)].partition(b"?")[0]
        if path.decode("latin-1") not in self.stream_paths:
            return None
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=len(ahead) + 1)
        try:
            conn.receive_data(ahead)
            request, end = conn.next_event(), conn.next_event()
        except h11.RemoteProtocolError:
            return None  # hypercorn answers it with its 400
        if not isinstance(request, h11.Request) or not isinstance(end, h11.EndOfMessage):
            return None  # a body follows: not a plain GET
        if any(name == b"upgrade" for name, _ in request.headers):
            return None
        return conn, request

    async def _serve_stream(
        self, stream: trio.SocketStream, conn: h11.Connection, request: h11.Request
    ) -> None:
        raw_path, _, query = request.target.partition(b"?")
        sock = stream.socket
        scope = {
            "type": "http",
            "http_version": request.http_version.decode(),
            "asgi": {"spec_version": "2.1", "version": "3.0"},
            "method": "GET",
            "scheme": "http",
            "path": unquote(raw_path.decode("ascii")),
            "raw_path": raw_path,
            "query_string": query,
            "root_path": self.config.root_path,
            "headers": list(request.headers),
            "client": sock.getpeername()[:2],
            "server": sock.getsockname()[:2],
            "state": self.state.copy(),
            "extensions": {},
        }
        asked = False
        done = trio.CancelScope()

        async def receive() -> dict[str, Any]:
            nonlocal asked
            if not asked:
                asked = True
                return {"type": "http.request", "body": b"", "more_body": False}
            try:
                while await stream.receive_some(MAX_RECV):
                    pass  # nothing after this request is read: it is the connection's last
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", ()), *self.config.response_headers("h11")]
                headers.append((b"connection", b"close"))
                event: Any = h11.Response(status_code=message["status"], headers=headers)
                out = [conn.send(event)]
            elif message["type"] == "http.response.body":
                body = message.get("body", b"")
                out = [conn.send(h11.Data(data=body))] if body else []
                if not message.get("more_body", False):
                    out.append(conn.send(h11.EndOfMessage()))
            else:
                return
            try:
                await stream.send_all(b"".join(data for data in out if data))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                done.cancel()  # the client went away
            if conn.our_state is h11.DONE:
                done.cancel()  # the answer is complete: nothing more to wait for

        with done:
            try:
                await self.app(scope, receive, send)
            except Exception:
                log.exception("unhandled error in an event stream")


async def serve(
    app: App,
    config: Config,
    stream_paths: frozenset[str],
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `app` on `config.bind` (plain HTTP) until cancelled, as `hypercorn.trio.serve`
    does, with the GET requests of `stream_paths` served by the front door."""
    door = FrontDoor(app, config, stream_paths)
    lifespan = Lifespan(door.wrapped, config, door.state)
    async with trio.open_nursery() as nursery:
        await nursery.start(lifespan.handle_lifespan)
        await lifespan.wait_for_startup()
        sockets = config.create_sockets().insecure_sockets
        listeners = []
        for sock in sockets:
            sock.listen(config.backlog)
            listeners.append(trio.SocketListener(trio.socket.from_stdlib_socket(sock)))
        urls = [f"http://{repr_socket_addr(s.family, s.getsockname())}" for s in sockets]
        await nursery.start(partial(trio.serve_listeners, door.connection, listeners))
        task_status.started(urls)
