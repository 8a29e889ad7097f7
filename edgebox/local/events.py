"""Server-Sent Events for LED-sign editors: brightness, the editor (preview) lock, the playlist.

Each stream sends the current state first, then every change, and a keep-alive comment after
KEEP_ALIVE seconds of silence. The hub subscription lives exactly as long as the response body:
a client that goes away cancels the body, and its subscription is dropped at once. When the box
shuts down, cancellation ends every stream without waiting for hypercorn's graceful timeout.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import trio
from quart import Blueprint, Response

from edgebox.ledsign import model as ledsign
from edgebox.local import ledschema as S
from edgebox.local import sse
from edgebox.local.openapi import documented
from edgebox.local.signauth import guard_with_sign_token

if TYPE_CHECKING:
    from edgebox.hub import Change, Hub
    from edgebox.local.context import Lan
    from edgebox.local.metronome import Metronome

KEEP_ALIVE = 15.0
KEEP_ALIVE_COMMENT = b": keep-alive\n\n"

EDITOR = {
    "type": "object",
    "properties": {
        "locked": {"type": "boolean"},
        "locked_by": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["locked", "locked_by"],
    "additionalProperties": False,
}
PLAYLIST = {
    "type": "object",
    "properties": {"items": S.ITEMS, "action": {"enum": list(ledsign.ACTIONS)}},
    "required": ["items", "action"],
    "additionalProperties": False,
}


def event_stream(
    hub: Hub,
    metronome: Metronome,
    topic: str,
    current: Callable[[], dict[str, Any]],
    change: Callable[[Change], dict[str, Any]],
    *,
    repeat: bool = True,
) -> AsyncIterator[bytes]:
    """Current state, then changes of `topic`; with `repeat=False` an unchanged payload is
    not sent again."""
    last: dict[str, Any] = {}

    def first() -> bytes:
        nonlocal last
        last = current()
        return sse.encode(last)

    async def changed(got: Change) -> bytes | None:
        nonlocal last
        # Every stream of this kind sends the same bytes: made once per change, by the first
        # stream that wakes, not once per stream.
        if change not in got.memo:
            payload = change(got)
            got.memo[change] = (payload, sse.encode(payload))
        payload, event = got.memo[change]
        if not repeat and payload == last:
            return None
        last = payload
        return event

    return sse.feed(
        hub,
        {topic},
        metronome=metronome,
        first=first,
        change=changed,
        tick=lambda: KEEP_ALIVE_COMMENT,
        period=KEEP_ALIVE,
    )


def _editor(lock: ledsign.PreviewLock | None) -> dict[str, Any]:
    active = lock is not None and lock.active
    return {"locked": active, "locked_by": lock.session_id if active and lock else None}


def _playlist(action: str, items: tuple[ledsign.LedItem, ...]) -> dict[str, Any]:
    return {"items": [ledsign.item_to_json(i) for i in items], "action": action}


def _brightness_change(change: Change) -> dict[str, Any]:
    return {"brightness": change.value}


def _editor_change(change: Change) -> dict[str, Any]:
    return _editor(change.value)


def _playlist_change(change: Change) -> dict[str, Any]:
    return _playlist(*change.value)


def events_api(lan: Lan, metronome: Metronome) -> Blueprint:
    bp = Blueprint("events", __name__)
    hub = lan.hub
    guard_with_sign_token(bp, lan.config.sign_token.reveal())

    @bp.get("/api/events/brightness")
    @documented(
        "Brightness changes (SSE; a keep-alive comment every 15 s)",
        response=S.BRIGHTNESS,
        content_type="text/event-stream",
    )
    async def brightness() -> Response:
        return sse.respond(
            event_stream(
                hub,
                metronome,
                "brightness",
                lambda: {"brightness": hub.brightness},
                _brightness_change,
            )
        )

    @bp.get("/api/events/editor")
    @documented(
        "Preview lock changes: `locked`, `locked_by` (SSE)",
        response=EDITOR,
        content_type="text/event-stream",
    )
    async def editor() -> Response:
        def current() -> dict[str, Any]:
            lock = hub.preview
            return _editor(lock if lock.live(trio.current_time()) else None)

        return sse.respond(
            event_stream(hub, metronome, "preview", current, _editor_change, repeat=False)
        )

    @bp.get("/api/events/playlist")
    @documented(
        "Playlist changes: `items`, `action` (SSE)",
        response=PLAYLIST,
        content_type="text/event-stream",
    )
    async def playlist() -> Response:
        # The first event carries the whole playlist as an "Update": every action does.
        return sse.respond(
            event_stream(
                hub,
                metronome,
                "led_playlist",
                lambda: _playlist("Update", hub.led_items),
                _playlist_change,
            )
        )

    return bp
