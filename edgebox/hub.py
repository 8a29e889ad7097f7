"""The owner of live state: every change is validated, persisted, then published.

Writers never wait for readers, however many there are (`edgebox.feed`): a reader that falls
behind its bound loses its oldest changes (and is told how many) instead of slowing the box.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

import attrs
import cattrs
import trio

from edgebox.cache.store import Store
from edgebox.core.errors import ItemExists, UnknownItem, ValidationError
from edgebox.core.values import SCREENS, TextOverlay, check_level
from edgebox.feed import Change as Change  # re-exported: readers name it as the hub's
from edgebox.feed import Feed, Subscription
from edgebox.ledsign import model as ledsign
from edgebox.ledsign.model import LedImage, LedItem, PreviewLock

log = logging.getLogger(__name__)

MAX_LED_ITEMS = 500


@attrs.frozen
class Playback:
    """What one cloud screen plays: its playlist, position and whether it runs.

    `generation` grows with every command that moves the position, so a player restarts the
    item even when the index did not change (play_media on the current item, previous on a
    one-item playlist). Play and pause keep it: the player resumes where it paused. `index`
    also follows the player as it moves on by itself, so next, previous and a restart count
    from what the screen shows.
    """

    playlist_id: int | None = None
    media_ids: tuple[int, ...] = ()
    index: int = 0
    playing: bool = True
    generation: int = 0


converter = cattrs.Converter()


class Hub:
    """Live state of the box. Construct with `await Hub.load(store)`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = trio.Lock()
        self._feed = Feed()
        self.brightness = 100
        self.volume = 50
        self.overlay: TextOverlay | None = None
        self.playback: dict[str, Playback] = {s: Playback() for s in SCREENS}
        self.led_items: tuple[LedItem, ...] = ()
        self.led_images: dict[str, LedImage] = {}
        self.preview = PreviewLock()

    @classmethod
    async def load(cls, store: Store) -> Hub:
        hub = cls(store)
        saved = await store.run(
            lambda _c: (
                {k: store.get_sync(f"hub/{k}") for k in ("brightness", "volume", "overlay")}
                | {f"playback/{s}": store.get_sync(f"hub/playback/{s}") for s in SCREENS}
            )
        )
        try:
            if saved["brightness"] is not None:
                hub.brightness = check_level("brightness", saved["brightness"])
            if saved["volume"] is not None:
                hub.volume = check_level("volume", saved["volume"])
            if saved["overlay"] is not None:
                hub.overlay = converter.structure(saved["overlay"], TextOverlay)
            for s in SCREENS:
                if saved[f"playback/{s}"] is not None:
                    hub.playback[s] = converter.structure(saved[f"playback/{s}"], Playback)
        except (ValidationError, cattrs.BaseValidationError, TypeError, ValueError) as exc:
            log.warning("ignoring unreadable saved hub state: %s", exc)
        await hub._load_led()
        return hub

    async def _load_led(self) -> None:
        """The LED playlist and images; one unreadable entry is skipped, not the whole list."""
        items, images = await self.store.run(
            lambda _c: (self.store.get_sync("led/items"), self.store.get_sync("led/images"))
        )
        for raw in images.values() if isinstance(images, dict) else ():
            try:
                image = ledsign.parse_image(raw)
            except ValidationError as exc:
                log.warning("ignoring an unreadable saved LED image: %s", exc)
            else:
                self.led_images[image.id] = image
        loaded: dict[str, LedItem] = {}
        for raw in items if isinstance(items, list) else ():
            try:
                item = ledsign.parse_item(raw)
            except ValidationError as exc:
                log.warning("ignoring an unreadable saved LED item: %s", exc)
            else:
                loaded.setdefault(item.id, item)
        self.led_items = tuple(loaded.values())

    # Subscriptions

    @contextmanager
    def subscribe(
        self,
        topics: set[str] | frozenset[str] | None = None,
        maxlen: int = 64,
        *,
        first: bool = False,
    ) -> Iterator[Subscription]:
        """`first`: for the box's own readers that act on a change (see `edgebox.feed`)."""
        sub = self._feed.subscribe(topics, maxlen, first=first)
        try:
            yield sub
        finally:
            self._feed.unsubscribe(sub)

    @property
    def subscriber_count(self) -> int:
        return len(self._feed.subscribers)

    def watched(self, topic: str) -> bool:
        """Whether any subscriber would get a change of `topic` published now."""
        return self._feed.read(topic)

    def publish(self, topic: str, value: Any) -> None:
        """Tell every subscriber; for state that is not persisted (frames, progress)."""
        self._feed.publish(topic, value)

    async def commit(self, topic: str, value: Any, persist: dict[str, Any]) -> None:
        """Persist `persist` (store keys -> JSON values) in one transaction, then publish."""
        await self.store.set_many(persist)
        self.publish(topic, value)

    # Settings

    async def set_brightness(self, value: Any) -> int:
        level = check_level("brightness", value)
        async with self._lock:
            await self.commit("brightness", level, {"hub/brightness": level})
            self.brightness = level
        return level

    async def set_volume(self, value: Any) -> int:
        level = check_level("volume", value)
        async with self._lock:
            await self.commit("volume", level, {"hub/volume": level})
            self.volume = level
        return level

    async def show_overlay(self, overlay: TextOverlay) -> None:
        async with self._lock:
            await self.commit("overlay", overlay, {"hub/overlay": converter.unstructure(overlay)})
            self.overlay = overlay

    async def hide_overlay(self) -> None:
        async with self._lock:
            await self.commit("overlay", None, {"hub/overlay": None})
            self.overlay = None

    # Playback of cloud screens

    async def _update_playback(self, screen: str, new: Playback, *, moved: bool = True) -> None:
        generation = self.playback[screen].generation
        new = attrs.evolve(new, generation=generation + 1 if moved else generation)
        await self.commit(
            "playback",
            (screen, new),
            {f"hub/playback/{screen}": converter.unstructure(new)},
        )
        self.playback[screen] = new

    def _screens(self, screen: str | None) -> list[str]:
        if screen is None:
            return [s for s in SCREENS if self.playback[s].playlist_id is not None]
        if screen not in SCREENS:
            raise ValidationError(f"must be one of {', '.join(SCREENS)} (got {screen!r})", "screen")
        return [screen]

    async def set_playlist(
        self, screen: str, playlist_id: int | None, media_ids: list[int]
    ) -> None:
        """Make `playlist_id` the one `screen` plays, from its first item; keeps play/pause."""
        self._screens(screen)
        async with self._lock:
            old = self.playback[screen]
            await self._update_playback(
                screen,
                Playback(playlist_id, tuple(media_ids), 0, old.playing),
            )

    async def refresh_playlist(self, screen: str, media_ids: list[int]) -> None:
        """The playlist changed upstream: keep playing the same media if it is still there."""
        self._screens(screen)
        async with self._lock:
            old = self.playback[screen]
            if old.media_ids == tuple(media_ids):
                return
            current = old.media_ids[old.index] if old.index < len(old.media_ids) else None
            index = media_ids.index(current) if current in media_ids else 0
            await self._update_playback(
                screen, attrs.evolve(old, media_ids=tuple(media_ids), index=index)
            )

    async def play(self, screen: str | None = None) -> None:
        await self._each(screen, lambda p: attrs.evolve(p, playing=True), moved=False)

    async def pause(self, screen: str | None = None) -> None:
        """Pause; the player also pauses its screen this way when the playlist has ended."""
        await self._each(screen, lambda p: attrs.evolve(p, playing=False), moved=False)

    async def playing_at(self, screen: str, generation: int, index: int) -> None:
        """The player moved on to `index` by itself; ignored if a command came in meanwhile."""
        self._screens(screen)
        async with self._lock:
            old = self.playback[screen]
            if old.generation != generation or old.index == index:
                return
            if not 0 <= index < len(old.media_ids):
                return
            await self._update_playback(screen, attrs.evolve(old, index=index), moved=False)

    async def next(self, screen: str | None = None) -> None:
        await self._each(screen, lambda p: _step(p, +1))

    async def previous(self, screen: str | None = None) -> None:
        await self._each(screen, lambda p: _step(p, -1))

    async def play_media(
        self, media_id: int | None = None, media_index: int | None = None, screen: str | None = None
    ) -> bool:
        """Jump to a media item by id (preferred) or 0-based index; False if no screen has it."""
        found = False

        def jump(p: Playback) -> Playback:
            nonlocal found
            if media_id is not None and media_id in p.media_ids:
                found = True
                return attrs.evolve(p, index=p.media_ids.index(media_id), playing=True)
            if media_id is None and media_index is not None and 0 <= media_index < len(p.media_ids):
                found = True
                return attrs.evolve(p, index=media_index, playing=True)
            return p

        await self._each(screen, jump)
        return found

    async def _each(self, screen: str | None, change: Any, *, moved: bool = True) -> None:
        async with self._lock:
            for s in self._screens(screen):
                new = change(self.playback[s])
                if new is not self.playback[s]:
                    await self._update_playback(s, new, moved=moved)

    # The LED sign: its playlist, uploaded images and the editors' preview lock.
    # Topics: `led_playlist` -> (action, items) with action in ledsign.ACTIONS;
    # `preview` -> the PreviewLock while one is active, else None; `led_images` -> LedImage.
    # The preview is not persisted: its times are on this process's clock, and a restart
    # returns the sign to the playlist.

    def led_item(self, item_id: str) -> LedItem:
        for item in self.led_items:
            if item.id == item_id:
                return item
        raise UnknownItem(f"no playlist item {item_id!r}")

    def _check_led_item(self, item: LedItem) -> None:
        content = item.content
        if isinstance(content, ledsign.ImageContent) and content.image_id not in self.led_images:
            raise ValidationError(
                f"no uploaded image {content.image_id!r}", "content.data.image_id"
            )

    async def _commit_led_items(self, action: str, items: tuple[LedItem, ...]) -> None:
        await self.commit(
            "led_playlist",
            (action, items),
            {"led/items": [ledsign.item_to_json(i) for i in items]},
        )
        self.led_items = items

    async def add_led_item(self, item: LedItem) -> LedItem:
        """Append `item`; ItemExists if its id is taken."""
        self._check_led_item(item)
        async with self._lock:
            if any(i.id == item.id for i in self.led_items):
                raise ItemExists(f"a playlist item {item.id!r} already exists")
            if len(self.led_items) >= MAX_LED_ITEMS:
                raise ValidationError(f"the playlist holds at most {MAX_LED_ITEMS} items", "id")
            await self._commit_led_items("Add", (*self.led_items, item))
        return item

    async def update_led_item(self, item: LedItem) -> LedItem:
        """Replace the item with `item.id` in place; UnknownItem if there is none."""
        self._check_led_item(item)
        async with self._lock:
            self.led_item(item.id)
            await self._commit_led_items(
                "Update", tuple(item if i.id == item.id else i for i in self.led_items)
            )
        return item

    async def delete_led_item(self, item_id: str) -> None:
        async with self._lock:
            self.led_item(item_id)
            await self._commit_led_items(
                "Delete", tuple(i for i in self.led_items if i.id != item_id)
            )

    async def reorder_led_items(self, item_ids: Any) -> tuple[LedItem, ...]:
        """The playlist in the order of `item_ids`, which must name every item exactly once."""
        async with self._lock:
            items = ledsign.reorder(self.led_items, item_ids)
            await self._commit_led_items("Reorder", items)
        return items

    async def add_led_image(self, image: LedImage) -> None:
        """Record an uploaded image whose file is already in place."""
        async with self._lock:
            images = {**self.led_images, image.id: image}
            await self.commit(
                "led_images",
                image,
                {"led/images": {k: ledsign.image_to_json(v) for k, v in images.items()}},
            )
            self.led_images = images

    def _set_preview(self, lock: PreviewLock, *, announce: bool = True) -> PreviewLock:
        self.preview = lock
        if announce:
            self.publish("preview", lock if lock.active else None)
        return lock

    async def start_preview(self, item: LedItem) -> PreviewLock:
        """Show `item` instead of the playlist; the lock gets a new session id."""
        self._check_led_item(item)
        async with self._lock:
            lock = self.preview.start(ledsign.new_id(), item, trio.current_time())
            return self._set_preview(lock)

    async def update_preview(self, session_id: Any, item: LedItem) -> PreviewLock:
        self._check_led_item(item)
        async with self._lock:
            return self._set_preview(self.preview.update(session_id, item, trio.current_time()))

    async def ping_preview(self, session_id: Any) -> PreviewLock:
        """Keep the preview alive; nothing a subscriber sees changes, so nothing is published."""
        async with self._lock:
            return self._set_preview(
                self.preview.ping(session_id, trio.current_time()), announce=False
            )

    async def exit_preview(self, session_id: Any) -> None:
        async with self._lock:
            self._set_preview(self.preview.exit(session_id, trio.current_time()))

    async def expire_preview(self) -> bool:
        """End a preview whose last ping is too old; True if one ended."""
        async with self._lock:
            lock = self.preview.expire(trio.current_time())
            if lock is self.preview:
                return False
            log.info("preview by session %s expired without pings", self.preview.session_id)
            self._set_preview(lock)
            return True


def _step(p: Playback, delta: int) -> Playback:
    if not p.media_ids:
        return p
    return attrs.evolve(p, index=(p.index + delta) % len(p.media_ids))


class ShowsFrames(Protocol):
    """A panel, as far as the brightness follower needs one."""

    def show(self, canvas: Any, brightness: int) -> None: ...


async def follow_brightness(
    hub: Hub,
    panels: Sequence[ShowsFrames],
    shown: Callable[[], Any],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """A new brightness goes to the panels at once, on the frame they show, rather than with
    the next tick (up to a whole frame interval later). Started once it listens."""
    with hub.subscribe({"brightness"}, maxlen=1, first=True) as changes:
        task_status.started()
        async for change in changes:
            frame = shown()
            if frame is not None:
                for panel in panels:
                    panel.show(frame, change.value)
