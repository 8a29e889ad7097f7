"""The cloud's control WebSocket: actions in, status messages out, reconnecting forever.

Status messages wait in a durable outbox and leave in the order they were produced, so a dropped
socket, a cloud outage or a restart loses none of them and reorders none.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

import httpx
import trio
from trio_websocket import ConnectionClosed, HandshakeError, WebSocketConnection, open_websocket_url

from edgebox.cache.store import Store
from edgebox.core.backoff import Backoff
from edgebox.core.errors import EdgeboxError, ProtocolError, UpstreamError
from edgebox.core.metrics import Metrics
from edgebox.core.repeats import Repeats
from edgebox.upstream import protocol
from edgebox.upstream.client import CloudClient, origin

log = logging.getLogger(__name__)

MAX_OUTBOX = 10_000


class Outbox:
    """Status messages for the cloud, in order, on disk until the socket has taken them."""

    def __init__(self, store: Store, metrics: Metrics | None = None) -> None:
        self.store = store
        self.metrics = metrics
        self._added = trio.Event()
        self._order = trio.Lock()
        self.length = 0
        self.dropped = 0

    async def open(self) -> None:
        self.length = await self.store.outbox_len()
        self._gauge()

    async def put(self, message: dict[str, Any]) -> None:
        """Append in call order: the lock is fair, so concurrent producers never swap places."""
        async with self._order:
            await self.store.outbox_append(message)
        self.length += 1
        while self.length > MAX_OUTBOX:
            oldest = await self.store.outbox_peek()
            if oldest is None:
                break
            await self.store.outbox_ack(oldest[0])
            self.length -= 1
            self.dropped += 1
            log.warning("outbox full; dropped the oldest status message %s", oldest[1])
        self._gauge()
        self._added.set()

    async def next(self) -> tuple[str, dict[str, Any]]:
        """The oldest message, waiting for one if the outbox is empty."""
        while True:
            added = self._added
            found = await self.store.outbox_peek()
            if found is not None:
                return found
            await added.wait()
            if self._added is added:
                self._added = trio.Event()

    async def ack(self, key: str) -> None:
        await self.store.outbox_ack(key)
        self.length = max(0, self.length - 1)
        self._gauge()

    def _gauge(self) -> None:
        if self.metrics is not None:
            self.metrics.outbox_length.set(self.length)


def _unreachable(exc: BaseException) -> bool:
    """A failure of the network path (refused, unreachable, timed out), not an HTTP answer."""
    if isinstance(exc, UpstreamError):
        exc = exc.__cause__ or exc
    if isinstance(exc, HandshakeError):
        return getattr(exc, "status_code", None) is None
    return isinstance(exc, OSError | trio.TooSlowError | httpx.TransportError)


_LINK_ERRORS = (ConnectionClosed, HandshakeError, OSError, trio.TooSlowError, EdgeboxError)


def _first(exc: BaseException) -> BaseException:
    """The error that ended a session, out of the nursery groups it travels in."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


Apply = Callable[[protocol.Action], Awaitable[None]]


class ControlChannel:
    """Holds the WebSocket open: receives actions for `apply`, sends the outbox, pings."""

    def __init__(
        self,
        client: CloudClient,
        outbox: Outbox,
        apply: Apply,
        *,
        heartbeat: float = 20.0,
        backoff: Backoff | None = None,
        metrics: Metrics | None = None,
        probe_every: float = 3.0,
        on_connect: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.client = client
        self.outbox = outbox
        self.apply = apply
        self.heartbeat = heartbeat
        self.backoff = backoff or Backoff(initial=1.0, cap=60.0, jitter=0.5)
        self.metrics = metrics
        self.connected = False
        self.connections = 0
        self.last_error: str | None = None
        self.ignored = 0
        self.sent = 0
        self.unreachable = False  # the last failure was the network, not the cloud's answer
        self.probe_every = probe_every
        self.on_connect = on_connect
        self._repeats = Repeats(log)

    def url(self, token: str) -> str:
        base = self.client.config.ws_url
        query = urlencode({"token": token, "sn_number": self.client.sn_number})
        return f"{base}{'&' if '?' in base else '?'}{query}"

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Connect, serve, and on any failure wait a capped, jittered delay and reconnect."""
        task_status.started()
        while True:
            token: str | None = None
            try:
                token = await self.client.access_token()
                await self._session(token)
            except Exception as group:
                exc = _first(group)
                if not isinstance(exc, _LINK_ERRORS):
                    raise
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.unreachable = _unreachable(exc)
                status = getattr(exc, "status_code", None)
                if isinstance(exc, HandshakeError) and status in (401, 403) and token:
                    await self.client.invalidate(token)
            finally:
                self.connected = False
            delay = self.backoff.next_delay()
            down = f"control socket down ({self.last_error}); reconnecting"
            self._repeats.failed(logging.INFO, down, trio.current_time())
            with trio.move_on_after(delay):
                if self.unreachable:
                    await self._until_reachable()
                else:
                    await trio.sleep_forever()

    async def _until_reachable(self) -> None:
        """While the cloud cannot be reached at all, a TCP connect every few seconds ends the
        backoff as soon as it answers again; a SYN costs a recovering cloud next to nothing."""
        _scheme, host, port = origin(self.client.config.ws_url)
        while True:
            await trio.sleep(self.probe_every * self.backoff.rng.uniform(0.75, 1.25))
            with trio.move_on_after(self.probe_every):
                try:
                    stream = await trio.open_tcp_stream(host, port or 443)
                except OSError:
                    continue
                await stream.aclose()
                return

    async def _session(self, token: str) -> None:
        async with open_websocket_url(
            self.url(token), connect_timeout=self.client.config.request_timeout
        ) as ws:
            self.connected = True
            self.connections += 1
            self.backoff.reset()
            if self.metrics is not None:
                self.metrics.ws_reconnects.inc()
            self._repeats.recovered("control socket connected again")
            log.debug("control socket connected")
            if self.on_connect is not None:
                await self.on_connect()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._ping, ws)
                nursery.start_soon(self._send, ws)
                await self._receive(ws)

    async def _receive(self, ws: WebSocketConnection) -> None:
        while True:
            raw = await ws.get_message()
            try:
                action = protocol.parse_action(raw)
            except protocol.UnknownAction as exc:
                self.ignored += 1
                log.info("ignoring a control message: %s", exc)
                continue
            except ProtocolError as exc:
                self.ignored += 1
                log.warning("ignoring a malformed control message: %s", exc)
                continue
            try:
                await self.apply(action)
            except EdgeboxError as exc:
                log.warning("control action %s failed: %s", type(action).__name__, exc)

    async def _send(self, ws: WebSocketConnection) -> None:
        """A message leaves the outbox only once a pong proves the cloud has read past it.

        The document has no acknowledgements; a message written into a connection that is
        already dead stays in the outbox and goes again on the next connection.
        """
        while True:
            key, message = await self.outbox.next()
            await ws.send_message(json.dumps(message, separators=(",", ":")))
            with trio.fail_after(self.heartbeat):
                await ws.ping()
            await self.outbox.ack(key)
            self.sent += 1

    async def _ping(self, ws: WebSocketConnection) -> None:
        """A pong that does not come within one interval means the link is dead."""
        while True:
            await trio.sleep(self.heartbeat)
            with trio.fail_after(self.heartbeat):
                await ws.ping()

    def status(self) -> dict[str, Any]:
        return {
            "connected": self.connected,
            "connections": self.connections,
            "last_error": self.last_error,
            "ignored_messages": self.ignored,
            "sent_messages": self.sent,
            "outbox": self.outbox.length,
        }
