"""The LED sign's animations and its editor: render time per frame at 128x64 for each animation
preset, for an image moving along keyframes and for scrolling text (side by side, one run), then
the /sign page's bytes and its time from request to usable, and to its first live picture, in
headless Chromium against `edgebox run` in its own process.

    .venv/bin/python bench/sign.py [--frames 600] [--loads 5]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import trio
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgebox.ledsign import model as ledsign  # noqa: E402
from edgebox.ledsign.render import Renderer  # noqa: E402
from tests.support.browser import chromium  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from tests.support.venues import offline_venue  # noqa: E402

CANVAS = """[[canvases]]
name = "main"
width = 128
height = 64
"""

PALETTE = [[255, 0, 0], [255, 160, 0], [0, 80, 255], [0, 200, 90]]


def item(content: dict[str, object], **timing: object) -> ledsign.LedItem:
    return ledsign.parse_item({"id": "bench", **(timing or {"duration": 60}), "content": content})


def cases() -> list[tuple[str, ledsign.LedItem]]:
    found = [
        (
            "text, scrolling, Rainbow border",
            ledsign.parse_item(
                {
                    "id": "bench",
                    "repeat_count": 0,
                    "border_effect": {"Rainbow": None},
                    "content": {
                        "type": "Text",
                        "data": {"text": "Welcome to the lobby", "scroll": True, "speed": 40},
                    },
                }
            ),
        )
    ]
    for preset in ledsign.PRESETS:
        data = {"preset": preset, "colors": PALETTE}
        if preset == "Strobe":
            data["randomize"] = True
        if preset == "MosaicTwinkle":
            data |= {"tile_size": 4, "border_size": 1}
        found.append((f"Animation {preset}", item({"type": "Animation", "data": data})))
    keyframes = {
        "keyframes": [
            {"timestamp_ms": 0, "x": -40, "y": 0, "scale": 0.5},
            {"timestamp_ms": 2000, "x": 60, "y": 10, "scale": 1.5},
            {"timestamp_ms": 4000, "x": 0, "y": 0, "scale": 1},
        ]
    }
    found.append(
        (
            "Image 320x160 along 3 keyframes",
            item(
                {"type": "Image", "data": {"image_id": "pic", "animation": keyframes}},
                repeat_count=0,
            ),
        )
    )
    return found


def render_times(frames: int) -> None:
    picture = Image.radial_gradient("L").resize((320, 160)).convert("RGBA")
    renderer = Renderer(128, 64, lambda _id: picture)
    print(f"render time per frame at 128x64, {frames} frames at 30 fps times, one run:")
    for name, shown in cases():
        times = []
        for n in range(frames):
            began = time.perf_counter()
            renderer.render(shown, 100 + n / 30)
            times.append(time.perf_counter() - began)
        times.sort()
        print(
            f"  {name:34s} median {statistics.median(times) * 1e3:6.3f} ms"
            f"  p95 {times[int(0.95 * frames)] * 1e3:6.3f} ms  max {times[-1] * 1e3:6.3f} ms"
        )


async def editor_page(base: str, loads: int, profile: Path) -> None:
    async with httpx.AsyncClient(base_url=base) as api:
        sizes = {}
        for path in ("/sign", "/sign/static/sign.js", "/sign/static/sign.css"):
            answer = await api.get(path)
            sizes[path] = len(answer.content)
        await api.post(
            "/api/playlist/items",
            json={"duration": 60, "content": {"type": "Text", "data": {"text": "Bench"}}},
        )
    total = sum(sizes.values())
    listed = ", ".join(f"{p} {n}" for p, n in sizes.items())
    print(f"/sign page: {total} bytes uncompressed ({listed})")
    usable, pictured = [], []
    async with chromium(profile) as page:
        for _ in range(loads):
            await page.navigate("about:blank#reset")
            began = time.perf_counter()
            await page.send("Page.navigate", url=base + "/sign")
            await page.wait_for("document.body && document.body.dataset.ready === '1'")
            ready_ms = await page.evaluate("Number(document.body.dataset.readyMs)")
            await page.wait_for(
                "(c => c && Number(c.dataset.frames) > 0)"
                "(document.querySelector('canvas[data-canvas=main]'))",
                timeout=30,
            )
            pictured.append(time.perf_counter() - began)
            usable.append(ready_ms / 1000)
    print(
        f"/sign request to usable (playlist shown, lock state known), {loads} loads:"
        f" median {statistics.median(usable) * 1e3:.0f} ms, max {max(usable) * 1e3:.0f} ms;"
        f" to the first live picture: median {statistics.median(pictured) * 1e3:.0f} ms,"
        f" max {max(pictured) * 1e3:.0f} ms"
    )


def main(frames: int, loads: int) -> None:
    render_times(frames)
    with tempfile.TemporaryDirectory(prefix="edgebox-sign-") as tmp:
        port = free_port()
        venue = Path(tmp) / "venue.toml"
        venue.write_text(offline_venue("bench", Path(tmp) / "data", port) + CANVAS)
        box = subprocess.Popen(
            [sys.executable, "-m", "edgebox", "run", "--config", str(venue)],
            stderr=subprocess.DEVNULL,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(base + "/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise SystemExit("edgebox run did not start serving")
                time.sleep(0.1)
            trio.run(editor_page, base, loads, Path(tmp) / "profile")
        finally:
            box.terminate()
            box.wait()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=600)
    parser.add_argument("--loads", type=int, default=5)
    args = parser.parse_args()
    main(args.frames, args.loads)
