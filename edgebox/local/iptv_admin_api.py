"""The operator's IPTV API under /api/admin/iptv: devices, channels, news and M3U import.

Every route needs the venue's admin token (bearer header or the status page's cookie).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from quart import Blueprint, Response, jsonify, request

from edgebox.core.errors import IptvError, ValidationError
from edgebox.iptv import model as iptv
from edgebox.local.http import admin_authorized, json_error, read_json_object
from edgebox.local.iptvschema import (
    ALLOWED_TYPES,
    CHANNEL,
    DEVICE,
    DUID,
    LOGO_URL,
    LONG_TEXT,
    NEWS,
    STREAM_URL,
    TEXT,
    WHITESPACE,
    refusal,
)
from edgebox.local.openapi import documented

if TYPE_CHECKING:
    from edgebox.local.context import Lan

MAX_PLAYLIST_BYTES = 8 * 1024 * 1024

# A playlist must hold an entry or a line that is not a comment, or there is nothing to import.
_M3U_LINE = (
    rf"(^|[\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029])[{WHITESPACE}]*"
    rf"([^{WHITESPACE}#]|#[Ee][Xx][Tt][Ii][Nn][Ff])"
)
IMPORT_BODY = {
    "type": "object",
    "properties": {
        "playlist": {"type": "string", "description": "M3U/M3U8 text", "pattern": _M3U_LINE},
        "type": {"enum": list(iptv.TYPES)},
    },
    "required": ["playlist", "type"],
}
IMPORT_LINE = {
    "type": "object",
    "properties": {
        "line": {"type": "integer", "minimum": 1},
        "action": {"enum": ["added", "updated", "unchanged", "skipped"]},
        "name": {"type": "string"},
        "channel_id": {"type": "integer"},
        "reason": {"type": "string"},
    },
    "required": ["line", "action"],
    "additionalProperties": False,
}
IMPORT_REPORT = {
    "type": "object",
    "properties": {
        "added": {"type": "integer", "minimum": 0},
        "updated": {"type": "integer", "minimum": 0},
        "unchanged": {"type": "integer", "minimum": 0},
        "skipped": {"type": "integer", "minimum": 0},
        "lines": {"type": "array", "items": IMPORT_LINE},
    },
    "required": ["added", "updated", "unchanged", "skipped", "lines"],
    "additionalProperties": False,
}
REORDER = {
    "type": "object",
    "properties": {"channel_ids": {"type": "array", "items": {"type": "integer"}}},
    "required": ["channel_ids"],
}
ADMIN_DEVICE = DEVICE | {
    "properties": DEVICE["properties"]
    | {
        "activated_at": {"anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]},
        "disabled": {"type": "boolean"},
    },
    "required": [*DEVICE["required"], "activation_code", "created_at", "activated_at", "disabled"],
}
_DEVICE_FIELDS = {
    "owner_name": TEXT,
    "duid": {"anyOf": [DUID, {"type": "null"}]},
    "allowed_types": ALLOWED_TYPES,
    "expiry_date": {"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]},
    "disabled": {"type": "boolean"},
    "status": {"enum": ["active", "disabled"], "description": "expiry decides `expired`"},
    "id": {"description": "ignored"},
}
DEVICE_BODY = {
    "type": "object",
    "properties": _DEVICE_FIELDS,
    "required": ["owner_name"],
    "additionalProperties": False,
}
DEVICE_EDIT = {
    "type": "object",
    "properties": _DEVICE_FIELDS | {"duid": {"description": "ignored"}},
    "additionalProperties": False,
}
_CHANNEL_FIELDS = {
    "name": TEXT,
    "url": STREAM_URL,
    "type": {"enum": list(iptv.TYPES)},
    "category": TEXT,
    "logo_url": LOGO_URL,
    "has_news": {"type": "boolean"},
    "id": {"description": "ignored"},
    "display_order": {"description": "ignored; PUT /channels/order sets the order"},
}
CHANNEL_BODY = {
    "type": "object",
    "properties": _CHANNEL_FIELDS,
    "required": ["name", "url", "type"],
    "additionalProperties": False,
}
CHANNEL_EDIT = {"type": "object", "properties": _CHANNEL_FIELDS, "additionalProperties": False}
_NEWS_FIELDS = {
    "title": TEXT,
    "body": LONG_TEXT,
    "created_at": {"type": "string", "format": "date-time", "description": "now when absent"},
    "id": {"description": "ignored"},
}
NEWS_BODY = {
    "type": "object",
    "properties": _NEWS_FIELDS,
    "required": ["title", "body"],
    "additionalProperties": False,
}
NEWS_EDIT = {"type": "object", "properties": _NEWS_FIELDS, "additionalProperties": False}


def _list(schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": schema}


def iptv_admin_api(lan: Lan) -> Blueprint:
    bp = Blueprint("iptv_admin", __name__, url_prefix="/api/admin/iptv")
    catalog = lan.iptv
    token = lan.config.admin_token.reveal()

    @bp.before_request
    async def authorize() -> Response | None:
        return None if admin_authorized(token) else json_error(401, "admin token required")

    @bp.errorhandler(IptvError)
    async def refused(exc: IptvError) -> Response:
        return refusal(exc)

    def shown(device: iptv.Device) -> dict[str, Any]:
        return device.admin(catalog.now())

    # Devices

    @bp.get("/devices")
    @documented(
        "Devices; `status` filters, `expiring_within_days` keeps those that end soon",
        response=_list(ADMIN_DEVICE),
        auth=True,
        errors=(400,),
    )
    async def list_devices() -> Response:
        now = catalog.now()
        status = request.args.get("status")
        if status is not None and status not in iptv.STATUSES:
            raise ValidationError(f"must be one of {', '.join(iptv.STATUSES)}", "status")
        within = request.args.get("expiring_within_days")
        horizon: dt.date | None = None
        if within is not None:
            if not within.isdigit():
                raise ValidationError("must be a whole number of days", "expiring_within_days")
            horizon = now.date() + dt.timedelta(days=int(within))
        found = [
            d
            for d in sorted(catalog.devices.values(), key=lambda d: d.id)
            if (status is None or d.status(now) == status)
            and (
                horizon is None
                or (d.expiry_date is not None and now.date() <= d.expiry_date <= horizon)
            )
        ]
        return jsonify([shown(d) for d in found])

    @bp.post("/devices")
    @documented(
        "Create a device (`owner_name`, optional `duid`, `allowed_types`, `expiry_date`, `status`)",
        body=DEVICE_BODY,
        response=ADMIN_DEVICE,
        status=201,
        auth=True,
        errors=(409,),
    )
    async def create_device() -> tuple[Response, int]:
        body = await read_json_object()
        name = iptv.text_field(body, "owner_name")
        duid = iptv.check_duid(body["duid"]) if body.get("duid") is not None else None
        changes = iptv.device_changes({k: v for k, v in body.items() if k != "owner_name"})
        device = await catalog.register(name, duid, **changes)
        return jsonify(shown(device)), 201

    @bp.get("/devices/<duid>")
    @documented("One device", response=ADMIN_DEVICE, auth=True, errors=(404,))
    async def get_device(duid: str) -> Response:
        return jsonify(shown(catalog.device(duid)))

    @bp.patch("/devices/<duid>")
    @documented(
        "Edit a device: owner_name, allowed_types, expiry_date, status active/disabled",
        body=DEVICE_EDIT,
        response=ADMIN_DEVICE,
        auth=True,
        errors=(404,),
    )
    async def edit_device(duid: str) -> Response:
        catalog.device(duid)
        changes = iptv.device_changes(await read_json_object())
        return jsonify(shown(await catalog.update_device(duid, changes)))

    @bp.post("/devices/<duid>/activate")
    @documented("Switch a device on", response=ADMIN_DEVICE, auth=True, errors=(404,))
    async def activate_device(duid: str) -> Response:
        return jsonify(shown(await catalog.update_device(duid, {"disabled": False})))

    @bp.post("/devices/<duid>/disable")
    @documented("Switch a device off", response=ADMIN_DEVICE, auth=True, errors=(404,))
    async def disable_device(duid: str) -> Response:
        return jsonify(shown(await catalog.update_device(duid, {"disabled": True})))

    @bp.delete("/devices/<duid>")
    @documented("Delete a device", status=204, auth=True, errors=(404,))
    async def delete_device(duid: str) -> tuple[str, int]:
        await catalog.delete_device(duid)
        return "", 204

    # Channels

    @bp.get("/channels")
    @documented("Every channel, in the order the TVs see", response=_list(CHANNEL), auth=True)
    async def list_channels() -> Response:
        return jsonify([c.public(i) for i, c in enumerate(catalog.channels, start=1)])

    @bp.post("/channels")
    @documented(
        "Add a channel at the end",
        body=CHANNEL_BODY,
        response=CHANNEL,
        status=201,
        auth=True,
        errors=(409,),
    )
    async def create_channel() -> tuple[Response, int]:
        fields = iptv.channel_fields(await read_json_object(), partial=False)
        return jsonify((await catalog.add_channel(fields)).public()), 201

    @bp.get("/channels/<int:channel_id>")
    @documented("One channel", response=CHANNEL, auth=True, errors=(404,))
    async def get_channel(channel_id: int) -> Response:
        return jsonify(catalog.channel(channel_id).public())

    @bp.patch("/channels/<int:channel_id>")
    @documented("Edit a channel", body=CHANNEL_EDIT, response=CHANNEL, auth=True, errors=(404,))
    async def edit_channel(channel_id: int) -> Response:
        catalog.channel(channel_id)
        fields = iptv.channel_fields(await read_json_object(), partial=True)
        return jsonify((await catalog.update_channel(channel_id, fields)).public())

    @bp.delete("/channels/<int:channel_id>")
    @documented("Delete a channel", status=204, auth=True, errors=(404,))
    async def delete_channel(channel_id: int) -> tuple[str, int]:
        await catalog.delete_channel(channel_id)
        return "", 204

    @bp.put("/channels/order")
    @documented(
        "Reorder: `channel_ids` names every channel once",
        body=REORDER,
        response=_list(CHANNEL),
        auth=True,
    )
    async def reorder_channels() -> Response:
        ids = (await read_json_object()).get("channel_ids")
        if not isinstance(ids, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) for i in ids
        ):
            raise ValidationError("must be a list of channel ids", "channel_ids")
        await catalog.reorder_channels(ids)
        return jsonify([c.public(i) for i, c in enumerate(catalog.channels, start=1)])

    @bp.post("/channels/import")
    @documented(
        "Import channels from an M3U/M3U8 playlist; reports each entry and unusable line",
        body=IMPORT_BODY,
        response=IMPORT_REPORT,
        auth=True,
    )
    async def import_channels() -> Response:
        body = await read_json_object(MAX_PLAYLIST_BYTES)
        playlist = body.get("playlist")
        if not isinstance(playlist, str):
            raise ValidationError("must be the playlist's text", "playlist")
        report = await catalog.import_m3u(playlist, iptv.check_type(body.get("type")))
        return jsonify(report.to_json())

    # News

    @bp.get("/news")
    @documented("Every news item, newest first", response=_list(NEWS), auth=True)
    async def list_news() -> Response:
        return jsonify([n.public() for n in iptv.newest_first(catalog.news)])

    @bp.post("/news")
    @documented(
        "Add a news item", body=NEWS_BODY, response=NEWS, status=201, auth=True, errors=(409,)
    )
    async def create_news() -> tuple[Response, int]:
        fields = iptv.news_fields(await read_json_object(), partial=False)
        return jsonify((await catalog.add_news(fields)).public()), 201

    @bp.patch("/news/<int:news_id>")
    @documented("Edit a news item", body=NEWS_EDIT, response=NEWS, auth=True, errors=(404,))
    async def edit_news(news_id: int) -> Response:
        catalog.news_item(news_id)
        fields = iptv.news_fields(await read_json_object(), partial=True)
        return jsonify((await catalog.update_news(news_id, fields)).public())

    @bp.delete("/news/<int:news_id>")
    @documented("Delete a news item", status=204, auth=True, errors=(404,))
    async def delete_news(news_id: int) -> tuple[str, int]:
        await catalog.delete_news(news_id)
        return "", 204

    return bp
