"""The LED sign controller API through a real hypercorn server on loopback."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
import trio
from PIL import Image

from edgebox.local import led_api as led
from edgebox.runtime import wiring
from tests.conftest import RunBox


def text_item(text: str = "Hello World", **overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "duration": 10,
        "repeat_count": None,
        "border_effect": {"Rainbow": None},
        "content": {
            "content_type": "Text",
            "data": {
                "text": text,
                "scroll": False,
                "color": [255, 255, 255],
                "speed": 50.0,
                "text_segments": None,
            },
        },
    }
    item.update(overrides)
    return item


def png(width: int = 8, height: int = 4, color: tuple[int, int, int] = (255, 0, 0)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, format="PNG")
    return out.getvalue()


@pytest.fixture
async def client(box: wiring.Box) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=box.lan_urls[0], timeout=10) as c:
        yield c


async def snapshot(client: httpx.AsyncClient, box: wiring.Box) -> tuple[Any, ...]:
    """Everything an invalid request must leave alone, as the API and the store see it."""
    return (
        (await client.get("/api/playlist/items")).json(),
        (await client.get("/api/settings/brightness")).json(),
        await box.store.get("led/items"),
        await box.store.get("hub/brightness"),
    )


# Playlist


async def test_items_are_created_read_updated_and_deleted(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/playlist/items")).json() == []
    created = await client.post("/api/playlist/items", json=text_item())
    assert created.status_code == 201
    item = created.json()
    assert len(item["id"]) == 36
    assert item["content"]["content_type"] == item["content"]["type"] == "Text"
    assert (await client.get("/api/playlist/items")).json() == [item]
    assert (await client.get(f"/api/playlist/items/{item['id']}")).json() == item

    changed = text_item("Changed", duration=None, repeat_count=0)
    updated = await client.put(f"/api/playlist/items/{item['id']}", json=changed)
    assert updated.status_code == 200
    assert updated.json()["id"] == item["id"]
    assert updated.json()["repeat_count"] == 0 and updated.json()["duration"] is None
    assert (await client.get(f"/api/playlist/items/{item['id']}")).json() == updated.json()

    deleted = await client.delete(f"/api/playlist/items/{item['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert (await client.get("/api/playlist/items")).json() == []


async def test_unknown_items_are_404_for_get_put_and_delete(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/playlist/items/nope")).status_code == 404
    put = await client.put("/api/playlist/items/nope", json=text_item())
    assert put.status_code == 404
    assert "error" in put.json()
    assert (await client.delete("/api/playlist/items/nope")).status_code == 404
    assert (await client.get("/api/playlist/items")).json() == []


async def test_a_given_id_is_kept_and_a_duplicate_is_a_409_that_changes_nothing(
    client: httpx.AsyncClient, box: wiring.Box
) -> None:
    first = await client.post("/api/playlist/items", json=text_item(id="welcome"))
    assert first.status_code == 201 and first.json()["id"] == "welcome"
    before = await snapshot(client, box)
    again = await client.post("/api/playlist/items", json=text_item("Other", id="welcome"))
    assert again.status_code == 409
    assert again.json()["field"] == "id"
    assert await snapshot(client, box) == before


async def test_the_editors_type_tag_is_accepted_and_both_tags_come_back(
    client: httpx.AsyncClient,
) -> None:
    body = text_item()
    body["content"] = {"type": "Clock", "data": {"format": "12h", "show_seconds": True}}
    created = (await client.post("/api/playlist/items", json=body)).json()
    assert created["content"] == {
        "content_type": "Clock",
        "type": "Clock",
        "data": {"type": "Clock", "format": "12h", "show_seconds": True, "color": [255, 255, 255]},
    }


async def test_reorder_returns_the_new_order_and_refuses_anything_but_every_id_once(
    client: httpx.AsyncClient, box: wiring.Box
) -> None:
    ids = []
    for name in ("a", "b", "c"):
        ids.append((await client.post("/api/playlist/items", json=text_item(name))).json()["id"])
    reordered = await client.put("/api/playlist/reorder", json={"item_ids": ids[::-1]})
    assert reordered.status_code == 200
    assert [i["id"] for i in reordered.json()] == ids[::-1]
    assert [i["id"] for i in (await client.get("/api/playlist/items")).json()] == ids[::-1]

    before = await snapshot(client, box)
    for bad in (ids[:2], [*ids, ids[0]], [ids[0], ids[0], ids[1]], [*ids[:2], "x"], ids[0]):
        refused = await client.put("/api/playlist/reorder", json={"item_ids": bad})
        assert refused.status_code == 400
        assert refused.json()["field"] == "item_ids"
    assert (await client.put("/api/playlist/reorder", json={})).status_code == 400
    assert await snapshot(client, box) == before


def _with(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    body = text_item()
    change(body)
    return body


INVALID_BODIES: list[tuple[str, bytes | None, str]] = [
    ("malformed JSON", b'{"duration": 10,', "body"),
    ("empty body", b"", "body"),
    ("a JSON list", b"[]", "body"),
    ("deep nesting", b"[" * 100 + b"]" * 100, "body"),
    ("both duration and repeat_count", json.dumps(text_item(repeat_count=2)).encode(), "duration"),
    (
        "neither duration nor repeat_count",
        json.dumps(text_item(duration=None)).encode(),
        "duration",
    ),
    ("duration as a string", json.dumps(text_item(duration="10")).encode(), "duration"),
    (
        "unknown content type",
        json.dumps(_with(lambda b: b["content"].update(content_type="Video"))).encode(),
        "content.content_type",
    ),
    (
        "colour out of range",
        json.dumps(_with(lambda b: b["content"]["data"].update(color=[0, 300, 0]))).encode(),
        "content.data.color[1]",
    ),
    (
        "segment past the end of the text",
        json.dumps(
            _with(lambda b: b["content"]["data"].update(text_segments=[{"start": 0, "end": 99}]))
        ).encode(),
        "content.data.text_segments[0].end",
    ),
    (
        "unknown border effect",
        json.dumps(text_item(border_effect={"Glow": None})).encode(),
        "border_effect",
    ),
    (
        "image that was never uploaded",
        json.dumps(
            text_item(content={"content_type": "Image", "data": {"image_id": "missing"}})
        ).encode(),
        "content.data.image_id",
    ),
]


@pytest.mark.parametrize(
    ("why", "raw", "field"), INVALID_BODIES, ids=[b[0] for b in INVALID_BODIES]
)
async def test_invalid_item_bodies_are_400_naming_the_field_and_change_nothing(
    client: httpx.AsyncClient, box: wiring.Box, why: str, raw: bytes, field: str
) -> None:
    existing = (await client.post("/api/playlist/items", json=text_item(id="keep"))).json()
    before = await snapshot(client, box)
    headers = {"Content-Type": "application/json"}
    for method, url in (
        ("POST", "/api/playlist/items"),
        ("PUT", f"/api/playlist/items/{existing['id']}"),
        ("POST", "/api/preview"),
    ):
        response = await client.request(method, url, content=raw, headers=headers)
        assert response.status_code == 400, (why, method, url, response.text)
        assert response.json()["field"] == field
        assert response.json()["error"]
    assert await snapshot(client, box) == before
    assert (await client.get("/api/preview/status")).json() == {"active": False}


async def test_a_put_whose_body_names_another_id_is_refused(client: httpx.AsyncClient) -> None:
    await client.post("/api/playlist/items", json=text_item(id="one"))
    refused = await client.put("/api/playlist/items/one", json=text_item("x", id="two"))
    assert refused.status_code == 400 and refused.json()["field"] == "id"
    assert (await client.get("/api/playlist/items/one")).json()["content"]["data"]["text"] == (
        "Hello World"
    )


# Brightness


async def test_brightness_is_read_and_set_within_0_to_100(
    client: httpx.AsyncClient, box: wiring.Box
) -> None:
    assert (await client.get("/api/settings/brightness")).json() == {"brightness": 100}
    put = await client.put("/api/settings/brightness", json={"brightness": 75})
    assert put.status_code == 200 and put.json() == {"brightness": 75}
    assert (await client.get("/api/settings/brightness")).json() == {"brightness": 75}
    assert box.hub.brightness == 75
    before = await snapshot(client, box)
    for bad in ({"brightness": 101}, {"brightness": -1}, {"brightness": "50"}, {}, [75]):
        refused = await client.put("/api/settings/brightness", json=bad)
        assert refused.status_code == 400
        assert refused.json()["field"] in ("brightness", "body")
    assert await snapshot(client, box) == before


async def test_the_clouds_brightness_and_the_apis_are_one_setting(
    client: httpx.AsyncClient, box: wiring.Box
) -> None:
    await box.hub.set_brightness(30)
    assert (await client.get("/api/settings/brightness")).json() == {"brightness": 30}


# Preview


async def test_two_sessions_compete_for_the_preview_and_only_the_owner_drives_it(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/api/preview/status")).json() == {"active": False}
    started = await client.post("/api/preview", json=text_item("Preview", id="preview-item"))
    assert started.status_code == 200
    owner = started.json()["session_id"]
    assert started.json()["item"]["id"] == "preview-item"
    assert (await client.get("/api/preview/status")).json() == {"active": True}

    second = await client.post("/api/preview", json=text_item("Mine now"))
    assert second.status_code == 403

    def session(sid: str) -> dict[str, str]:
        return {"session_id": sid}

    assert (await client.post("/api/preview/session", json=session(owner))).json() == {
        "is_owner": True
    }
    assert (await client.post("/api/preview/session", json=session("intruder"))).json() == {
        "is_owner": False
    }
    assert (await client.post("/api/preview/ping", json=session("intruder"))).status_code == 403
    intruding = {"item": text_item("hijack"), "session_id": "intruder"}
    assert (await client.put("/api/preview", json=intruding)).status_code == 403
    exit_other = await client.request("DELETE", "/api/preview", json=session("intruder"))
    assert exit_other.status_code == 403

    ping = await client.post("/api/preview/ping", json=session(owner))
    assert ping.status_code == 204
    updated = await client.put(
        "/api/preview", json={"item": text_item("Updated"), "session_id": owner}
    )
    assert updated.status_code == 200
    assert updated.json()["session_id"] == owner
    assert updated.json()["item"]["content"]["data"]["text"] == "Updated"

    exited = await client.request("DELETE", "/api/preview", json=session(owner))
    assert exited.status_code == 204
    assert (await client.get("/api/preview/status")).json() == {"active": False}
    assert (await client.post("/api/preview/session", json=session(owner))).json() == {
        "is_owner": False
    }
    third = await client.post("/api/preview", json=text_item("Second editor"))
    assert third.status_code == 200 and third.json()["session_id"] != owner


async def test_preview_calls_outside_preview_mode_are_404(client: httpx.AsyncClient) -> None:
    body = {"session_id": "whatever"}
    assert (await client.post("/api/preview/ping", json=body)).status_code == 404
    assert (await client.request("DELETE", "/api/preview", json=body)).status_code == 404
    update = {"item": text_item(), "session_id": "whatever"}
    assert (await client.put("/api/preview", json=update)).status_code == 404


async def test_preview_bodies_without_a_session_id_are_400(client: httpx.AsyncClient) -> None:
    for method, url, body in (
        ("POST", "/api/preview/ping", {}),
        ("DELETE", "/api/preview", {"session_id": 5}),
        ("POST", "/api/preview/session", {"session": "x"}),
        ("PUT", "/api/preview", {"item": text_item()}),
    ):
        response = await client.request(method, url, json=body)
        assert response.status_code == 400, (method, url)
        assert response.json()["field"] == "session_id"
    missing_item = await client.put("/api/preview", json={"session_id": "x"})
    assert missing_item.status_code == 400 and missing_item.json()["field"] == "item"


async def test_a_preview_without_pings_ends_after_five_seconds(
    box: wiring.Box, autojump_clock: trio.testing.MockClock
) -> None:
    async with httpx.AsyncClient(base_url=box.lan_urls[0], timeout=None) as client:
        started = (await client.post("/api/preview", json=text_item("Preview"))).json()
        owner = {"session_id": started["session_id"]}
        began = trio.current_time()
        await trio.sleep(4)
        assert (await client.post("/api/preview/ping", json=owner)).status_code == 204
        await trio.sleep(4.5)
        assert box.hub.preview.active, "pinged 4.5 s ago, the preview must still hold"
        assert (await client.post("/api/preview", json=text_item("Other"))).status_code == 403
        await trio.sleep(0.6)
        assert not box.hub.preview.active, "the expiry service did not end the preview"
        assert trio.current_time() - began >= 9
        assert (await client.get("/api/preview/status")).json() == {"active": False}
        assert (await client.post("/api/preview/ping", json=owner)).status_code == 404
        assert (await client.post("/api/preview", json=text_item("Other"))).status_code == 200


# Images


async def test_an_uploaded_image_is_served_back_and_usable_in_an_item(
    client: httpx.AsyncClient, box: wiring.Box
) -> None:
    uploaded = await client.post("/api/images", files={"image": ("logo.png", png(), "image/png")})
    assert uploaded.status_code == 201
    image = uploaded.json()
    assert (image["width"], image["height"], image["media_type"]) == (8, 4, "image/png")
    served = await client.get(f"/api/images/{image['id']}")
    assert served.status_code == 200
    assert served.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(served.content)) as back:
        assert back.size == (8, 4)
        assert back.convert("RGB").getpixel((3, 2)) == (255, 0, 0)

    item = text_item(
        content={"content_type": "Image", "data": {"image_id": image["id"], "x": 2, "y": 1}}
    )
    created = await client.post("/api/playlist/items", json=item)
    assert created.status_code == 201
    assert created.json()["content"]["data"] == {
        "type": "Image",
        "image_id": image["id"],
        "natural_width": 8,
        "natural_height": 4,
        "transform": {"x": 2, "y": 1, "scale": 1.0},
        "x": 2,
        "y": 1,
        "scale": 1.0,
    }
    assert (box.config.cache.directory / "led-images" / image["file"]).is_file()


async def test_a_raw_image_body_is_accepted_too(client: httpx.AsyncClient) -> None:
    buf = io.BytesIO()
    Image.new("RGB", (3, 3), (0, 0, 255)).save(buf, format="JPEG")
    uploaded = await client.post(
        "/api/images", content=buf.getvalue(), headers={"Content-Type": "image/jpeg"}
    )
    assert uploaded.status_code == 201
    assert (uploaded.json()["width"], uploaded.json()["height"]) == (3, 3)


async def test_broken_huge_or_missing_images_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, box: wiring.Box
) -> None:
    truncated = png(64, 64)[:-40]
    too_big = b"\x89PNG" + b"\0" * (led.MAX_IMAGE_BYTES + 10)
    for files, status in (
        ({"image": ("x.png", b"not an image at all", "image/png")}, 400),
        ({"image": ("x.png", truncated, "image/png")}, 400),
        ({"image": ("x.png", too_big, "image/png")}, 413),
    ):
        refused = await client.post("/api/images", files=files)
        assert refused.status_code == status, refused.text
        assert refused.json()["field"] == "image"
    empty_form = await client.post("/api/images", data={"note": "no file"})
    assert empty_form.status_code == 400
    assert (await client.post("/api/images", content=b"")).status_code == 400
    assert box.hub.led_images == {}
    assert await box.store.get("led/images") is None
    directory = box.config.cache.directory / "led-images"
    assert not directory.exists() or list(directory.iterdir()) == []
    assert (await client.get("/api/images/unknown")).status_code == 404


# Restart


async def test_playlist_brightness_and_images_survive_a_restart(run_box: RunBox) -> None:
    async def fill(client: httpx.AsyncClient) -> Any:
        image = (
            await client.post("/api/images", files={"f": ("a.png", png(), "image/png")})
        ).json()
        await client.post("/api/playlist/items", json=text_item("first", id="first"))
        await client.post(
            "/api/playlist/items",
            json=text_item(
                id="second",
                content={"content_type": "Image", "data": {"image_id": image["id"]}},
            ),
        )
        await client.put("/api/playlist/reorder", json={"item_ids": ["second", "first"]})
        await client.put("/api/settings/brightness", json={"brightness": 42})
        return image, (await client.get("/api/playlist/items")).json()

    async def read(client: httpx.AsyncClient) -> Any:
        image_id = items[0]["content"]["data"]["image_id"]
        return (
            (await client.get("/api/playlist/items")).json(),
            (await client.get("/api/settings/brightness")).json(),
            (await client.get(f"/api/images/{image_id}")).content,
        )

    image, items = await run_box(fill)
    after_items, after_brightness, image_bytes = await run_box(read)
    assert after_items == items
    assert [i["id"] for i in after_items] == ["second", "first"]
    assert after_brightness == {"brightness": 42}
    with Image.open(io.BytesIO(image_bytes)) as back:
        assert back.size == (image["width"], image["height"])
