from __future__ import annotations

import io
import re

import attrs
import httpx
import jsonschema
import pytest
from openapi_spec_validator import validate
from PIL import Image

from edgebox.core.values import TextOverlay
from edgebox.hub import Playback
from edgebox.local.app import create_app
from edgebox.local.metronome import Metronome
from edgebox.local.openapi import SchemaBuilder
from edgebox.runtime import wiring
from edgebox.runtime.box import Box


async def test_openapi_document_is_valid_and_lists_every_route(box: Box) -> None:
    async with httpx.AsyncClient(base_url=box.lan_urls[0]) as client:
        spec = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
        script = await client.get("/static/docs.js")
    validate(spec)
    app = create_app(wiring.lan_parts(box), Metronome())
    served = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if not rule.websocket
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    listed = {(path, method) for path, ops in spec["paths"].items() for method in ops}
    assert listed == served
    assert ("/api/status", "get") in listed
    undocumented = [
        f"{m.upper()} {p}"
        for p, ops in spec["paths"].items()
        for m, op in ops.items()
        if "." in op["summary"]  # the endpoint name stands in for a missing summary
    ]
    assert undocumented == []
    assert docs.status_code == 200 and "docs.js" in docs.text
    assert script.status_code == 200


def test_schemas_follow_the_attrs_models() -> None:
    builder = SchemaBuilder()
    assert builder.of(TextOverlay) == {"$ref": "#/components/schemas/TextOverlay"}
    overlay = builder.components["TextOverlay"]
    assert overlay["required"] == ["text"]
    assert overlay["properties"]["font_size"] == {"anyOf": [{"type": "integer"}, {"type": "null"}]}
    builder.of(Playback)
    playback = builder.components["Playback"]["properties"]
    assert playback["media_ids"] == {"type": "array", "items": {"type": "integer"}}
    assert {f.name for f in attrs.fields(Playback)} == set(playback)


async def test_led_items_the_api_writes_match_the_documented_schema(box: Box) -> None:
    bodies = [
        {
            "duration": 5,
            "border_effect": {"Pulse": {"colors": [[255, 0, 0]]}},
            "content": {
                "content_type": "Text",
                "data": {
                    "text": "Welcome",
                    "scroll": True,
                    "text_segments": [
                        {"start": 0, "end": 3, "color": [0, 255, 0], "formatting": {"bold": True}}
                    ],
                },
            },
        },
        {"repeat_count": 0, "border_effect": "Rainbow", "content": {"type": "Clock", "data": {}}},
        {
            "duration": 9,
            "border_effect": {"None": None},
            "content": {
                "data": {"type": "Animation", "preset": "MosaicTwinkle", "colors": [[1, 2, 3]]}
            },
        },
    ]
    async with httpx.AsyncClient(base_url=box.lan_urls[0]) as client:
        spec = (await client.get("/openapi.json")).json()
        png = io.BytesIO()
        Image.new("RGB", (4, 4)).save(png, format="PNG")
        uploaded = await client.post("/api/images", files={"file": ("a.png", png.getvalue())})
        bodies.append(
            {
                "repeat_count": 2,
                "content": {
                    "type": "Image",
                    "data": {
                        "image_id": uploaded.json()["image_id"],
                        "animation": {
                            "keyframes": [
                                {"timestamp_ms": 0, "x": 0, "y": 0},
                                {"timestamp_ms": 900, "x": 5, "y": 1, "scale": 2},
                            ],
                            "iterations": 2,
                        },
                    },
                },
            }
        )
        for body in bodies:
            assert (await client.post("/api/playlist/items", json=body)).status_code == 201
        items = (await client.get("/api/playlist/items")).json()
    schema = spec["paths"]["/api/playlist/items"]["get"]["responses"]["200"]["content"]
    jsonschema.validate(items, schema["application/json"]["schema"])
    assert len(items) == 4
    broken = [dict(items[0], duration=-1)]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema["application/json"]["schema"])
