"""The LED API as the controller's own web editor speaks it, beside the document's shapes,
through a real hypercorn server on loopback."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import trio
from PIL import Image

from edgebox.core import config
from edgebox.ledsign import model as ledsign
from edgebox.runtime import wiring
from tests.conftest import RunBox

RED, BLUE = [255, 0, 0], [0, 0, 255]


def editor_text(text: str = "Hi", **overrides: Any) -> dict[str, Any]:
    """A text item exactly as the controller's editor sends it: both tags, no content_type."""
    item: dict[str, Any] = {
        "duration": 10,
        "border_effect": {"None": None},
        "content": {
            "type": "Text",
            "data": {
                "type": "Text",
                "text": text,
                "scroll": False,
                "color": [255, 255, 255],
                "speed": 50,
                "text_segments": [
                    {"start": 0, "end": 1, "color": RED, "formatting": {"bold": True}}
                ],
            },
        },
    }
    item.update(overrides)
    return item


def animation(preset: str, **settings: Any) -> dict[str, Any]:
    return {
        "duration": 30,
        "border_effect": None,
        "content": {
            "type": "Animation",
            "data": {"type": "Animation", "preset": preset, "colors": [RED, BLUE], **settings},
        },
    }


def png(width: int, height: int, color: tuple[int, int, int] = (0, 255, 0)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def client(box: wiring.Box) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=box.lan_urls[0], timeout=10) as c:
        yield c


async def first_event(client: httpx.AsyncClient, url: str) -> Any:
    async with client.stream("GET", url) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("data:"):
                return json.loads(line[5:])
    raise AssertionError(f"{url} ended without an event")


async def state(client: httpx.AsyncClient, box: wiring.Box) -> tuple[Any, ...]:
    return (
        (await client.get("/api/playlist/items")).json(),
        await box.store.get("led/items"),
    )


async def test_an_editor_item_comes_back_tagged_in_all_three_places_everywhere(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/api/playlist/items", json=editor_text())
    assert created.status_code == 201
    item = created.json()
    content = item["content"]
    assert content["type"] == content["content_type"] == content["data"]["type"] == "Text"
    assert item["border_effect"] == {"None": None}
    assert content["data"]["text_segments"][0]["formatting"]["bold"] is True
    assert (await client.get(f"/api/playlist/items/{item['id']}")).json() == item
    assert (await client.get("/api/playlist/items")).json() == [item]
    event = await first_event(client, "/api/events/playlist")
    assert event["items"] == [item]


@pytest.mark.parametrize(
    "content",
    [
        {"content_type": "Clock", "data": {"format": "24h"}},
        {"type": "Clock", "data": {"format": "24h"}},
        {"data": {"type": "Clock", "format": "24h"}},
        {"content_type": "Clock", "type": "Clock", "data": {"type": "Clock"}},
    ],
)
async def test_the_tag_is_read_from_any_of_its_three_places(
    client: httpx.AsyncClient, content: dict[str, Any]
) -> None:
    created = await client.post("/api/playlist/items", json={"duration": 5, "content": content})
    assert created.status_code == 201, created.text
    back = created.json()["content"]
    assert back["content_type"] == back["type"] == back["data"]["type"] == "Clock"


async def test_tags_that_disagree_are_a_400_naming_the_field_and_change_nothing(
    client: httpx.AsyncClient, box: wiring.Box
) -> None:
    before = await state(client, box)
    body = editor_text()
    body["content"]["data"]["type"] = "Clock"
    refused = await client.post("/api/playlist/items", json=body)
    assert refused.status_code == 400
    assert refused.json()["field"] == "content.data.type"
    assert await state(client, box) == before


@pytest.mark.parametrize(
    ("sent", "back"),
    [
        ({"None": None}, {"None": None}),
        (None, None),
        ({"Rainbow": None}, {"Rainbow": None}),
        ({"Pulse": {"colors": [RED]}}, {"Pulse": {"colors": [RED]}}),
    ],
)
async def test_border_effects_come_back_as_they_were_sent(
    client: httpx.AsyncClient, sent: Any, back: Any
) -> None:
    created = await client.post("/api/playlist/items", json=editor_text(border_effect=sent))
    assert created.json()["border_effect"] == back


async def test_preview_takes_the_item_bare_or_wrapped_in_item(client: httpx.AsyncClient) -> None:
    wrapped = await client.post("/api/preview", json={"item": editor_text("wrapped")})
    assert wrapped.status_code == 200
    session = wrapped.json()["session_id"]
    assert wrapped.json()["item"]["content"]["data"]["text"] == "wrapped"
    update = await client.put(
        "/api/preview", json={"item": editor_text("again"), "session_id": session}
    )
    assert update.status_code == 200 and update.json()["item"]["content"]["data"]["type"] == "Text"
    bare = await client.put("/api/preview", json={**editor_text("bare"), "session_id": session})
    assert bare.status_code == 200 and bare.json()["item"]["content"]["data"]["text"] == "bare"
    assert (await client.request("DELETE", "/api/preview", json={"session_id": session})).is_success
    direct = await client.post("/api/preview", json=editor_text("direct"))
    assert direct.status_code == 200
    assert direct.json()["item"]["content"]["data"]["text"] == "direct"
    broken = await client.put(
        "/api/preview",
        json={"item": editor_text(duration=-1), "session_id": direct.json()["session_id"]},
    )
    assert broken.status_code == 400 and broken.json()["field"] == "duration"


async def test_display_info_is_the_led_canvas_size(
    make_config: Callable[..., config.VenueConfig], nursery: trio.Nursery
) -> None:
    cfg = make_config(
        canvases=[
            {"name": "tv", "source": "cloud:front", "width": 320, "height": 180},
            {"name": "sign", "width": 128, "height": 64},
        ]
    )
    box = await wiring.open_box(cfg)
    await nursery.start(wiring.run, box)
    async with httpx.AsyncClient(base_url=box.lan_urls[0]) as client:
        info = await client.get("/api/display/info")
    assert info.status_code == 200
    assert info.json() == {"width": 128, "height": 64}


async def test_an_upload_answers_both_shapes_and_serves_the_image_and_a_thumbnail(
    client: httpx.AsyncClient,
) -> None:
    uploaded = await client.post("/api/images", files={"file": ("wide.png", png(400, 150))})
    assert uploaded.status_code == 201
    answer = uploaded.json()
    assert answer["image_id"] == answer["id"]
    assert (answer["width"], answer["height"]) == (400, 150)
    assert (answer["thumbnail_width"], answer["thumbnail_height"]) == (128, 48)
    assert {"file", "media_type", "size"} <= answer.keys()
    served = await client.get(f"/api/images/{answer['image_id']}")
    assert served.status_code == 200 and served.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(served.content)) as back:
        assert back.size == (400, 150)
    thumb = await client.get(f"/api/images/{answer['image_id']}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(thumb.content)) as small:
        assert small.size == (128, 48)
        assert small.convert("RGB").getpixel((60, 20)) == (0, 255, 0)
    tall = (await client.post("/api/images", files={"file": ("t.png", png(30, 300))})).json()
    assert (tall["thumbnail_width"], tall["thumbnail_height"]) == (10, 96)
    assert (await client.get("/api/images/nothing/thumbnail")).status_code == 404


async def test_the_file_field_wins_over_other_form_fields(client: httpx.AsyncClient) -> None:
    uploaded = await client.post(
        "/api/images",
        files={"other": ("a.png", png(5, 5)), "file": ("b.png", png(7, 3))},
    )
    assert (uploaded.json()["width"], uploaded.json()["height"]) == (7, 3)


async def image_id(client: httpx.AsyncClient, width: int = 16, height: int = 8) -> str:
    answer = await client.post("/api/images", files={"file": ("i.png", png(width, height))})
    return str(answer.json()["image_id"])


async def test_an_image_item_in_the_controllers_shape_is_kept_with_its_keyframes(
    client: httpx.AsyncClient,
) -> None:
    image = await image_id(client)
    body = {
        "repeat_count": 2,
        "border_effect": {"None": None},
        "content": {
            "type": "Image",
            "data": {
                "type": "Image",
                "image_id": image,
                "natural_width": 16,
                "natural_height": 8,
                "transform": {"x": 3, "y": -2, "scale": 0.5},
                "animation": {
                    "keyframes": [
                        {"timestamp_ms": 0, "x": 0, "y": 0, "scale": 1},
                        {"timestamp_ms": 1500, "x": 40, "y": 4, "scale": 2},
                    ],
                    "iterations": None,
                },
            },
        },
    }
    created = await client.post("/api/playlist/items", json=body)
    assert created.status_code == 201, created.text
    data = created.json()["content"]["data"]
    assert created.json()["repeat_count"] == 2
    assert data["transform"] == {"x": 3, "y": -2, "scale": 0.5}
    assert (data["x"], data["y"], data["scale"]) == (3, -2, 0.5)
    assert (data["natural_width"], data["natural_height"]) == (16, 8)
    assert data["animation"] == body["content"]["data"]["animation"]


async def test_a_document_image_item_gets_its_natural_size_and_a_transform(
    client: httpx.AsyncClient,
) -> None:
    image = await image_id(client, 20, 10)
    created = await client.post(
        "/api/playlist/items",
        json={"duration": 5, "content": {"content_type": "Image", "data": {"image_id": image}}},
    )
    data = created.json()["content"]["data"]
    assert (data["natural_width"], data["natural_height"]) == (20, 10)
    assert data["transform"] == {"x": 0, "y": 0, "scale": 1.0}
    assert "animation" not in data


@pytest.mark.parametrize("preset", list(ledsign.PRESETS))
async def test_every_animation_preset_is_accepted_with_its_defaults_filled_in(
    client: httpx.AsyncClient, preset: str
) -> None:
    created = await client.post("/api/playlist/items", json=animation(preset))
    assert created.status_code == 201, created.text
    data = created.json()["content"]["data"]
    assert data["preset"] == preset and data["colors"] == [RED, BLUE]
    for name, setting in ledsign.PRESETS[preset].items():
        default = setting.default
        assert data[name] == (list(default) if isinstance(default, tuple) else default)


async def test_animation_settings_are_kept_as_sent(client: httpx.AsyncClient) -> None:
    body = animation(
        "MosaicTwinkle", tile_size=4, flow_speed=0.5, border_size=1, border_color=[9, 9, 9]
    )
    data = (await client.post("/api/playlist/items", json=body)).json()["content"]["data"]
    assert (data["tile_size"], data["flow_speed"], data["border_size"]) == (4, 0.5, 1)
    assert data["border_color"] == [9, 9, 9]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (animation("Pulse", cycle_ms=0), "content.data.cycle_ms"),
        (animation("PaletteWave", wave_count=0), "content.data.wave_count"),
        (animation("DualPulse", phase_offset="half"), "content.data.phase_offset"),
        (animation("ColorFade", drift_speed=-1), "content.data.drift_speed"),
        (animation("Strobe", randomization_factor=1.5), "content.data.randomization_factor"),
        (animation("Strobe", randomize="yes"), "content.data.randomize"),
        (animation("Sparkle", density=0), "content.data.density"),
        (animation("MosaicTwinkle", tile_size=2, border_size=3), "content.data.border_size"),
        (animation("MosaicTwinkle", border_color=[1, 2]), "content.data.border_color"),
        (animation("Plasma", noise_scale=0), "content.data.noise_scale"),
        (animation("Fireworks"), "content.data.preset"),
        (
            {"duration": 5, "content": {"type": "Animation", "data": {"preset": {}, "colors": []}}},
            "content.data.preset",
        ),
        ({**animation("Pulse"), "duration": None, "repeat_count": 3}, "repeat_count"),
        (
            {"duration": 5, "content": {"type": "Animation", "data": {"preset": "Pulse"}}},
            "content.data.colors",
        ),
    ],
)
async def test_bad_animations_are_a_400_naming_the_field_and_change_nothing(
    client: httpx.AsyncClient, box: wiring.Box, body: dict[str, Any], field: str
) -> None:
    before = await state(client, box)
    refused = await client.post("/api/playlist/items", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == field
    assert await state(client, box) == before


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"keyframes": [{"timestamp_ms": 0, "x": 0, "y": 0}]}, "content.data.animation.keyframes"),
        (
            {
                "keyframes": [
                    {"timestamp_ms": 500, "x": 0, "y": 0},
                    {"timestamp_ms": 100, "x": 1, "y": 0},
                ]
            },
            "content.data.animation.keyframes[1].timestamp_ms",
        ),
        (
            {
                "keyframes": [
                    {"timestamp_ms": 0, "x": 0, "y": 0},
                    {"timestamp_ms": 100, "x": 1, "y": 0, "scale": 0},
                ]
            },
            "content.data.animation.keyframes[1].scale",
        ),
        (
            {
                "keyframes": [
                    {"timestamp_ms": 0, "x": 0, "y": 0},
                    {"timestamp_ms": 100, "x": 1, "y": 0},
                ],
                "iterations": -1,
            },
            "content.data.animation.iterations",
        ),
    ],
)
async def test_bad_keyframes_are_a_400_naming_the_field_and_change_nothing(
    client: httpx.AsyncClient, box: wiring.Box, change: dict[str, Any], field: str
) -> None:
    image = await image_id(client)
    before = await state(client, box)
    body = {
        "repeat_count": 1,
        "content": {"type": "Image", "data": {"image_id": image, "animation": change}},
    }
    refused = await client.post("/api/playlist/items", json=body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["field"] == field
    assert await state(client, box) == before


async def test_a_repeat_count_on_a_still_image_is_still_refused(client: httpx.AsyncClient) -> None:
    image = await image_id(client)
    body = {"repeat_count": 2, "content": {"type": "Image", "data": {"image_id": image}}}
    refused = await client.post("/api/playlist/items", json=body)
    assert refused.status_code == 400 and refused.json()["field"] == "repeat_count"


async def test_new_content_survives_a_restart(run_box: RunBox) -> None:
    async def fill(client: httpx.AsyncClient) -> Any:
        image = await image_id(client)
        keyframed = {
            "repeat_count": 0,
            "content": {
                "type": "Image",
                "data": {
                    "image_id": image,
                    "animation": {
                        "keyframes": [
                            {"timestamp_ms": 0, "x": 0, "y": 0},
                            {"timestamp_ms": 800, "x": 9, "y": 1, "scale": 1.5},
                        ],
                        "iterations": 3,
                    },
                },
            },
        }
        for body in (animation("Plasma", flow_speed=2), keyframed, editor_text()):
            assert (await client.post("/api/playlist/items", json=body)).status_code == 201
        return (await client.get("/api/playlist/items")).json(), image

    async def read(client: httpx.AsyncClient) -> Any:
        thumb = await client.get(f"/api/images/{image}/thumbnail")
        return (await client.get("/api/playlist/items")).json(), thumb.status_code

    items, image = await run_box(fill)
    assert await run_box(read) == (items, 200)


async def test_an_editor_session_as_the_controllers_editor_runs_it(
    client: httpx.AsyncClient,
) -> None:
    """Display info, upload, preview with pings, save, then edit the item it read back: that
    body carries our flat x/y too, stale after a move, and its transform must win."""
    assert (await client.get("/api/display/info")).json() == {"width": 64, "height": 32}
    upload = (await client.post("/api/images", files={"file": ("p.png", png(32, 16))})).json()
    form = {
        "duration": 10,
        "border_effect": {"None": None},
        "content": {
            "type": "Image",
            "data": {
                "type": "Image",
                "image_id": upload["image_id"],
                "natural_width": upload["width"],
                "natural_height": upload["height"],
                "transform": {"x": 16, "y": 8, "scale": 1},
                "animation": None,
            },
        },
    }
    started = await client.post("/api/preview", json={"item": form})
    assert started.status_code == 200
    session = {"session_id": started.json()["session_id"]}
    assert (await client.post("/api/preview/session", json=session)).json() == {"is_owner": True}
    assert (await client.post("/api/preview/ping", json=session)).is_success
    assert (await client.put("/api/preview", json={"item": form, **session})).is_success
    assert (await client.request("DELETE", "/api/preview", json=session)).is_success
    created = (await client.post("/api/playlist/items", json=form)).json()

    read = (await client.get(f"/api/playlist/items/{created['id']}")).json()
    read["content"]["data"]["transform"] = {"x": 2, "y": 3, "scale": 0.5}
    read.pop("repeat_count")
    updated = await client.put(f"/api/playlist/items/{created['id']}", json=read)
    assert updated.status_code == 200, updated.text
    data = updated.json()["content"]["data"]
    assert data["transform"] == {"x": 2, "y": 3, "scale": 0.5}
    assert (data["x"], data["y"], data["scale"]) == (2, 3, 0.5)
