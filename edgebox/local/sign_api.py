"""The box's own sign editor at /sign: plain HTML, CSS and JavaScript served by the box.

The page speaks the LED API like any editor (playlist, images, brightness, the preview lock)
and shows what the box renders for its panels, live: `/api/sign/events` carries the very frames
the players hand to the panel drivers (never a second renderer in the browser) beside the
playlist, brightness and lock changes, on one connection, as a browser opens only six to a
host. It is as open as the LED API; `lan.sign_token` closes both.
"""

from __future__ import annotations

import base64
import json
from importlib import resources
from typing import TYPE_CHECKING, Any

import trio
from quart import Blueprint, Response

from edgebox.ledsign import model as ledsign
from edgebox.local import ledschema as S
from edgebox.local import sse
from edgebox.local.events import EDITOR, KEEP_ALIVE, PLAYLIST
from edgebox.local.http import json_error, token_login
from edgebox.local.openapi import documented
from edgebox.local.signauth import SIGN_COOKIE, sign_authorized
from edgebox.local.status_api import frame_png

if TYPE_CHECKING:
    from edgebox.hub import Change
    from edgebox.local.context import Lan
    from edgebox.local.metronome import Metronome

FRAMES_PER_SECOND = 10.0
_STATIC = resources.files("edgebox.local") / "sign_static"
_ASSETS = {"sign.js": "text/javascript", "sign.css": "text/css"}
SIGN_EVENT = {
    "description": "named events: `frame` (FRAME), `playlist`, `brightness` and `editor`, each"
    " as its own /api/events stream sends it",
    "anyOf": [],
}
FRAME = {
    "type": "object",
    "description": "one picture of a canvas the LED playlist plays on, as a base64 PNG",
    "properties": {
        "canvas": {"type": "string"},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "png": {"type": "string"},
    },
    "required": ["canvas", "width", "height", "png"],
}
SIGN_EVENT["anyOf"] = [FRAME, PLAYLIST, S.BRIGHTNESS, EDITOR]


def presets_json() -> str:
    """The animation presets and their settings' kinds and defaults, for the editor's forms:
    the page builds its fields from the same table the box validates with."""
    table = {
        name: {
            key: {
                "kind": s.kind,
                "default": list(s.default) if isinstance(s.default, tuple) else s.default,
            }
            for key, s in settings.items()
        }
        for name, settings in ledsign.PRESETS.items()
    }
    # "</" cannot end the script element it is embedded in
    return json.dumps(table, separators=(",", ":")).replace("</", "<\\/")


def blueprint(lan: Lan, metronome: Metronome) -> Blueprint:
    bp = Blueprint("sign", __name__)
    token = lan.config.sign_token.reveal()
    led_canvases = {c.name for c in lan.canvases if c.source == "led"}

    # Read once while the app is built, so no request reads the disk on the trio thread.
    page = (_STATIC / "sign.html").read_text().replace("{{PRESETS}}", presets_json())
    login_page = (_STATIC / "login.html").read_bytes()
    assets = {name: (_STATIC / name).read_bytes() for name in _ASSETS}

    @bp.get("/sign")
    @documented(
        "The sign editor (a sign-in form when the venue sets a sign token and it is not given)",
        content_type="text/html",
    )
    async def editor() -> Response:
        body = page.encode() if sign_authorized(token) else login_page
        return Response(body, content_type="text/html; charset=utf-8")

    @bp.get("/sign/static/<name>")
    @documented("The sign editor's script and styles", content_type="text/plain", errors=(404,))
    async def asset(name: str) -> Response:
        if name not in assets:
            return json_error(404, "no such file")
        return Response(assets[name], content_type=_ASSETS[name])

    @bp.post("/sign/login")
    @documented("Open the sign editor with the venue's sign token (form field `token`)", status=302)
    async def login() -> Response:
        return await token_login(token, SIGN_COOKIE, "/sign")

    @bp.get("/api/sign/events")
    @documented(
        "The editor's live feed (SSE): what the LED canvases show, as the panels get it (PNG"
        " `frame` events, up to 10 a second), and the `playlist`, `brightness` and `editor`"
        " lock, first as they are and then as they change",
        response=SIGN_EVENT,
        errors=(401,),
        content_type="text/event-stream",
    )
    async def events() -> Response:
        if not sign_authorized(token):
            return json_error(401, "sign token required (lan.sign_token)")
        hub = lan.hub
        sent: dict[str, tuple[float, bytes]] = {}

        def editor_now() -> dict[str, Any]:
            lock = hub.preview
            live = lock.live(trio.current_time())
            return {"locked": live, "locked_by": lock.session_id if live else None}

        def playlist(action: str = "Update") -> bytes:
            items = [ledsign.item_to_json(i) for i in hub.led_items]
            return sse.encode({"items": items, "action": action}, "playlist")

        def state() -> bytes:
            """Everything but frames, as it is now: the first events, and again every
            KEEP_ALIVE seconds, so a reader too slow to get every change catches up."""
            return (
                playlist()
                + sse.encode({"brightness": hub.brightness}, "brightness")
                + sse.encode(editor_now(), "editor")
            )

        async def change(got: Change) -> bytes | None:
            if got.topic == "led_playlist":
                return playlist(got.value[0])
            if got.topic == "brightness":
                return sse.encode({"brightness": hub.brightness}, "brightness")
            if got.topic == "preview":
                return sse.encode(editor_now(), "editor")
            name, picture = got.value
            if name not in led_canvases:
                return None
            now = trio.current_time()
            last_at, last_png = sent.get(name, (-1e9, b""))
            if now - last_at < 1 / FRAMES_PER_SECOND:
                return None
            png = await trio.to_thread.run_sync(frame_png, picture)
            if png == last_png and now - last_at < 1.0:
                return None  # unchanged: once a second is enough
            sent[name] = (now, png)
            return sse.encode(_frame(name, picture.width, picture.height, png), "frame")

        return sse.respond(
            sse.feed(
                hub,
                {"led_playlist", "brightness", "preview", "frame"},
                metronome=metronome,
                first=state,
                change=change,
                tick=state,
                period=KEEP_ALIVE,
                beat=True,
                maxlen=256,
            )
        )

    return bp


def _frame(name: str, width: int, height: int, png: bytes) -> dict[str, Any]:
    return {"canvas": name, "width": width, "height": height, "png": base64.b64encode(png).decode()}
