"""Frames: render + encode time, achieved rate on a paced pty, and CPU at 30 fps.

Run: .venv/bin/python bench/frames.py
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from edgebox.cache.store import Store
from edgebox.core.config import CanvasConfig, PanelConfig
from edgebox.drivers import adalight
from edgebox.drivers.driver import PanelDriver
from edgebox.drivers.framing import Panel
from edgebox.drivers.serialport import SerialLink
from edgebox.hub import Hub
from edgebox.ledsign.model import LedItem, Rainbow, TextContent
from edgebox.ledsign.player import Player
from edgebox.ledsign.render import Renderer
from edgebox.sim.panel import VirtualPanel

TEXT = TextContent("Welcome to the hotel lobby - breakfast 7 to 10", True, (255, 200, 0), 40.0)
ITEM = LedItem("bench", None, 0, Rainbow(), TEXT)


def render_and_encode(frames: int = 3000) -> None:
    renderer = Renderer(128, 64)
    panel = Panel("all", 128, 64, protocol="adalight", wiring="serpentine", color_order="GRB")
    times = []
    for n in range(frames):
        began = time.perf_counter()
        panel.frame(renderer.render(ITEM, n / 50), 80)
        times.append(time.perf_counter() - began)
    times.sort()
    print(
        f"render+encode 128x64 scrolling text + Rainbow, serpentine GRB Adalight, {frames} frames:"
        f" median {statistics.median(times) * 1e3:.3f} ms,"
        f" p95 {times[int(0.95 * frames)] * 1e3:.3f} ms, max {times[-1] * 1e3:.3f} ms"
    )


async def paced_link(baud: int = 2_000_000, seconds: float = 5.0) -> None:
    leds = 64 * 32
    ceiling = baud / (10 * (6 + 3 * leds))
    virtual = VirtualPanel(64, 32)
    async with trio.open_nursery() as nursery:
        path = await nursery.start(virtual.run)
        link = SerialLink(path, baud)
        await nursery.start(link.run)
        frame = adalight.encode(bytes(3 * leds))

        async def flood() -> None:
            while True:
                link.offer(frame)
                await trio.sleep(0.002)

        nursery.start_soon(flood)
        await virtual.wait_for(frames=5)
        start_frames, began = virtual.counts.good, trio.current_time()
        await trio.sleep(seconds)
        got = (virtual.counts.good - start_frames) / (trio.current_time() - began)
        nursery.cancel_scope.cancel()
    print(
        f"paced pty link, Adalight 64x32 at {baud} baud: {got:.2f} frames/s of a ceiling"
        f" {ceiling:.2f} ({100 * got / ceiling:.1f} %), bad frames {virtual.counts.bad}"
    )


async def cpu_at_30_fps(seconds: float = 10.0) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tty = Path(tmp) / "tty"
        sim = subprocess.Popen(
            [sys.executable, "-m", "edgebox", "panel-sim", "--path", str(tty)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            sim.stdout.readline()  # type: ignore[union-attr]
            store = await Store.open(Path(tmp) / "state")
            hub = await Hub.load(store)
            await hub.add_led_item(LedItem("bench", None, 0, Rainbow(), TEXT))
            cfg = PanelConfig(name="p", port=str(tty), baudrate=2_000_000)
            driver = PanelDriver.from_config(cfg)
            player = Player(CanvasConfig(name="main"), hub, [driver], Path(tmp))
            async with trio.open_nursery() as nursery:
                await nursery.start(driver.run)
                await nursery.start(player.run)
                await trio.sleep(1.0)
                cpu0, wall0 = time.process_time(), time.perf_counter()
                sent0 = driver.stats.frames_sent
                await trio.sleep(seconds)
                cpu = time.process_time() - cpu0
                wall = time.perf_counter() - wall0
                sent = driver.stats.frames_sent - sent0
                nursery.cancel_scope.cancel()
            store.close_sync()
        finally:
            sim.terminate()
            sim.wait()
    print(
        f"player at 30 fps to one 64x32 Adalight panel (2 Mbaud pty, panel in another process):"
        f" {sent / wall:.1f} frames/s sent, CPU {100 * cpu / wall:.1f} % of one core,"
        f" {player.stats.skipped} frames skipped"
    )


def main() -> None:
    render_and_encode()
    trio.run(paced_link)
    trio.run(cpu_at_30_fps)


if __name__ == "__main__":
    main()
