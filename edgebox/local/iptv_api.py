"""The IPTV client API (seed 003) under /api/client, with its rate limits.

Routes only translate HTTP to catalog calls; the rules live in `edgebox.iptv.model`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import trio
from quart import Blueprint, Response, jsonify, request

from edgebox.core.errors import (
    DeviceDisabled,
    IptvError,
    ValidationError,
)
from edgebox.iptv import model as iptv
from edgebox.iptv.ratelimit import ClientLimits, Verdict
from edgebox.local.http import json_error, json_response, read_json_object
from edgebox.local.iptvanswers import Answers
from edgebox.local.iptvschema import (
    ACTIVATE_BODY,
    CHANNELS,
    CHECK,
    DEVICE_MESSAGE,
    DUID,
    DUID_BODY,
    NEWS_LIST,
    REGISTER_BODY,
    refusal,
)
from edgebox.local.openapi import documented

if TYPE_CHECKING:
    from edgebox.iptv.catalog import Catalog
    from edgebox.local.context import Lan

MAX_CLIENT_BODY = 4 * 1024


def too_many(verdict: Verdict, what: str) -> Response:
    response = json_error(429, f"Too many requests for this {what}; retry later")
    response.headers["Retry-After"] = verdict.retry_after_header
    return response


def activation_code(value: Any) -> str:
    """Four digits; a TV that sends the code as a number keeps its leading zeros."""
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 9999:
        return f"{value:04d}"
    if isinstance(value, str) and len(value) == 4 and value.isascii() and value.isdigit():
        return value
    raise ValidationError("must be 4 digits", "activation_code")


def client_api(lan: Lan) -> Blueprint:
    bp = Blueprint("iptv", __name__, url_prefix="/api/client")
    catalog: Catalog = lan.iptv
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
