"""The box's own sign editor at /sign, driven in headless Chromium against a real box."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import trio
from PIL import Image

from edgebox.core import config
from edgebox.runtime import wiring
from tests.support.browser import Page, chromium
from tests.support.fakes.panel import MakePanel


def red_png() -> str:
    out = io.BytesIO()
    Image.new("RGB", (12, 6), (255, 0, 0)).save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode()


async def start_box(
    make_config: Callable[..., config.VenueConfig], nursery: trio.Nursery, **sections: Any
) -> wiring.Box:
    box = await wiring.open_box(make_config(**sections))
    await nursery.start(wiring.run, box)
    return box


async def open_editor(page: Page, base: str) -> None:
    await page.navigate(base + "/sign")
    await page.wait_for("document.body?.dataset.ready === '1'")


async def set_value(page: Page, selector: str, value: Any) -> None:
    """Type into a field as a person would: the value, then the input and change events."""
    await page.evaluate(
        f"""(() => {{
          const input = document.querySelector({json.dumps(selector)});
          const ticks = input.type === 'checkbox' || input.type === 'radio';
          if (ticks) input.checked = {json.dumps(value)};
          else input.value = {json.dumps(value)};
          input.dispatchEvent(new Event('input', {{bubbles: true}}));
          input.dispatchEvent(new Event('change', {{bubbles: true}}));
        }})()"""
    )


async def click(page: Page, selector: str) -> None:
    await page.wait_for(f"(b => b && !b.disabled)(document.querySelector({json.dumps(selector)}))")
    await page.evaluate(f"document.querySelector({json.dumps(selector)}).click()")


async def add(page: Page, kind: str) -> None:
    await click(page, f"[data-add={kind}]")
    await page.wait_for("document.body.dataset.editing === '1'")


async def save(page: Page, count: int) -> None:
    await click(page, "#save")
    await page.wait_for(
        f"!document.body.dataset.editing && document.body.dataset.items === '{count}'"
    )


async def items(api: httpx.AsyncClient) -> list[dict[str, Any]]:
    return list((await api.get("/api/playlist/items")).json())


async def test_the_editor_adds_every_kind_edits_reorders_and_sets_brightness(
    make_config: Callable[..., config.VenueConfig], nursery: trio.Nursery, tmp_path: Path
) -> None:
    box = await start_box(make_config, nursery)
    base = box.lan_urls[0]
    async with chromium(tmp_path / "a") as page, httpx.AsyncClient(base_url=base) as api:
        await open_editor(page, base)

        await add(page, "Text")
        assert (await api.get("/api/preview/status")).json() == {"active": True}
        await set_value(page, "#f-text", "OPEN NOW")
        await set_value(page, "#f-color", "#ff0000")
        await page.evaluate(
            "(t => { t.focus(); t.setSelectionRange(5, 8);"
            " t.dispatchEvent(new Event('select')); })(document.getElementById('f-text'))"
        )
        await click(page, "#f-add-segment")
        await set_value(page, "#f-segments .seg-bold", True)
        await set_value(page, "#f-segments .seg-underline", True)
        await set_value(page, "#f-scroll", True)
        await set_value(page, "input[name=timing][value=repeat]", True)
        await set_value(page, "#repeat_count", 2)
        await set_value(page, "#border", "Gradient")
        await save(page, 1)
        assert (await api.get("/api/preview/status")).json() == {"active": False}

        await add(page, "Clock")
        await set_value(page, "#f-format", "12h")
        await save(page, 2)

        await add(page, "Animation")
        await set_value(page, "#f-preset", "Sparkle")
        await page.wait_for("!!document.getElementById('f-set-density')")
        await set_value(page, "#f-set-density", 0.3)
        await save(page, 3)

        await add(page, "Image")
        await page.evaluate(
            f"""(() => {{
              const bytes = Uint8Array.from(atob('{red_png()}'), c => c.charCodeAt(0));
              const files = new DataTransfer();
              files.items.add(new File([bytes], 'logo.png', {{type: 'image/png'}}));
              const input = document.getElementById('f-file');
              input.files = files.files;
              input.dispatchEvent(new Event('change', {{bubbles: true}}));
            }})()"""
        )
        await page.wait_for("!document.getElementById('f-thumb').hidden")
        await set_value(page, "#f-scale", 2)
        await click(page, "#f-add-keyframe")
        await click(page, "#f-add-keyframe")
        await set_value(page, "#f-keyframes .keyframe:nth-child(2) input", 1500)
        await set_value(page, "input[name=timing][value=repeat]", True)
        await set_value(page, "#repeat_count", 3)
        await save(page, 4)

        made = await items(api)
        assert [i["content"]["type"] for i in made] == ["Text", "Clock", "Animation", "Image"]
        text = made[0]
        assert text["content"]["data"]["text"] == "OPEN NOW"
        assert text["content"]["data"]["color"] == [255, 0, 0]
        assert text["repeat_count"] == 2 and text["content"]["data"]["scroll"] is True
        segment = text["content"]["data"]["text_segments"][0]
        assert (segment["start"], segment["end"], segment["color"]) == (5, 8, [255, 0, 0])
        assert text["content"]["data"]["text_segments"][0]["formatting"] == {
            "bold": True,
            "underline": True,
            "strikethrough": False,
        }
        assert list(text["border_effect"]) == ["Gradient"]
        assert made[1]["content"]["data"]["format"] == "12h"
        assert made[2]["content"]["data"]["preset"] == "Sparkle"
        assert made[2]["content"]["data"]["density"] == 0.3
        image = made[3]["content"]["data"]
        assert image["transform"]["scale"] == 2 and made[3]["repeat_count"] == 3
        assert image["natural_width"] == 12
        assert [k["timestamp_ms"] for k in image["animation"]["keyframes"]] == [0, 1500]
        assert await page.evaluate("document.querySelector('.item .thumb').naturalWidth") > 0

        # edit the clock
        await click(page, f"li[data-id='{made[1]['id']}'] .edit")
        await page.wait_for("document.body.dataset.editing === '1'")
        assert await page.evaluate("document.getElementById('f-format').value") == "12h"
        await set_value(page, "#f-seconds", True)
        await save(page, 4)
        clock = (await api.get(f"/api/playlist/items/{made[1]['id']}")).json()
        assert clock["content"]["data"]["show_seconds"] is True

        # drag the image (last) by its handle above the first item, with the mouse
        handle, top = await page.evaluate(
            """(() => {
              const handles = [...document.querySelectorAll('.item .handle')];
              const h = handles.pop().getBoundingClientRect();
              const first = document.querySelector('.item').getBoundingClientRect();
              return [[h.x + h.width / 2, h.y + h.height / 2], first.y + 3];
            })()"""
        )
        await mouse(page, "mousePressed", *handle)
        for step in range(1, 11):
            y = handle[1] + (top - handle[1]) * step / 10
            await mouse(page, "mouseMoved", handle[0], y)
        await mouse(page, "mouseReleased", handle[0], top)
        ids = [i["id"] for i in made]
        want = [ids[3], ids[0], ids[1], ids[2]]
        with trio.fail_after(10):
            while [i["id"] for i in await items(api)] != want:
                await trio.sleep(0.1)

        await set_value(page, "#brightness", 40)
        with trio.fail_after(10):
            while (await api.get("/api/settings/brightness")).json()["brightness"] != 40:
                await trio.sleep(0.1)
        await page.wait_for("document.getElementById('brightness-value').textContent === '40%'")

        # delete asks twice
        await click(page, f"li[data-id='{ids[2]}'] .delete")
        await click(page, f"li[data-id='{ids[2]}'] .delete")
        await page.wait_for("document.body.dataset.items === '3'")
        assert ids[2] not in [i["id"] for i in await items(api)]


async def mouse(page: Page, kind: str, x: float, y: float) -> None:
    await page.send(
        "Input.dispatchMouseEvent",
        type=kind,
        x=x,
        y=y,
        button="left",
        buttons=0 if kind == "mouseReleased" else 1,
        clickCount=1,
    )


async def test_a_second_editor_waits_while_the_first_edits_and_gets_it_once_it_leaves(
    make_config: Callable[..., config.VenueConfig], nursery: trio.Nursery, tmp_path: Path
) -> None:
    box = await start_box(make_config, nursery)
    base = box.lan_urls[0]
    async with httpx.AsyncClient(base_url=base) as api:
        item = {"duration": 30, "content": {"type": "Text", "data": {"text": "A"}}}
        item_id = (await api.post("/api/playlist/items", json=item)).json()["id"]
        async with chromium(tmp_path / "a") as first, chromium(tmp_path / "b") as second:
            await open_editor(first, base)
            await open_editor(second, base)
            await click(first, f"li[data-id='{item_id}'] .edit")
            await first.wait_for("document.body.dataset.editing === '1'")
            await second.wait_for("!document.getElementById('locked').hidden")
            assert await second.evaluate("document.querySelector('[data-add=Text]').disabled")
            assert await second.evaluate(
                f"document.querySelector(\"li[data-id='{item_id}'] .edit\").disabled"
            )
            # the first keeps the lock with its pings, past the box's 5 s timeout
            await trio.sleep(6)
            assert (await api.get("/api/preview/status")).json() == {"active": True}
            assert not await second.evaluate("document.getElementById('locked').hidden")

            await first.navigate("about:blank#left")
            await second.wait_for("document.getElementById('locked').hidden", timeout=10)
            await click(second, f"li[data-id='{item_id}'] .edit")
            await second.wait_for("document.body.dataset.editing === '1'")
            assert (await api.get("/api/preview/status")).json() == {"active": True}
            await set_value(second, "#f-text", "B")
            await save(second, 1)
        changed = (await api.get(f"/api/playlist/items/{item_id}")).json()
        assert changed["content"]["data"]["text"] == "B"


LIT = """(() => {
  const c = document.querySelector('canvas[data-canvas="main"]');
  if (!c || !Number(c.dataset.frames)) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const lit = [];
  for (let i = 0; i < d.length; i += 4) if (d[i] > 128) lit.push(i / 4);
  return {width: c.width, height: c.height, lit};
})()"""


async def test_the_live_picture_is_what_the_panel_decodes(
    make_config: Callable[..., config.VenueConfig],
    panels: MakePanel,
    nursery: trio.Nursery,
    tmp_path: Path,
) -> None:
    panel = await panels(64, 32)
    box = await start_box(
        make_config,
        nursery,
        panels=[{"name": "front", "port": str(panel.path), "baudrate": 2_000_000}],
    )
    base = box.lan_urls[0]
    item = {
        "duration": 600,
        "border_effect": {"None": None},
        "content": {"type": "Text", "data": {"text": "OPEN", "color": [255, 0, 0]}},
    }
    async with httpx.AsyncClient(base_url=base) as api:
        assert (await api.post("/api/playlist/items", json=item)).status_code == 201
    with trio.fail_after(10):
        await panel.wait_for(lambda p: red_pixels(p.image()) != [])
    async with chromium(tmp_path / "a") as page:
        await open_editor(page, base)
        shown = await page.wait_for(f"(r => r && r.lit.length ? r : null)({LIT})")
    assert (shown["width"], shown["height"]) == (64, 32)
    assert shown["lit"] == red_pixels(panel.image())


def red_pixels(image: Image.Image) -> list[int]:
    data = image.convert("RGB").tobytes()
    return [i // 3 for i in range(0, len(data), 3) if data[i] > 128]


async def test_a_sign_token_closes_the_editor_and_the_led_api_until_it_is_given(
    make_config: Callable[..., config.VenueConfig], nursery: trio.Nursery, tmp_path: Path
) -> None:
    box = await start_box(make_config, nursery, lan={"sign_token": "sign-secret"})
    base = box.lan_urls[0]
    async with httpx.AsyncClient(base_url=base) as api:
        assert (await api.get("/api/playlist/items")).status_code == 401
        assert (await api.get("/api/events/editor")).status_code == 401
        assert (await api.get("/api/sign/events")).status_code == 401
        refused = await api.post(
            "/api/playlist/items", json={"duration": 5, "content": {"type": "Clock", "data": {}}}
        )
        assert refused.status_code == 401
        assert "sign token" in (await api.get("/sign")).text
        bearer = {"Authorization": "Bearer sign-secret"}
        assert (await api.get("/api/playlist/items", headers=bearer)).json() == []
        wrong = {"Authorization": "Bearer nope"}
        assert (await api.get("/api/playlist/items", headers=wrong)).status_code == 401
    async with chromium(tmp_path / "a") as page:
        await page.navigate(base + "/sign")
        await page.evaluate(
            "document.querySelector('input[name=token]').value = 'sign-secret';"
            "document.querySelector('form').submit()"
        )
        await page.wait_for("document.body?.dataset.ready === '1'")
        await add(page, "Clock")
        await save(page, 1)


FITS = """(() => {
  const small = [...document.querySelectorAll('button, input, select')]
    .filter(e => e.offsetParent !== null && !['checkbox', 'radio'].includes(e.type))
    .filter(e => e.getBoundingClientRect().height < 36)
    .map(e => e.outerHTML.slice(0, 60));
  return {wide: document.documentElement.scrollWidth, view: innerWidth, small};
})()"""


async def test_the_editor_fits_a_phone_with_finger_sized_controls(
    make_config: Callable[..., config.VenueConfig], nursery: trio.Nursery, tmp_path: Path
) -> None:
    box = await start_box(make_config, nursery)
    base = box.lan_urls[0]
    long_text = {"duration": 5, "content": {"type": "Text", "data": {"text": "W" * 300}}}
    async with httpx.AsyncClient(base_url=base) as api:
        assert (await api.post("/api/playlist/items", json=long_text)).status_code == 201
    async with chromium(tmp_path / "a") as page:
        await page.send(
            "Emulation.setDeviceMetricsOverride",
            width=390,
            height=844,
            deviceScaleFactor=2,
            mobile=True,
        )
        await open_editor(page, base)
        for kind in ("Text", "Image", "Clock", "Animation"):
            await add(page, kind)
            if kind == "Text":
                await click(page, "#f-add-segment")
            if kind == "Image":
                await click(page, "#f-add-keyframe")
            fits = await page.evaluate(FITS)
            assert fits["wide"] <= fits["view"] == 390, kind
            assert fits["small"] == [], kind
            await click(page, "#cancel")
            await page.wait_for("!document.body.dataset.editing")
