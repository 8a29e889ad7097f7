"""JSON Schemas of the IPTV APIs (the TVs' client API and the admin API), and the status code
each catalog refusal is answered with: what both route files share, beside neither.
"""

from __future__ import annotations

from quart import Response

from edgebox.core.errors import (
    AlreadyActivated,
    CatalogFull,
    DeviceDisabled,
    DeviceExists,
    DeviceNotFound,
    InvalidActivationCode,
    IptvError,
    NotFound,
)
from edgebox.iptv import model as iptv
from edgebox.local.http import json_error

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
