"""Garbage from the serial port: a panel that talks back random bytes, or vanishes at random
moments. The drivers keep going and the box with them."""

from __future__ import annotations

import errno
import os
import random
from collections.abc import Callable

import httpx
import trio
from PIL import Image

from edgebox.core import config
from edgebox.core.config import PanelConfig
from edgebox.drivers.driver import PanelDriver
from edgebox.runtime import wiring
from edgebox.sim.panel import VirtualPanel
from tests.support.fakes.panel import MakePanel


async def talk_back(panel: VirtualPanel, seed: int, sent: list[int]) -> None:
    """Write random bytes into the port from the panel's side for as long as the test runs;
    the box never reads them, so they pile up until the pty buffer is full."""
    rng = random.Random(seed)
    while True:
        master = panel._master
        if master is not None:
            try:
                sent[0] += os.write(master, rng.randbytes(rng.randint(1, 512)))
            except BlockingIOError:
                pass
            except OSError as exc:
                if exc.errno not in (errno.EIO, errno.EBADF):
                    raise
        await trio.sleep(0.001)


async def frames_arrive(panel: VirtualPanel, n: int, within: float = 10) -> None:
    with trio.fail_after(within):
        await panel.wait_for(frames=n)


async def test_a_panel_that_talks_back_garbage_and_vanishes_does_not_stop_the_box(
    make_config: Callable[..., config.VenueConfig], panels: MakePanel, nursery: trio.Nursery
) -> None:
    panel = await panels(64, 32)
    cfg = make_config(panels=[{"name": "p", "port": str(panel.path), "baudrate": 2_000_000}])
    box = await wiring.open_box(cfg)
    await nursery.start(wiring.run, box)
    sent = [0]
    nursery.start_soon(talk_back, panel, 7, sent)
    await frames_arrive(panel, 20)
    assert sent[0] > 0
    panel.unplug()
    await trio.sleep(0.5)
    panel.plug()
    await frames_arrive(panel, 20)
    async with httpx.AsyncClient(base_url=box.lan_urls[0]) as client:
        assert (await client.put("/api/settings/brightness", json={"brightness": 0})).is_success
        with trio.fail_after(5):
            while any(panel.last_frame or b"\x01"):
                await panel.wait_for(frames=1)
        assert (await client.get("/healthz")).status_code == 200
    states = box.supervisor.states
    assert states["panel:p"].status == "running" and states["panel:p"].restarts == 0
    assert box.panels["p"].stats.connected and box.panels["p"].stats.opens == 2
    assert panel.counts.bad == 0
    nursery.cancel_scope.cancel()


async def test_a_driver_rides_out_a_panel_that_vanishes_at_random_moments(
    panels: MakePanel, nursery: trio.Nursery
) -> None:
    virtual = await panels(32, 16)
    cfg = PanelConfig(name="p", port=str(virtual.path), baudrate=500_000, width=32, height=16)
    driver = PanelDriver.from_config(cfg, reopen_interval=0.02)
    await nursery.start(driver.run)
    rng = random.Random(2026)
    shades = iter(range(1_000_000))

    async def keep_showing() -> None:
        while True:
            shade = next(shades) % 200 + 1
            driver.show(Image.new("RGB", (32, 16), (shade, 0, 0)), 100)
            await trio.sleep(0.005)

    nursery.start_soon(keep_showing)
    sent = [0]
    nursery.start_soon(talk_back, virtual, 11, sent)
    for _ in range(12):
        await trio.sleep(rng.uniform(0, 0.06))  # a frame takes ~31 ms: cuts land mid-frame
        virtual.unplug()
        await trio.sleep(rng.uniform(0, 0.05))
        virtual.plug()
    await frames_arrive(virtual, 5)
    assert driver.stats.connected and driver.stats.opens >= 2
    assert driver.stats.last_error is not None  # it did see the port fail, and got over it
    frame = virtual.last_frame
    assert frame is not None and len(frame) == 32 * 16 * 3 and frame[1:3] == b"\0\0"
