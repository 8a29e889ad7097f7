"""The box's own sign editor at /sign: plain HTML, CSS and JavaScript served by the box.

The page speaks the LED API like any editor (playlist, images, brightness, the preview lock)
and shows what the box renders for its panels, live, from `/api/sign/frames`: the very frames
the players hand to the panel drivers, never a second renderer in the browser. It is as open
as the LED API; `lan.sign_token` closes both.
"""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import TYPE_CHECKING, Any

import trio
from quart import Blueprint, Response, make_response, redirect, request

from edgebox import ledsign
from edgebox.local.http import json_error
from edgebox.local.openapi import documented
from edgebox.local.signauth import SIGN_COOKIE, sign_authorized
from edgebox.local.status import frame_png, sse

if TYPE_CHECKING:
    from edgebox.gateway import Box

FRAMES_PER_SECOND = 10.0
_STATIC = resources.files("edgebox.local") / "sign_static"
_ASSETS = {"sign.js": "text/javascript", "sign.css": "text/css"}
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


def blueprint(box: Box) -> Blueprint:
    bp = Blueprint("sign", __name__)
    token = box.config.lan.sign_token.reveal()
    led_canvases = {c.name for c in box.config.canvases if c.source == "led"}

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
        form = await request.form
        offered = form.get("token", "")
        response = redirect("/sign")
        if token and hmac.compare_digest(offered.encode(), token.encode()):
            response.set_cookie(
                SIGN_COOKIE, offered, httponly=True, samesite="Strict", max_age=30 * 86400
            )
        return response

    @bp.get("/api/sign/frames")
    @documented(
        "What the LED canvases show, as the panels get it: PNG frames as Server-Sent Events",
        response=FRAME,
        errors=(401,),
        content_type="text/event-stream",
    )
    async def frames() -> Response:
        if not sign_authorized(token):
            return json_error(401, "sign token required (lan.sign_token)")

        async def stream() -> AsyncIterator[bytes]:
            yield b": frames\n\n"
            with box.hub.subscribe({"frame"}, maxlen=8) as changes:
                last: dict[str, tuple[float, bytes]] = {}
                while True:
                    change = await changes.get()
                    name, picture = change.value
                    if name not in led_canvases:
                        continue
                    now = trio.current_time()
                    sent_at, sent_png = last.get(name, (-1e9, b""))
                    if now - sent_at < 1 / FRAMES_PER_SECOND:
                        continue
                    png = await trio.to_thread.run_sync(frame_png, picture)
                    if png == sent_png and now - sent_at < 1.0:
                        continue  # unchanged: once a second is enough
                    last[name] = (now, png)
                    yield sse("frame", _frame(name, picture.width, picture.height, png))

        response = await make_response(
            stream(),
            200,
            {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
        )
        response.timeout = None  # type: ignore[union-attr]
        return response  # type: ignore[return-value]

    return bp


def _frame(name: str, width: int, height: int, png: bytes) -> dict[str, Any]:
    return {"canvas": name, "width": width, "height": height, "png": base64.b64encode(png).decode()}
