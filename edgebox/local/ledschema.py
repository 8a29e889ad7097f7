"""JSON Schemas of the LED sign API's bodies, for the OpenAPI document.

The LED JSON shape (a `content_type`/`type` tag beside `data`, border effects as one-key
objects) differs from the classes in `ledsign`, so the schemas are written here, next to the
parser's limits they repeat: `ledsign.parse_item` stays the one validator, and
`tests/test_openapi.py` checks that every item it writes matches these schemas.
"""

from __future__ import annotations

from typing import Any

from edgebox import ledsign

Schema = dict[str, Any]

COLOR: Schema = {
    "type": "array",
    "items": {"type": "integer", "minimum": 0, "maximum": 255},
    "minItems": 3,
    "maxItems": 3,
}
ID: Schema = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9._:~-]{0,127}$"}
FORMATTING: Schema = {
    "type": "object",
    "properties": {k: {"type": "boolean"} for k in ("bold", "underline", "strikethrough")},
}
SEGMENT: Schema = {
    "type": "object",
    "properties": {
        "start": {"type": "integer", "minimum": 0},
        "end": {"type": "integer", "minimum": 1},
        "color": {"anyOf": [COLOR, {"type": "null"}]},
        "formatting": {"anyOf": [FORMATTING, {"type": "null"}]},
    },
    "required": ["start", "end"],
}
TEXT: Schema = {
    "type": "object",
    "properties": {
        "text": {"type": "string", "maxLength": ledsign.MAX_TEXT_CHARS},
        "scroll": {"type": "boolean"},
        "color": COLOR,
        "speed": {"type": "number", "minimum": 0, "maximum": ledsign.MAX_SPEED},
        "text_segments": {
            "anyOf": [
                {"type": "array", "items": SEGMENT, "maxItems": ledsign.MAX_SEGMENTS},
                {"type": "null"},
            ]
        },
    },
    "required": ["text"],
}
IMAGE: Schema = {
    "type": "object",
    "properties": {
        "image_id": ID,
        "x": {"type": "integer", "minimum": -ledsign.MAX_OFFSET, "maximum": ledsign.MAX_OFFSET},
        "y": {"type": "integer", "minimum": -ledsign.MAX_OFFSET, "maximum": ledsign.MAX_OFFSET},
        "scale": {"type": "number", "minimum": ledsign.MIN_SCALE, "maximum": ledsign.MAX_SCALE},
    },
    "required": ["image_id"],
}
CLOCK: Schema = {
    "type": "object",
    "properties": {
        "format": {"enum": ["12h", "24h"]},
        "show_seconds": {"type": "boolean"},
        "color": COLOR,
    },
}
CONTENT: Schema = {
    "type": "object",
    "description": "`content_type` (the document) or `type` (the web editor); both are written",
    "properties": {
        "content_type": {"enum": list(ledsign.CONTENT_TYPES)},
        "type": {"enum": list(ledsign.CONTENT_TYPES)},
        "data": {"anyOf": [TEXT, IMAGE, CLOCK]},
    },
    "required": ["data"],
}
COLORS: Schema = {
    "type": "object",
    "properties": {
        "colors": {"type": "array", "items": COLOR, "minItems": 1, "maxItems": ledsign.MAX_COLORS}
    },
    "required": ["colors"],
}
BORDER: Schema = {
    "anyOf": [
        {"type": "null"},
        {"enum": list(ledsign.BORDER_EFFECTS)},
        {
            "type": "object",
            "properties": {
                "None": {"type": "null"},
                "Rainbow": {"type": "null"},
                **{name: COLORS for name in ("Pulse", "Sparkle", "Gradient")},
            },
            "minProperties": 1,
            "maxProperties": 1,
        },
    ]
}
ITEM: Schema = {
    "type": "object",
    "description": "A playlist item: exactly one of `duration` and `repeat_count`",
    "properties": {
        "id": {"anyOf": [ID, {"type": "null"}]},
        "duration": {
            "anyOf": [
                {"type": "number", "exclusiveMinimum": 0, "maximum": ledsign.MAX_DURATION},
                {"type": "null"},
            ]
        },
        "repeat_count": {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": ledsign.MAX_REPEATS},
                {"type": "null"},
            ]
        },
        "border_effect": BORDER,
        "content": CONTENT,
    },
    "required": ["content"],
}
ITEMS: Schema = {"type": "array", "items": ITEM}
REORDER: Schema = {
    "type": "object",
    "properties": {"item_ids": {"type": "array", "items": ID}},
    "required": ["item_ids"],
}
BRIGHTNESS: Schema = {
    "type": "object",
    "properties": {"brightness": {"type": "integer", "minimum": 0, "maximum": 100}},
    "required": ["brightness"],
}
SESSION: Schema = {
    "type": "object",
    "properties": {"session_id": {"type": "string"}},
    "required": ["session_id"],
}
PREVIEW: Schema = {
    "type": "object",
    "properties": {"item": ITEM, "session_id": {"type": "string"}},
    "required": ["item", "session_id"],
}
PREVIEW_STATUS: Schema = {
    "type": "object",
    "properties": {"active": {"type": "boolean"}},
    "required": ["active"],
}
OWNER: Schema = {
    "type": "object",
    "properties": {"is_owner": {"type": "boolean"}},
    "required": ["is_owner"],
}
IMAGE_RECORD: Schema = {
    "type": "object",
    "properties": {
        "id": ID,
        "file": {"type": "string"},
        "media_type": {"type": "string"},
        "width": {"type": "integer"},
        "height": {"type": "integer"},
        "size": {"type": "integer"},
    },
    "required": ["id", "file", "media_type", "width", "height", "size"],
}
