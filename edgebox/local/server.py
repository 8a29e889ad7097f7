"""Serves the LAN app on the configured address: hypercorn, behind the front door."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import attrs
import trio
from hypercorn.config import Config as HypercornConfig

from edgebox.local import frontdoor
from edgebox.local.app import create_app
from edgebox.local.metronome import Metronome
from edgebox.local.openapi import event_stream_paths

if TYPE_CHECKING:
    from edgebox.core.service import Service
    from edgebox.local.context import Lan


@attrs.frozen
class ClientTimeouts:
    """How long a LAN client may take, so a slow or stalled one cannot hold a connection.

    `idle`: a connection with no request under way, including one still sending its request
    line and headers (a client that drips them is cut off after this long in all). `body`: a
    request body, from its first byte to its last (then 408). Streams (SSE) are not limited.
    """

    idle: float = 30.0
    body: float = 30.0


def finish_sends_shielded(app: Any) -> Any:
    """The app, with the last send of each response shielded from cancellation.

    Hypercorn closes a connection it cannot reuse (an answer before the whole body arrived: a
    413, a 408) from inside that last send, in the app's task, which quart-trio cancels as
    soon as the request ends. Unshielded, the close is cut short and the connection stays
    open for as long as the client likes, so a client dripping a body kept its socket after
    its 408.
    """

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def shielded_last(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and not message.get("more_body"):
                with trio.CancelScope(shield=True):
                    await send(message)
            else:
                await send(message)

        await app(scope, receive, shielded_last)

    return asgi


def serve_lan(lan: Lan, timeouts: ClientTimeouts = ClientTimeouts()) -> Service:
    """A service that serves the LAN app and reports the bound URLs (port 0 picks one)."""

    async def run(*, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        metronome = Metronome()
        app = create_app(lan, metronome, body_timeout=timeouts.body)
        cfg = HypercornConfig()
        host = lan.config.host
        port = lan.config.port
        cfg.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
        cfg.accesslog = None
        cfg.errorlog = logging.getLogger("edgebox.lan.server")
        cfg.graceful_timeout = 1.0
        cfg.keep_alive_timeout = timeouts.idle
        cfg.backlog = 1024  # a venue's TVs reconnect all at once after a power cut
        async with trio.open_nursery() as nursery:
            await nursery.start(metronome.run)
            await frontdoor.serve(
                finish_sends_shielded(app), cfg, event_stream_paths(app), task_status=task_status
            )
            nursery.cancel_scope.cancel()

    return run


def bound_port(urls: list[str]) -> int:
    return int(urls[0].rsplit(":", 1)[1])


def url_for(urls: list[str], path: str = "") -> str:
    return urls[0].rstrip("/") + path
