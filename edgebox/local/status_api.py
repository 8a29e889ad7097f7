"""The operator's view: health and readiness probes, metrics, the status page and its feed."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import AsyncIterator
from importlib import resources
from typing import TYPE_CHECKING

import trio
from PIL import Image
from quart import Blueprint, Response, current_app, jsonify, make_response

from edgebox import __version__
from edgebox.local import openapi, sse
from edgebox.local.http import ADMIN_COOKIE, admin_authorized, json_error, token_login
from edgebox.local.openapi import documented

if TYPE_CHECKING:
    from edgebox.hub import Change
    from edgebox.local.context import Lan
    from edgebox.local.metronome import Metronome

STATUS_PERIOD = 1.0
FRAMES_PER_SECOND = 5.0
_STATIC = resources.files("edgebox.local") / "static"
_STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
_STATIC_FILES = ("status.js", "status.css", "docs.js")

HEALTH = {
    "type": "object",
    "properties": {"status": {"type": "string"}, "version": {"type": "string"}},
}
READY = {
    "type": "object",
    "properties": {
        "ready": {"type": "boolean"},
        "not_ready": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["ready", "not_ready"],
}
STATUS = {"type": "object", "description": "Summary of the box; see `edgebox status --json`."}


def frame_png(frame: Image.Image) -> bytes:
    out = io.BytesIO()
    frame.convert("RGB").save(out, format="PNG", optimize=False, compress_level=1)
    return out.getvalue()


def blueprint(lan: Lan, metronome: Metronome) -> Blueprint:
    bp = Blueprint("status", __name__)
    token = lan.config.admin_token.reveal()

    # Read once while the app is built, so no request reads the disk on the trio thread.
    pages = {
        name: (_STATIC / name).read_bytes()
        for name in (*_STATIC_FILES, "status.html", "login.html", "docs.html")
    }

    def static_file(name: str) -> Response:
        body = pages[name]
        suffix = name[name.rfind(".") :]
        return Response(body, content_type=_STATIC_TYPES.get(suffix, "application/octet-stream"))

    @bp.get("/healthz")
    @documented("Liveness probe", response=HEALTH)
    async def healthz() -> Response:
        """Liveness: the trio loop answers HTTP."""
        return jsonify({"status": "ok", "version": __version__})

    @bp.get("/readyz")
    @documented("Readiness probe", response=READY, errors=(503,))
    async def readyz() -> Response:
        """Readiness: serving, and serving from a valid snapshot where a cloud is configured."""
        missing = lan.readiness()
        response = jsonify({"ready": not missing, "not_ready": missing})
        response.status_code = 503 if missing else 200
        return response

    @bp.get("/metrics")
    @documented("Prometheus metrics", content_type="text/plain")
    async def metrics() -> Response:
        return Response(
            lan.metrics.exposition(), content_type="text/plain; version=0.0.4; charset=utf-8"
        )

    @bp.get("/")
    @documented(
        "The status page (a sign-in form without the admin cookie)", content_type="text/html"
    )
    async def page() -> Response:
        return static_file("status.html" if admin_authorized(token) else "login.html")

    @bp.get("/static/<name>")
    @documented(
        "Scripts and styles of the box's own pages", content_type="text/plain", errors=(404,)
    )
    async def static(name: str) -> Response:
        if name not in _STATIC_FILES:
            return json_error(404, "no such file")
        return static_file(name)

    @bp.post("/login")
    @documented("Sign in to the status page with the admin token (form field `token`)", status=302)
    async def login() -> Response:
        return await token_login(token, ADMIN_COOKIE, "/")

    @bp.get("/api/status")
    @documented("The box's status summary", response=STATUS, auth=True)
    async def status_json() -> Response:
        if not admin_authorized(token):
            return json_error(401, "admin token required")
        return jsonify(lan.status())

    @bp.post("/api/sync")
    @documented(
        "Sync the playlists now; download progress as JSON lines until it finishes",
        auth=True,
        errors=(401, 503),
        content_type="application/x-ndjson",
    )
    async def sync_now() -> Response:
        """What `edgebox sync` shows: the box's own sync, asked to run once more."""
        if not admin_authorized(token):
            return json_error(401, "admin token required")
        sync_now = lan.sync_now
        if sync_now is None:
            return json_error(503, "the cloud is not enabled in this venue file")

        async def stream() -> AsyncIterator[bytes]:
            with lan.hub.subscribe({"sync"}, maxlen=4096) as events:
                after = await sync_now()
                async for change in events:
                    yield json.dumps(change.value, separators=(",", ":")).encode() + b"\n"
                    if change.value["kind"] == "finished" and change.value["run"] > after:
                        return

        response = await make_response(stream(), 200, {"Content-Type": "application/x-ndjson"})
        response.timeout = None  # type: ignore[union-attr]
        return response  # type: ignore[return-value]

    @bp.get("/api/status/events")
    @documented(
        "Status and live canvas frames as Server-Sent Events",
        auth=True,
        content_type="text/event-stream",
    )
    async def status_events() -> Response:
        """Status once a second and each canvas's picture a few times a second, as SSE."""
        if not admin_authorized(token):
            return json_error(401, "admin token required")

        last_frame: dict[str, float] = {}

        def status_event() -> bytes:
            return sse.encode(lan.status(), "status")

        async def frame_event(change: Change) -> bytes | None:
            name, frame = change.value
            if trio.current_time() - last_frame.get(name, -1e9) < 1 / FRAMES_PER_SECOND:
                return None
            last_frame[name] = trio.current_time()
            png = await trio.to_thread.run_sync(frame_png, frame)
            return sse.encode(
                {
                    "canvas": name,
                    "width": frame.width,
                    "height": frame.height,
                    "png": base64.b64encode(png).decode(),
                },
                "frame",
            )

        return sse.respond(
            sse.feed(
                lan.hub,
                {"frame"},
                metronome=metronome,
                first=status_event,
                change=frame_event,
                tick=status_event,
                period=STATUS_PERIOD,
                beat=True,
                maxlen=8,
            )
        )

    @bp.get("/openapi.json")
    @documented("This document")
    async def openapi_json() -> Response:
        return jsonify(openapi.build(current_app))

    @bp.get("/docs")
    @documented("API documentation, rendered by the box itself", content_type="text/html")
    async def docs() -> Response:
        return static_file("docs.html")

    return bp
