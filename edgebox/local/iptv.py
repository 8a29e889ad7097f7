"""The IPTV client API (seed 003) under /api/client, with its rate limits.

Routes only translate HTTP to catalog calls; the rules live in `edgebox.iptv`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio
from quart import Blueprint, Response, jsonify, request

from edgebox import iptv
from edgebox.errors import ValidationError
from edgebox.iptv import (
    AlreadyActivated,
    CatalogFull,
    DeviceDisabled,
    DeviceExists,
    DeviceNotFound,
    InvalidActivationCode,
    IptvError,
    NotFound,
)
from edgebox.local.http import json_error, json_response, read_json_object
from edgebox.local.iptvanswers import Answers
from edgebox.local.openapi import documented
from edgebox.ratelimit import ClientLimits, Verdict

if TYPE_CHECKING:
    from edgebox.cache.catalog import Catalog
    from edgebox.gateway import Box

MAX_CLIENT_BODY = 4 * 1024

REFUSALS: dict[type[IptvError], int] = {
    DeviceNotFound: 404,
    NotFound: 404,
    DeviceExists: 409,
    AlreadyActivated: 409,
    CatalogFull: 409,
    InvalidActivationCode: 400,
    DeviceDisabled: 403,
}


def refusal(exc: IptvError) -> Response:
    return json_error(REFUSALS.get(type(exc), 409), str(exc))


def too_many(verdict: Verdict, what: str) -> Response:
    response = json_error(429, f"Too many requests for this {what}; retry later")
    response.headers["Retry-After"] = verdict.retry_after_header
    return response


_STR = {"type": "string"}
_NULLABLE_STR = {"anyOf": [_STR, {"type": "null"}]}
# Text fields are stripped before they are checked, and Python's whitespace is not JSON
# Schema's \s (it adds \x1c-\x1f and \x85, and \ufeff is not in it): spelled out here.
WHITESPACE = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_BLANK = WHITESPACE
TEXT = {"type": "string", "maxLength": iptv.MAX_NAME, "pattern": f"[^{_BLANK}]"}
LONG_TEXT = TEXT | {"maxLength": iptv.MAX_TEXT}
DUID = {"type": "string", "pattern": "^[A-Za-z0-9._:-]{1,64}$"}
_SCHEMES = "|".join(
    "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in scheme)
    for scheme in iptv.STREAM_SCHEMES
)
STREAM_URL = {
    "type": "string",
    "maxLength": iptv.MAX_URL,
    "pattern": f"^[{_BLANK}]*({_SCHEMES}):",
    "description": f"a {'/'.join(iptv.STREAM_SCHEMES)} URL",
}
LOGO_URL = {"anyOf": [{"type": "string", "maxLength": iptv.MAX_URL}, {"type": "null"}]}
_TYPE = {"enum": list(iptv.TYPES)}
_TYPES = "(" + "|".join(iptv.TYPES) + ")"
ALLOWED_TYPES = {
    "anyOf": [
        {
            "type": "string",
            "pattern": f"^[{_BLANK},]*({_TYPES}[{_BLANK}]*(,[{_BLANK},]*{_TYPES}[{_BLANK}]*)*)?$",
            "description": "comma-separated: FTA,Local,Premium",
        },
        {"type": "array", "items": _TYPE},
    ]
}
_DATE = {"type": "string", "format": "date"}
_STAMP = {"type": "string", "format": "date-time"}
DEVICE = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "duid": DUID,
        "owner_name": _STR,
        "allowed_types": {"type": "string", "description": "comma-separated: FTA,Local,Premium"},
        "expiry_date": {"anyOf": [_DATE, {"type": "null"}]},
        "status": {"enum": list(iptv.STATUSES)},
        "activation_code": {"type": "string", "pattern": "^[0-9]{4}$"},
        "created_at": _STAMP,
    },
    "required": ["id", "duid", "owner_name", "allowed_types", "expiry_date", "status"],
    "additionalProperties": False,
}
CHANNEL = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "name": _STR,
        "url": _STR,
        "logo_url": _NULLABLE_STR,
        "type": _TYPE,
        "category": _STR,
        "has_news": {"type": "boolean"},
        "display_order": {"type": "integer"},
    },
    "required": ["id", "name", "url", "logo_url", "type", "category", "has_news"],
    "additionalProperties": False,
}
NEWS = {
    "type": "object",
    "properties": {
        "id": {"type": "integer"},
        "title": _STR,
        "body": _STR,
        "created_at": _STAMP,
    },
    "required": ["id", "title", "body", "created_at"],
    "additionalProperties": False,
}
CHECK = {
    "type": "object",
    "properties": {
        "status": {"enum": list(iptv.STATUSES)},
        "message": _STR,
        "device": DEVICE,
        "channels": {"type": "array", "items": CHANNEL},
        "news": {"type": "array", "items": NEWS},
    },
    "required": ["status", "device"],
    "additionalProperties": False,
}
DUID_BODY = {"type": "object", "properties": {"duid": DUID}, "required": ["duid"]}
REGISTER_BODY = {
    "type": "object",
    "properties": {
        "device_name": TEXT,
        "duid": {
            "anyOf": [DUID, {"type": "null"}],
            "description": "the TV's own id; generated when absent",
        },
    },
    "description": "`device_name`, or the TV's own `duid` alone (the name is then the DUID)",
    "anyOf": [
        {"required": ["device_name"]},
        {"required": ["duid"], "properties": {"duid": DUID}},
    ],
}
ACTIVATE_BODY = {
    "type": "object",
    "properties": {
        "duid": DUID,
        "activation_code": {
            "anyOf": [
                {"type": "string", "pattern": "^[0-9]{4}$"},
                {"type": "integer", "minimum": 0, "maximum": 9999},
            ]
        },
    },
    "required": ["duid", "activation_code"],
}
DEVICE_MESSAGE = {
    "type": "object",
    "properties": {"message": _STR, "device": DEVICE},
    "required": ["message", "device"],
    "additionalProperties": False,
}
CHANNELS = {
    "type": "object",
    "properties": {"channels": {"type": "array", "items": CHANNEL}},
    "required": ["channels"],
    "additionalProperties": False,
}
NEWS_LIST = {
    "type": "object",
    "properties": {"news": {"type": "array", "items": NEWS}},
    "required": ["news"],
    "additionalProperties": False,
}


def activation_code(value: Any) -> str:
    """Four digits; a TV that sends the code as a number keeps its leading zeros."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9999:
        return f"{value:04d}"
    if isinstance(value, str) and len(value) == 4 and value.isascii() and value.isdigit():
        return value
    raise ValidationError("must be 4 digits", "activation_code")


def client_api(box: Box) -> Blueprint:
    bp = Blueprint("iptv", __name__, url_prefix="/api/client")
    catalog: Catalog = box.iptv
    answers = Answers(catalog)
    limits = ClientLimits()

    @bp.errorhandler(IptvError)
    async def refused(exc: IptvError) -> Response:
        return refusal(exc)

    @bp.before_request
    async def limit_per_address() -> Response | None:
        verdict = limits.per_ip.hit(request.remote_addr or "", trio.current_time())
        return None if verdict.allowed else too_many(verdict, "address")

    def device_for(duid: Any) -> iptv.Device:
        """The device, once its own hourly budget allows one more request."""
        duid = iptv.check_duid(duid)
        verdict = limits.per_device.hit(duid, trio.current_time())
        if not verdict.allowed:
            raise _Limited(verdict)
        return catalog.device(duid)

    @bp.post("/check-device")
    @documented(
        "A device's status with the channels and news it may see",
        body=DUID_BODY,
        response=CHECK,
        errors=(404, 429),
    )
    async def check_device() -> Response:
        body = await read_json_object(MAX_CLIENT_BODY)
        device = device_for(body.get("duid"))
        return json_response(answers.check_device(device, catalog.now()))

    @bp.post("/register-device")
    @documented(
        "Register a TV: a DUID and a 4-digit activation code; disabled until activated",
        body=REGISTER_BODY,
        response=DEVICE_MESSAGE,
        status=201,
        errors=(409, 429),
    )
    async def register_device() -> tuple[Response, int]:
        body = await read_json_object(MAX_CLIENT_BODY)
        duid = iptv.check_duid(body["duid"]) if body.get("duid") is not None else None
        key = "device_name" if "device_name" in body or "owner_name" not in body else "owner_name"
        # TVs written for the origin implementation send their own DUID and no name.
        name = duid if duid is not None and key not in body else iptv.text_field(body, key)
        device = await catalog.register(name, duid)
        now = catalog.now()
        shown = device.public(now) | {
            "activation_code": device.activation_code,
            "created_at": device.created_at,
        }
        return jsonify({"message": "Device registered successfully", "device": shown}), 201

    @bp.post("/activate-device")
    @documented(
        "Activate a device with its activation code (once)",
        body=ACTIVATE_BODY,
        response=DEVICE_MESSAGE,
        errors=(404, 409, 429),
    )
    async def activate_device() -> Response:
        body = await read_json_object(MAX_CLIENT_BODY)
        device = device_for(body.get("duid"))
        code = activation_code(body.get("activation_code"))
        device = await catalog.activate(device.duid, code)
        return jsonify(
            {"message": "Device activated successfully", "device": device.public(catalog.now())}
        )

    @bp.get("/channels")
    @documented(
        "The channels a device may watch, in the server's order",
        query=(("duid", DUID),),
        response=CHANNELS,
        errors=(400, 403, 404, 429),
    )
    async def channels() -> Response:
        device = device_for(request.args.get("duid"))
        now = catalog.now()
        if device.status(now) == "disabled":
            raise DeviceDisabled()
        return json_response(answers.channel_list(device, now))

    @bp.get("/news")
    @documented(
        "News for a device, newest first",
        query=(("duid", DUID),),
        response=NEWS_LIST,
        errors=(400, 403, 404, 429),
    )
    async def news() -> Response:
        device = device_for(request.args.get("duid"))
        if device.status(catalog.now()) == "disabled":
            raise DeviceDisabled()
        return json_response(answers.news_list())

    @bp.errorhandler(_Limited)
    async def limited(exc: _Limited) -> Response:
        return too_many(exc.verdict, "device")

    return bp


class _Limited(Exception):
    """A device over its hourly budget; becomes a 429 with Retry-After."""

    def __init__(self, verdict: Verdict) -> None:
        super().__init__("rate limited")
        self.verdict = verdict
