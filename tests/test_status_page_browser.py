"""The status page in a real browser: it signs in, shows the box's state and a live canvas."""

from __future__ import annotations

from pathlib import Path

import trio
from PIL import Image

from edgebox.gateway import Box
from tests.browser import chromium
from tests.conftest import ADMIN_TOKEN

CANVAS_PIXEL = """(() => {
  const c = document.querySelector('canvas[data-canvas="main"]');
  if (!c) return null;
  const [r, g, b] = c.getContext('2d').getImageData(%d, %d, 1, 1).data;
  return [r, g, b];
})()"""


async def test_status_page_signs_in_and_shows_a_changing_canvas(box: Box, tmp_path: Path) -> None:
    colour = (255, 0, 0)

    async def player_stand_in() -> None:
        while True:
            box.hub.publish("frame", ("main", Image.new("RGB", (64, 32), colour)))
            await trio.sleep(0.05)

    async with trio.open_nursery() as nursery, chromium(tmp_path / "profile") as page:
        nursery.start_soon(player_stand_in)
        await page.navigate(box.lan_urls[0] + "/")
        await page.evaluate(
            f"document.querySelector('input[name=token]').value = {ADMIN_TOKEN!r};"
            "document.querySelector('form').submit()"
        )
        await page.wait_for("document.getElementById('ready')?.textContent === 'ready'")
        assert "test" in await page.evaluate("document.getElementById('title').textContent")
        assert await page.wait_for(CANVAS_PIXEL % (10, 10)) == [255, 0, 0]
        colour = (0, 0, 255)
        await page.wait_for(f"JSON.stringify({CANVAS_PIXEL % (10, 10)}) === '[0,0,255]'")
        await page.screenshot(tmp_path / "status.png")
        nursery.cancel_scope.cancel()
    assert (tmp_path / "status.png").stat().st_size > 1000
