"""One panel on one serial port: the panel model's frames fed to its link."""

from __future__ import annotations

import logging

import trio
from PIL import Image

from edgebox.core.config import PanelConfig
from edgebox.core.errors import PanelError
from edgebox.drivers.framing import Panel
from edgebox.drivers.serialport import LinkStats, SerialLink

log = logging.getLogger(__name__)


class PanelDriver:
    """`show` takes whole canvases from the player; `run` is the panel's service."""

    def __init__(self, panel: Panel, link: SerialLink) -> None:
        self.panel = panel
        self.link = link

    @classmethod
    def from_config(cls, cfg: PanelConfig, reopen_interval: float = 2.0) -> PanelDriver:
        link = SerialLink(cfg.port, cfg.baudrate, name=cfg.name, reopen_interval=reopen_interval)
        return cls(Panel.from_config(cfg), link)

    @property
    def stats(self) -> LinkStats:
        return self.link.stats

    def show(self, canvas: Image.Image, brightness: int) -> None:
        """Queue this panel's part of `canvas`; never raises, so a bad panel spares the rest."""
        try:
            self.link.offer(self.panel.frame(canvas, brightness))
        except PanelError as exc:
            if self.link.stats.last_error != str(exc):
                log.error("panel %s: %s", self.panel.name, exc)
            self.link.stats.last_error = str(exc)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await self.link.run(task_status=task_status)
