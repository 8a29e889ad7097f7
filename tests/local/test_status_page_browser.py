"""The status page in a real browser: it signs in, shows the box's state and a live canvas."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import trio
from PIL import Image

from edgebox.core import config
from edgebox.runtime import wiring
from edgebox.sim.cloud import SimCloud
from tests.conftest import ADMIN_TOKEN
from tests.support.browser import chromium
from tests.support.fakes.panel import MakePanel

CANVAS_PIXELS = """(() => {
  const c = document.querySelector('canvas[data-canvas="main"]');
  if (!c || !Number(c.dataset.frames)) return null;
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  let lit = 0, red = 0;
  for (let i = 0; i < d.length; i += 4) {
    if (d[i] + d[i + 1] + d[i + 2] > 0) lit++;
    if (d[i] > 200 && d[i + 1] < 60 && d[i + 2] < 60) red++;
  }
  return {lit, red};
})()"""


async def test_status_page_shows_the_panel_change_when_an_led_item_is_added(
    make_config: Callable[..., config.VenueConfig],
    panels: MakePanel,
    cloud: SimCloud,
    nursery: trio.Nursery,
    tmp_path: Path,
) -> None:
    slide = cloud.add_media("slide.png", b"\x89PNG" * 1000)
    cloud.set_playlists("front", [cloud.playlist(101, "Lobby", [slide])])
    panel = await panels(64, 32)
    cfg = make_config(
        cloud={"base_url": cloud.base_url, "ws_url": cloud.ws_url, "enabled": True},
        panels=[{"name": "front", "port": str(panel.path), "baudrate": 2_000_000}],
    )
    box = await wiring.open_box(cfg)
    await nursery.start(wiring.run, box)
    base = box.lan_urls[0]
    item = {
        "duration": 60,
        "border_effect": None,
        "content": {"content_type": "Text", "data": {"text": "OPEN", "color": [255, 0, 0]}},
    }
    async with chromium(tmp_path / "profile") as page, httpx.AsyncClient(base_url=base) as api:
        await page.navigate(base + "/")
        await page.evaluate(
            f"document.querySelector('input[name=token]').value = {ADMIN_TOKEN!r};"
            "document.querySelector('form').submit()"
        )
        await page.wait_for("document.getElementById('ready')?.textContent === 'ready'")
        assert "test" in await page.evaluate("document.getElementById('title').textContent")
        await page.wait_for("document.getElementById('panels').textContent.includes('front')")
        await page.wait_for("document.getElementById('cloud').textContent.includes('connected')")
        cloud_table = await page.evaluate("document.getElementById('cloud').textContent")
        assert "Control socket" in cloud_table and "control_socket" not in cloud_table
        assert await page.evaluate("document.getElementById('sign-link').pathname") == "/sign"
        await page.wait_for(
            "(t => t.includes('Lobby') && t.includes('ready'))"
            "(document.getElementById('playlists').textContent)"
        )
        idle = await page.wait_for(CANVAS_PIXELS)
        assert idle["red"] == 0
        assert (await api.post("/api/playlist/items", json=item)).status_code == 201
        shown = await page.wait_for(f"(r => (r && r.red > 0 ? r : null))({CANVAS_PIXELS})")
        await page.screenshot(tmp_path / "status.png")
    assert shown["red"] > 0 and shown["lit"] != idle["lit"]
    with trio.fail_after(5):
        await panel.wait_for(lambda p: _has_red(p.image()))
    assert (tmp_path / "status.png").stat().st_size > 1000


def _has_red(image: Image.Image) -> bool:
    data = image.convert("RGB").tobytes()
    return any(
        data[i] > 200 and data[i + 1] < 60 and data[i + 2] < 60 for i in range(0, len(data), 3)
    )
