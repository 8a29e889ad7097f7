from __future__ import annotations

import re

import attrs
import httpx
from openapi_spec_validator import validate

from edgebox.gateway import Box
from edgebox.hub import Playback, TextOverlay
from edgebox.local.app import create_app
from edgebox.local.openapi import SchemaBuilder


async def test_openapi_document_is_valid_and_lists_every_route(box: Box) -> None:
    async with httpx.AsyncClient(base_url=box.lan_urls[0]) as client:
        spec = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
        script = await client.get("/static/docs.js")
    validate(spec)
    app = create_app(box)
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
