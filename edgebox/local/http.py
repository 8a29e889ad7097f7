"""What every LAN blueprint shares: JSON errors that name the field, and strict body reading."""

from __future__ import annotations

import hmac
import json
from typing import Any

import trio
from quart import Response, current_app, jsonify, redirect, request
from werkzeug.exceptions import RequestTimeout

from edgebox.core.errors import ValidationError
from edgebox.core.jsontext import depth

MAX_JSON_BYTES = 256 * 1024
MAX_JSON_DEPTH = 32


def json_error(status: int, message: str, field: str | None = None) -> Response:
    body: dict[str, Any] = {"error": message}
    if field is not None:
        body["field"] = field
    response = jsonify(body)
    response.status_code = status
    return response


def encode(value: Any) -> bytes:
    """As `jsonify` encodes (compact, ASCII, keys in order, a newline at the end), for answers
    made once and sent many times."""
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def json_response(body: bytes) -> Response:
    response: Response = current_app.response_class(body, mimetype="application/json")
    return response


class BodyTooLarge(ValidationError):
    """A request body over the route's limit (-> 413); it is refused before it is all read."""

    def __init__(self, max_bytes: int, field: str = "body") -> None:
        super().__init__(f"must be at most {max_bytes} bytes", field)


async def read_body(max_bytes: int, field: str = "body") -> bytes:
    """The raw body, read no further than `max_bytes` and no longer than the app's
    BODY_TIMEOUT (a client that drips its body gets a 408, not a worker held forever)."""
    length = request.content_length
    if length is not None and length > max_bytes:
        raise BodyTooLarge(max_bytes, field)
    data = bytearray()
    with trio.move_on_after(current_app.config["BODY_TIMEOUT"]) as waiting:
        if length is not None:
            # The server reads no more than the length declared: the whole body is awaited
            # at once, not chunk by chunk (each a trip through the scheduler).
            data += await request.body
        else:
            async for chunk in request.body:
                data += chunk
                if len(data) > max_bytes:
                    raise BodyTooLarge(max_bytes, field)
    if waiting.cancelled_caught:
        raise RequestTimeout()
    return bytes(data)


async def read_json(max_bytes: int = MAX_JSON_BYTES) -> Any:
    """The request body as JSON, or ValidationError (-> 400) saying what is wrong with it."""
    raw = await read_body(max_bytes)
    if not raw.strip():
        raise ValidationError("a JSON body is required", "body")
    try:
        value = _DECODER.decode(raw.decode(json.detect_encoding(raw), "surrogatepass"))
    except (ValueError, RecursionError) as exc:
        raise ValidationError(f"not valid JSON ({exc})", "body") from None
    # Each level past the first is a pair of brackets: a short body cannot nest too deep.
    if len(raw) > 2 * MAX_JSON_DEPTH and depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ValidationError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", "body")
    return value


def _not_json(name: str) -> Any:
    """Python's json reads NaN and Infinity, which JSON has not: no rule expects them."""
    raise ValueError(f"{name} is not a JSON value")


# What `json.loads(raw, parse_constant=_not_json)` does, without building a decoder per body.
_DECODER = json.JSONDecoder(parse_constant=_not_json)


async def read_json_object(max_bytes: int = MAX_JSON_BYTES) -> dict[str, Any]:
    value = await read_json(max_bytes)
    if not isinstance(value, dict):
        raise ValidationError("must be a JSON object", "body")
    return value


ADMIN_COOKIE = "edgebox_admin"


def admin_authorized(token: str) -> bool:
    """True when the request carries the venue's admin token as a bearer header or cookie.

    An empty configured token disables admin access altogether rather than opening it.
    """
    return bool(token) and offers_token(token, ADMIN_COOKIE)


def offers_token(token: str, cookie: str) -> bool:
    """True when the request carries `token` as a bearer header or in the cookie `cookie`."""
    header = request.headers.get("Authorization", "")
    offered = header[7:] if header.startswith("Bearer ") else request.cookies.get(cookie, "")
    return hmac.compare_digest(offered.encode(), token.encode())


async def token_login(token: str, cookie: str, home: str) -> Response:
    """A sign-in form's answer: back to `home`, with the cookie set only if its token matches."""
    form = await request.form
    offered = form.get("token", "")
    response = redirect(home)
    if token and hmac.compare_digest(offered.encode(), token.encode()):
        response.set_cookie(cookie, offered, httponly=True, samesite="Strict", max_age=30 * 86400)
    return response
