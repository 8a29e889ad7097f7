"""The LED player: the hub's LED playlist (or preview, or idle card) as frames on the panels.

One player per canvas whose source is `led`. It renders frame n at t0 + n/fps, so the rate never
drifts; a frame that is already late is skipped rather than shown late. Every frame goes to each
panel of the canvas (the panel crops its own part) and is published on the hub as `frame`; a
canvas with no panel is drawn only while someone reads its frames.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable
from pathlib import Path

import attrs
import trio
from PIL import Image

from edgebox.core.config import CanvasConfig
from edgebox.core.values import TextOverlay
from edgebox.drivers.driver import PanelDriver
from edgebox.hub import Hub, follow_brightness
from edgebox.ledsign import model as ledsign
from edgebox.ledsign.model import ImageContent, LedItem, TextContent
from edgebox.ledsign.render import Renderer, pass_seconds

log = logging.getLogger(__name__)


def item_length(item: LedItem, width: int, height: int) -> float:
    """Seconds `item` stays on: its duration, its scroll passes or its keyframe plays; inf for
    repeat_count 0."""
    if item.duration is not None:
        return item.duration
    if not item.repeat_count:
        return math.inf
    if isinstance(item.content, ImageContent) and item.content.animation is not None:
        return item.repeat_count * item.content.animation.cycle_ms / 1000
    assert isinstance(item.content, TextContent)
    return item.repeat_count * pass_seconds(item.content, width, height)


@attrs.define
class Cursor:
    """Where the playlist is: which item, and since when. Pure; times are the caller's clock."""

    width: int
    height: int
    items: tuple[LedItem, ...] = ()
    index: int = 0
    started: float = 0.0

    def follow(self, items: tuple[LedItem, ...], now: float) -> None:
        """The playlist changed: stay on the current item if it is unchanged, else restart there."""
        current = self.items[self.index] if self.index < len(self.items) else None
        self.items = items
        if current is not None and current in items:
            self.index = items.index(current)
            return
        if current is not None:
            same_id = [i for i, item in enumerate(items) if item.id == current.id]
            if same_id:
                self.index = same_id[0]
        self.index = self.index if self.index < len(items) else 0
        self.started = now

    def restart(self, now: float) -> None:
        self.started = now

    def at(self, now: float) -> tuple[LedItem | None, float]:
        """The item showing at `now` and seconds since it came on, stepping past finished ones."""
        if not self.items:
            return None, now - self.started
        for _ in range(10_000):
            item = self.items[self.index]
            length = item_length(item, self.width, self.height)
            if now - self.started < length:
                return item, now - self.started
            self.started += length
            self.index = (self.index + 1) % len(self.items)
        self.started = now
        return self.items[self.index], 0.0


@attrs.define
class PlayerStats:
    frames: int = 0
    skipped: int = 0
    showing: str | None = None  # item id, "preview:<id>" or "idle"


def load_picture(path: Path) -> Image.Image:
    """Decode an uploaded image fully; blocking, so call it in a worker thread."""
    with Image.open(path) as picture:
        picture.load()
        return picture.convert("RGBA")


class Player:
    """Renders one canvas from the hub and feeds its panels."""

    def __init__(
        self,
        canvas: CanvasConfig,
        hub: Hub,
        panels: list[PanelDriver],
        images_dir: Path,
        wall_clock: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        self.canvas = canvas
        self.hub = hub
        self.panels = panels
        self.images_dir = images_dir
        self.wall_clock = wall_clock
        self.stats = PlayerStats()
        self.cursor = Cursor(canvas.width, canvas.height)
        self.pictures: dict[str, Image.Image] = {}
        self.renderer = Renderer(canvas.width, canvas.height, self.pictures.get)
        self._loading: set[str] = set()
        self._preview: tuple[str | None, LedItem | None, float] = (None, None, 0.0)
        self._overlay: tuple[TextOverlay | None, float] = (None, 0.0)
        self._items: tuple[LedItem, ...] | None = None
        self._was_previewing = False
        self._nursery: trio.Nursery | None = None
        self._shown: Image.Image | None = None

    def frame(self, now: float) -> Image.Image:
        """The canvas at `now` (trio time): preview, else playlist, else idle; overlay on top."""
        item, t = self.follow(now)
        if item is None:
            frame = self.renderer.idle(now)
        else:
            self._want_picture(item)
            frame = self.renderer.render(item, t, self.wall_clock())
        overlay = self._overlay[0]
        if overlay is not None:
            frame = self.renderer.overlay(frame, overlay, now - self._overlay[1])
        return frame

    def follow(self, now: float) -> tuple[LedItem | None, float]:
        """What shows at `now` and for how long it has, kept up whether or not it is drawn."""
        if self.hub.led_items is not self._items:
            self._items = self.hub.led_items
            self.cursor.follow(self._items, now)
        item, t = self._preview_at(now)
        if item is not None:
            self.stats.showing = f"preview:{item.id}"
        else:
            item, t = self.cursor.at(now)
            self.stats.showing = item.id if item is not None else "idle"
        overlay = self.hub.overlay
        if overlay is not self._overlay[0]:
            self._overlay = (overlay, now)
        return item, t

    def _preview_at(self, now: float) -> tuple[LedItem | None, float]:
        lock = self.hub.preview
        if not lock.live(now) or lock.item is None:
            if self._was_previewing:
                self._was_previewing = False
                self.cursor.restart(now)
            return None, 0.0
        self._was_previewing = True
        session, item, since = self._preview
        if session != lock.session_id or item != lock.item:
            self._preview = (lock.session_id, lock.item, now)
            since = now
        return lock.item, now - since

    def _want_picture(self, item: LedItem) -> None:
        content = item.content
        if not isinstance(content, ledsign.ImageContent):
            return
        image_id = content.image_id
        if image_id in self.pictures or image_id in self._loading or self._nursery is None:
            return
        record = self.hub.led_images.get(image_id)
        if record is None:
            return
        self._loading.add(image_id)
        self._nursery.start_soon(self._load, image_id, self.images_dir / record.file)

    async def _load(self, image_id: str, path: Path) -> None:
        try:
            self.pictures[image_id] = await trio.to_thread.run_sync(load_picture, path)
        except (OSError, ValueError) as exc:
            log.warning("LED image %s cannot be shown: %s", image_id, exc)
        finally:
            self._loading.discard(image_id)

    def show(self, frame: Image.Image) -> None:
        brightness = self.hub.brightness
        for panel in self.panels:
            panel.show(frame, brightness)
        self._shown = frame
        self.hub.publish("frame", (self.canvas.name, frame))

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        period = 1.0 / self.canvas.fps
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(follow_brightness, self.hub, self.panels, lambda: self._shown)
            t0 = trio.current_time()
            self.cursor.restart(t0)
            task_status.started()
            n = 0
            while True:
                await trio.sleep_until(t0 + n * period)
                # A canvas with no panel and no one watching its pictures is not drawn: it
                # cost an IPTV-only box a tenth of its core under load. It still keeps time.
                if self.panels or self.hub.watched("frame"):
                    self.show(self.frame(trio.current_time()))
                else:
                    self.follow(trio.current_time())
                self.stats.frames += 1
                due = math.floor((trio.current_time() - t0) / period) + 1
                self.stats.skipped += max(0, due - n - 1)
                n = max(n + 1, due)
