"""The LAN app: one quart-trio app, one blueprint per API, one JSON error shape."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from quart import Response, request
from quart_trio import QuartTrio
from werkzeug.exceptions import HTTPException

from edgebox.core.errors import ValidationError
from edgebox.local import sign_api, status_api
from edgebox.local.events import events_api
from edgebox.local.http import BodyTooLarge, json_error
from edgebox.local.iptv_admin_api import iptv_admin_api
from edgebox.local.iptv_api import client_api
from edgebox.local.led_api import led_api

if TYPE_CHECKING:
    from edgebox.local.context import Lan
    from edgebox.local.metronome import Metronome

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024 * 1024
BODY_TIMEOUT = 30.0


def create_app(lan: Lan, metronome: Metronome, *, body_timeout: float = BODY_TIMEOUT) -> QuartTrio:
    """`metronome` keeps the event streams' time and must run beside the app
    (`edgebox.local.server`); `body_timeout`: seconds a client has to send a whole request
    body (then 408)."""
    app = QuartTrio("edgebox", static_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.config["BODY_TIMEOUT"] = body_timeout
    app.config["JSON_SORT_KEYS"] = False
    app.json.sort_keys = False  # type: ignore[attr-defined]

    @app.errorhandler(ValidationError)
    async def invalid(exc: ValidationError) -> Response:
        return json_error(400, exc.message, exc.field)

    @app.errorhandler(BodyTooLarge)
    async def too_large(exc: BodyTooLarge) -> Response:
        return json_error(413, exc.message, exc.field)

    @app.errorhandler(HTTPException)
    async def http_error(exc: HTTPException) -> Response:
        response = json_error(exc.code or 500, exc.description or exc.name)
        for name, value in exc.get_headers():
            if name.lower() != "content-type":  # e.g. the Allow of a 405
                response.headers[name] = value
        return response

    @app.errorhandler(Exception)
    async def crash(exc: Exception) -> Response:
        log.exception("unhandled error in a LAN request")
        return json_error(500, "Internal server error")

    # A counter's child per (API, status), looked up once: `labels()` costs a lock and a
    # dict per request otherwise.
    counters: dict[tuple[str, int], Any] = {}

    @app.after_request
    async def count_and_close_after_refused_body(response: Response) -> Response:
        """Counts the answer by API and status. Hypercorn's HTTP/1.1 connection stalls when an
        answer goes out before the request body was read (a refused huge body): such a
        connection is closed instead of reused. One hook, not two: each costs every request."""
        asked = request._get_current_object()  # type: ignore[attr-defined]
        status = response.status_code
        key = (asked.blueprint or "none", status)
        counter = counters.get(key)
        if counter is None:
            counter = counters[key] = lan.metrics.requests.labels(api=key[0], status=str(status))
        counter.inc()
        if status >= 400 and (
            asked.content_length or "chunked" in asked.headers.get("Transfer-Encoding", "")
        ):
            response.headers["Connection"] = "close"
        return response

    app.register_blueprint(led_api(lan))
    app.register_blueprint(events_api(lan, metronome))
    app.register_blueprint(client_api(lan))
    app.register_blueprint(iptv_admin_api(lan))

    app.register_blueprint(status_api.blueprint(lan, metronome))
    app.register_blueprint(sign_api.blueprint(lan, metronome))
    return app
