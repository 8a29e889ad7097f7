"""JSON Schemas of the LED sign API's bodies, for the OpenAPI document.

The LED JSON shape (a `content_type`/`type` tag beside `data`, border effects as one-key
objects) differs from the classes in `ledsign`, so the schemas are written here, next to the
parser's limits they repeat: `ledsign.parse_item` stays the one validator, and
`tests/local/test_openapi.py` checks that every item it writes matches these schemas.
"""

from __future__ import annotations

from typing import Any

from edgebox.ledsign import model as ledsign

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
    "description": "segments must lie within the text (`end` at most its length)",
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
    "if": {"properties": {"scroll": {"const": True}}, "required": ["scroll"]},
    "then": {"properties": {"speed": {"exclusiveMinimum": 0}}},
}
_OFFSET: Schema = {
    "type": "integer",
    "minimum": -ledsign.MAX_OFFSET,
    "maximum": ledsign.MAX_OFFSET,
}
_SCALE: Schema = {"type": "number", "minimum": ledsign.MIN_SCALE, "maximum": ledsign.MAX_SCALE}
_NATURAL: Schema = {
    "anyOf": [{"type": "integer", "minimum": 1, "maximum": ledsign.MAX_NATURAL}, {"type": "null"}]
}
KEYFRAME: Schema = {
    "type": "object",
    "properties": {
        "timestamp_ms": {"type": "integer", "minimum": 0, "maximum": ledsign.MAX_KEYFRAME_MS},
        "x": _OFFSET,
        "y": _OFFSET,
        "scale": _SCALE,
    },
    "required": ["timestamp_ms", "x", "y"],
}
IMAGE_ANIMATION: Schema = {
    "type": "object",
    "description": "keyframes in time order, the last one after 0 ms; `iterations` null or 0 ="
    " loop for as long as the item shows",
    "properties": {
        "keyframes": {
            "type": "array",
            "items": KEYFRAME,
            "minItems": 2,
            "maxItems": ledsign.MAX_KEYFRAMES,
        },
        "iterations": {
            "anyOf": [
                {"type": "integer", "minimum": 0, "maximum": ledsign.MAX_REPEATS},
                {"type": "null"},
            ]
        },
    },
    "required": ["keyframes"],
}
IMAGE: Schema = {
    "type": "object",
    "description": "`image_id` names an image uploaded with POST /api/images; its place is"
    " `transform` (the controller's editor) or else the flat `x`, `y`, `scale` (the document)",
    "properties": {
        "image_id": ID,
        "natural_width": _NATURAL,
        "natural_height": _NATURAL,
        "transform": {
            "anyOf": [
                {
                    "type": "object",
                    "properties": {"x": _OFFSET, "y": _OFFSET, "scale": _SCALE},
                },
                {"type": "null"},
            ]
        },
        "x": _OFFSET,
        "y": _OFFSET,
        "scale": _SCALE,
        "animation": {"anyOf": [IMAGE_ANIMATION, {"type": "null"}]},
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


_SETTINGS: dict[str, Schema] = {
    "ms": {"type": "integer", "minimum": 1, "maximum": ledsign.MAX_ANIMATION_MS},
    "count": {"type": "integer", "minimum": 1, "maximum": 255},
    "border": {"type": "integer", "minimum": 0, "maximum": 255},
    "finite": {"type": "number", "minimum": -ledsign.MAX_PHASE, "maximum": ledsign.MAX_PHASE},
    "positive": {
        "type": "number",
        "exclusiveMinimum": 0,
        "maximum": ledsign.MAX_ANIMATION_SPEED,
    },
    "unit": {"type": "number", "minimum": 0, "maximum": 1},
    "density": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
    "bool": {"type": "boolean"},
    "color": COLOR,
}
_PALETTE: Schema = {
    "type": "array",
    "items": COLOR,
    "minItems": 1,
    "maxItems": ledsign.MAX_COLORS,
}
ANIMATION: Schema = {
    "type": "object",
    "description": "a preset, its `colors` and its settings (null or absent = the default);"
    " MosaicTwinkle's `border_size` must not exceed its `tile_size`",
    "oneOf": [
        {
            "properties": {
                "preset": {"const": preset},
                "colors": _PALETTE,
                **{
                    name: {"anyOf": [_SETTINGS[s.kind], {"type": "null"}], "default": s.default}
                    for name, s in settings.items()
                },
            },
            "required": ["preset", "colors"],
        }
        for preset, settings in ledsign.PRESETS.items()
    ],
}


def _tagged(kind: str) -> Schema:
    """Content whose tag is `kind`: in `content_type`, `type`, `data.type` or several (a null
    tag is absent)."""
    return {
        "anyOf": [
            {"properties": {"content_type": {"const": kind}}, "required": ["content_type"]},
            {"properties": {"type": {"const": kind}}, "required": ["type"]},
            {
                "properties": {
                    "data": {"properties": {"type": {"const": kind}}, "required": ["type"]}
                },
                "required": ["data"],
            },
        ]
    }


def _content(kind: str, data: Schema) -> Schema:
    tag = {"enum": [kind, None]}
    tagged_data = {**data, "properties": {**data.get("properties", {}), "type": tag}}
    return {
        "type": "object",
        "properties": {"content_type": tag, "type": tag, "data": tagged_data},
        "required": ["data"],
        **_tagged(kind),
    }


CONTENT: Schema = {
    "description": "the tag in `content_type` (the document), `type` or `data.type` (the"
    " controller's editor); all three are written",
    "oneOf": [
        _content("Text", TEXT),
        _content("Image", IMAGE),
        _content("Clock", CLOCK),
        _content("Animation", ANIMATION),
    ],
}
COLORS: Schema = {
    "type": "object",
    "properties": {
        "colors": {"type": "array", "items": COLOR, "minItems": 1, "maxItems": ledsign.MAX_COLORS}
    },
    "required": ["colors"],
}
_NO_SETTINGS: Schema = {"anyOf": [{"type": "null"}, {"type": "object", "maxProperties": 0}]}
BORDER: Schema = {
    "anyOf": [
        {"type": "null"},
        {"enum": ["None", "Rainbow"]},
        {
            "type": "object",
            "properties": {
                "None": _NO_SETTINGS,
                "Rainbow": _NO_SETTINGS,
                **{name: COLORS for name in ("Pulse", "Sparkle", "Gradient")},
            },
            "propertyNames": {"enum": list(ledsign.BORDER_EFFECTS)},
            "minProperties": 1,
            "maxProperties": 1,
        },
    ]
}
_DURATION: Schema = {"type": "number", "exclusiveMinimum": 0, "maximum": ledsign.MAX_DURATION}
_REPEATS: Schema = {"type": "integer", "minimum": 0, "maximum": ledsign.MAX_REPEATS}
_NULL: Schema = {"type": "null"}
ITEM: Schema = {
    "type": "object",
    "description": (
        "A playlist item: exactly one of `duration` and `repeat_count`; a `repeat_count` above"
        " 0 counts scroll passes or keyframe plays, so it needs scrolling text or an image"
        " with keyframes"
    ),
    "properties": {
        "id": {"anyOf": [ID, _NULL]},
        "duration": {"anyOf": [_DURATION, _NULL]},
        "repeat_count": {"anyOf": [_REPEATS, _NULL]},
        "border_effect": BORDER,
        "content": CONTENT,
    },
    "required": ["content"],
    "oneOf": [
        {"properties": {"duration": _DURATION, "repeat_count": _NULL}, "required": ["duration"]},
        {
            "properties": {"repeat_count": _REPEATS, "duration": _NULL},
            "required": ["repeat_count"],
            "if": {"properties": {"repeat_count": {"exclusiveMinimum": 0}}},
            "then": {
                "properties": {
                    "content": {
                        "anyOf": [
                            {
                                **_tagged("Text"),
                                "properties": {
                                    "data": {
                                        "properties": {"scroll": {"const": True}},
                                        "required": ["scroll"],
                                    }
                                },
                            },
                            {
                                **_tagged("Image"),
                                "properties": {
                                    "data": {
                                        "properties": {"animation": {"type": "object"}},
                                        "required": ["animation"],
                                    }
                                },
                            },
                        ]
                    }
                }
            },
        },
    ],
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
SESSION_ID: Schema = {"type": "string", "minLength": 1, "maxLength": 128}
SESSION: Schema = {
    "type": "object",
    "properties": {"session_id": SESSION_ID},
    "required": ["session_id"],
}
PREVIEW: Schema = {
    "type": "object",
    "properties": {"item": ITEM, "session_id": SESSION_ID},
    "required": ["item", "session_id"],
}
PREVIEW_START: Schema = {
    "description": "the item bare (the document) or as `item` (the controller's editor)",
    "anyOf": [ITEM, {"type": "object", "properties": {"item": ITEM}, "required": ["item"]}],
}
PREVIEW_UPDATE: Schema = {
    "type": "object",
    "description": "`session_id` with the item as `item`, or with the item's own fields",
    "properties": {"session_id": SESSION_ID},
    "required": ["session_id"],
    "anyOf": [{"properties": {"item": ITEM}, "required": ["item"]}, ITEM],
}
DISPLAY_INFO: Schema = {
    "type": "object",
    "properties": {"width": {"type": "integer"}, "height": {"type": "integer"}},
    "required": ["width", "height"],
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
UPLOADED: Schema = {
    "type": "object",
    "description": "the stored record, with the controller's `image_id` and thumbnail size",
    "properties": {
        **IMAGE_RECORD["properties"],
        "image_id": ID,
        "thumbnail_width": {"type": "integer", "minimum": 1, "maximum": 128},
        "thumbnail_height": {"type": "integer", "minimum": 1, "maximum": 96},
    },
    "required": [*IMAGE_RECORD["required"], "image_id", "thumbnail_width", "thumbnail_height"],
}
