"""The screen player: a cloud screen's playlist, from the media cache, as frames on the panels.

One player per canvas whose source is `cloud:<screen>`. It follows the hub's playback of that
screen: a new playlist or a jump (next, previous, play_media) starts that item; pause and play
stop and resume the clock in place. Once the last pass is over the screen pauses on the
background, and play starts the playlist again from the top. Items missing from the cache (or
that do not decode) are skipped, so a partial playlist plays what it has; the cache is asked
again every second, so an item joins once it is downloaded. As it moves on by itself the
player tells the hub where it is, so next/previous count from what the screen shows and a
restart resumes there.

Frames follow the LED player's pace (frame n at t0 + n/fps, late ones skipped), each drawn for
its due time. Videos are decoded and scaled a frame at a time in worker threads, a few frames
ahead of the one shown and from a second before their turn; images are loaded ahead too.
The cloud's text overlay is drawn over whatever plays; every panel takes the hub's
brightness as it does for the LED sign.
"""

from __future__ import annotations

import collections
import logging
import math
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs
import trio
from PIL import Image

from edgebox.core.config import CanvasConfig
from edgebox.core.values import MediaItem, Playlist, TextOverlay
from edgebox.drivers.driver import PanelDriver
from edgebox.hub import Hub, Playback, follow_brightness
from edgebox.ledsign.render import Renderer
from edgebox.screens import timeline as tl
from edgebox.screens.decode import EPSILON, MEDIA_ERRORS, VideoReader, load_image, probe_video
from edgebox.screens.screenshots import Shot

log = logging.getLogger(__name__)

PlaylistFor = Callable[[int], "Playlist | None"]
Locate = Callable[[MediaItem], "Path | None"]
Offload = Callable[..., Awaitable[Any]]

REFRESH_SECONDS = 1.0  # how often the playlist snapshot and the media cache are asked again
PREROLL_SECONDS = 1.0  # how long before its turn a video starts to be decoded
FEED_DEPTH = 8  # video pictures decoded ahead of the one shown: 0.27 s at 30 fps
FIRST_PICTURE_PATIENCE = 0.5  # a video that was not decoded ahead: wait this long for it
MAX_PICTURES = 32


@attrs.define
class PlayClock:
    """Seconds played since the last (re)start, standing still while paused."""

    started: float = 0.0
    paused_at: float | None = None

    def elapsed(self, now: float) -> float:
        return (self.paused_at if self.paused_at is not None else now) - self.started

    def restart(self, now: float, elapsed: float = 0.0) -> None:
        self.started = now - elapsed
        if self.paused_at is not None:
            self.paused_at = now

    def pause(self, now: float) -> None:
        if self.paused_at is None:
            self.paused_at = now

    def resume(self, now: float) -> None:
        if self.paused_at is not None:
            self.started += now - self.paused_at
            self.paused_at = None


@attrs.define
class ScreenStats:
    frames: int = 0
    skipped: int = 0
    showing: str | None = None  # "media:<id>", "idle" (nothing to play) or "done"
    paused: bool = False
    video_late: int = 0  # ticks that showed an older video frame: its decoder fell behind


class VideoFeed:
    """One play of a video, decoded and scaled ahead by its own task into a short queue.

    The frame loop only picks from the queue, so a slow frame (a key frame, the seek of a loop,
    a busy machine) is absorbed by the queue instead of making a tick late. Times are seconds
    into the play; a loop goes on counting.
    """

    def __init__(
        self,
        path: Path,
        entry: tl.Entry,
        size: tuple[int, int],
        offload: Offload,
        depth: int = FEED_DEPTH,
    ) -> None:
        self.path = path
        self.entry = entry
        self.size = size
        self.offload = offload
        self.depth = depth
        self.last: Image.Image | None = None
        self.behind = False  # the picture due was not decoded in time
        self.ended = False
        self.failed: Exception | None = None
        self._queue: collections.deque[tuple[float, Image.Image]] = collections.deque()
        self._last_time = -math.inf
        self._frame_seconds = 1 / 30
        self._space = trio.Event()
        self._ready = trio.Event()
        self._scope = trio.CancelScope()

    async def run(self) -> None:
        with self._scope:
            reader: VideoReader | None = None
            try:
                reader = await self.offload(VideoReader, self.path)
                self._frame_seconds = reader.frame_seconds
                await self._feed(reader)
            except MEDIA_ERRORS as exc:
                self.failed = exc
            finally:
                self.ended = True
                self._ready.set()
                if reader is not None:
                    reader.close()

    async def _feed(self, reader: VideoReader) -> None:
        start, loop = self.entry.start, self.entry.item.timing.loop
        if start > 0:
            await self.offload(reader.seek, start)
        base, last = 0.0, None
        while True:
            while len(self._queue) >= self.depth:
                self._space = trio.Event()
                await self._space.wait()
            got = await self.offload(reader.read, self.size)
            if got is None:
                if not loop or last is None:
                    return  # the last picture stays on
                base += last + reader.frame_seconds - start
                await self.offload(reader.seek, start)
                last = None
                continue
            t, picture = got
            if t + EPSILON < start:
                continue  # decoded from the key frame before the start
            last = t
            self._queue.append((base + t - start, picture))
            self._ready.set()

    async def first(self, patience: float) -> None:
        """Wait (a little) for the first picture, so a play does not open on a blank frame."""
        with trio.move_on_after(patience):
            await self._ready.wait()

    def picture_at(self, t: float) -> Image.Image | None:
        """The last picture due by `t` seconds into the play; older ones are let go."""
        queue = self._queue
        while queue and queue[0][0] <= t + EPSILON:
            self._last_time, self.last = queue.popleft()
            self._space.set()
        due = self._last_time + 1.5 * self._frame_seconds
        self.behind = not queue and not self.ended and self.last is not None and t > due
        return self.last

    def close(self) -> None:
        self._scope.cancel()


def _first_playable(
    media_ids: tuple[int, ...], index: int, playable: set[int], step: int
) -> int | None:
    """The media id at `index`, or the next one in the `step` direction that can play."""
    n = len(media_ids)
    for k in range(n):
        media_id = media_ids[(index + step * k) % n]
        if media_id in playable:
            return media_id
    return None


class ScreenPlayer:
    """Plays one cloud screen on one canvas and feeds its panels."""

    def __init__(
        self,
        canvas: CanvasConfig,
        screen: str,
        hub: Hub,
        panels: list[PanelDriver],
        playlist_for: PlaylistFor,
        locate: Locate,
        *,
        offload: Offload = trio.to_thread.run_sync,
    ) -> None:
        self.canvas = canvas
        self.screen = screen
        self.hub = hub
        self.panels = panels
        self.playlist_for = playlist_for
        self.locate = locate
        self.offload = offload
        self.on_media_change: Callable[[], None] | None = None
        self.stats = ScreenStats()
        self.size = (canvas.width, canvas.height)
        self.renderer = Renderer(canvas.width, canvas.height)
        self.clock = PlayClock()
        self.timeline = tl.Timeline(())
        self.last_frame: Image.Image | None = None
        self.media_id: int | None = None  # what the screen shows now
        self._playlist: Playlist | None = None
        self._paths: dict[int, Path] = {}
        self._key: object = None
        self._refresh_at = -math.inf
        self._seen: Playback | None = None
        self._start = (0, 0)  # (entry, play) the clock counts from
        self._target: tuple[int, int] | None = None  # (hub index, direction) still to resolve
        self._position: tl.Position | None = None
        self._announced: int | None = None
        self._lengths: dict[Path, float | None] = {}
        self._broken: set[Path] = set()
        self._pictures: dict[tuple[Path, tuple[int, int]], Image.Image] = {}
        self._loading: set[tuple[Path, tuple[int, int]]] = set()
        self._videos: dict[int, VideoFeed] = {}  # by slot: the plays on screen and the next one
        self._overlay: tuple[TextOverlay | None, float] = (None, 0.0)
        self._nursery: trio.Nursery | None = None

    # Following the hub

    def _follow(self, playback: Playback, now: float) -> None:
        """React to a changed Playback: a jump, a new playlist, pause or play."""
        old, self._seen = self._seen, playback
        if old is None:
            self._aim(playback.index, +1, now)
            if not playback.playing:
                self.clock.pause(now)
            return
        if playback.playing != old.playing:
            (self.clock.resume if playback.playing else self.clock.pause)(now)
        if playback.playlist_id != old.playlist_id:
            self._refresh_at = -math.inf
            self._aim(playback.index, +1, now)
        elif playback.generation != old.generation:
            refreshed = playback.media_ids != old.media_ids
            current = self.showing_media()
            if refreshed and current is not None and current in playback.media_ids:
                self._refresh_at = -math.inf  # the snapshot changed too: rebuild, keep the place
            else:
                n = len(playback.media_ids)
                back = n > 2 and playback.index == (old.index - 1) % n
                self._aim(playback.index, -1 if back else +1, now)
        elif playback.playing and playback.index == old.index and self._done():
            # Play once the playlist has ended (seen paused or not yet): from the top again.
            self._aim(0, +1, now)

    @property
    def position(self) -> tl.Position | None:
        """Where the playlist is, as of the last frame; None when nothing plays."""
        return self._position

    def showing_media(self) -> int | None:
        """The media id of the play in progress, if one is."""
        if self._position is None:
            return None
        return self.timeline.entries[self._position.entry].item.media_id

    def _done(self) -> bool:
        return self._position is None and self._target is None and bool(self.timeline.entries)

    def _aim(self, index: int, step: int, now: float) -> None:
        self._target = (index, step)
        self.clock.restart(now)
        self._position = None
        self._renumber(None)

    def _renumber(self, slot: int | None) -> None:
        """Plays count from 0 again: keep the video feed of `slot` as play 0, close the rest."""
        kept = self._videos.pop(slot) if slot in self._videos else None
        for feed in self._videos.values():
            feed.close()
        self._videos = {0: kept} if kept is not None else {}

    def _resolve(self, now: float) -> None:
        """Turn a pending hub index into an entry of the timeline, skipping what cannot play."""
        if self._target is None or not self.timeline.entries or self._seen is None:
            return
        index, step = self._target
        self._target = None
        ids = self._seen.media_ids
        playable = {e.item.media_id for e in self.timeline.entries}
        media_id = _first_playable(ids, index, playable, step) if ids else None
        entry = self.timeline.index_of(media_id) if media_id is not None else None
        self._start = (entry or 0, 0)
        self.clock.restart(now)

    # The playlist and the cache

    async def _refresh(self, now: float) -> None:
        """Ask the snapshot and the cache again; rebuild the timeline if what can play changed."""
        self._refresh_at = now + REFRESH_SECONDS
        playback = self._seen
        playlist = None
        if playback is not None and playback.playlist_id is not None:
            playlist = self.playlist_for(playback.playlist_id)
        paths: dict[int, Path] = {}
        for item in playlist.media_items if playlist else ():
            path = self.locate(item) if item.n_time_play > 0 else None
            if path is not None and path not in self._broken:
                paths[item.media_id] = path
        key = (playlist, tuple(paths.items()))
        if key == self._key:
            return
        entries = []
        for item in playlist.media_items if playlist else ():
            path = paths.get(item.media_id)
            if path is None:
                continue
            length = None
            if item.media_type == "video":
                if path not in self._lengths:
                    try:
                        self._lengths[path] = await self.offload(probe_video, path)
                    except MEDIA_ERRORS as exc:
                        log.warning("screen %s: video %s cannot play: %s", self.screen, path, exc)
                        self._broken.add(path)
                        continue
                length = self._lengths[path]
            entries.append(tl.Entry(item, length))
        self._key = key
        self._playlist = playlist
        self._paths = paths
        self._retime(
            tl.Timeline(tuple(entries), tl.passes(playlist.playback_config) if playlist else 1),
            now,
        )

    def _retime(self, timeline: tl.Timeline, now: float) -> None:
        """Swap in a new timeline, staying on the item that shows if it is still there."""
        old = self.timeline
        self.timeline = timeline
        if self._target is not None or self._position is None:
            return
        position = old.position(*self._start, self.clock.elapsed(now))  # now, not last frame
        if position is None:
            return
        item = old.entries[position.entry].item
        entry = timeline.index_of(item.media_id)
        if entry is not None and position.play < timeline.entries[entry].plays:
            self._start = (entry, position.play)
            self.clock.restart(now, position.t)
            self._renumber(position.slot)
            return
        later = [i for i, e in enumerate(timeline.entries) if e.item.order > item.order]
        self._start = (later[0] if later else 0, 0)
        self.clock.restart(now)
        self._renumber(None)

    # Frames

    async def frame(self, now: float) -> Image.Image:
        """The canvas at `now` (trio time); reads the hub, the snapshot and the cache."""
        playback = self.hub.playback[self.screen]
        if playback is not self._seen:
            self._follow(playback, now)
        if now >= self._refresh_at:
            await self._refresh(now)
        self._resolve(now)
        if self._target is None and self.timeline.entries:
            position = self.timeline.position(*self._start, self.clock.elapsed(now))
        else:
            position = None
        self._moved(position)
        if position is None and self._position is not None and playback.playing:
            self._ended()
        self._position = position
        self.stats.paused = not playback.playing
        if not self.timeline.entries:
            self.stats.showing = "idle"
            self.media_id = None
            frame = self.renderer.idle(now)
        else:
            frame = await self._draw(position, now)
        overlay = self.hub.overlay
        if overlay is not self._overlay[0]:
            self._overlay = (overlay, now)
        if overlay is not None:
            frame = self.renderer.overlay(frame, overlay, now - self._overlay[1])
        return frame

    async def _draw(self, position: tl.Position | None, now: float) -> Image.Image:
        playlist = self._playlist
        assert playlist is not None
        background = tl.parse_color(playlist.playback_config.background_color)
        source = (playlist.width, playlist.height)
        scene = tl.scene(self.timeline, position, self.size, source, background)
        self.media_id = scene.media_id
        self.stats.showing = f"media:{scene.media_id}" if scene.media_id is not None else "done"
        pictures = await self._pictures_for(scene, position)
        if position is not None:
            self._load_ahead(position)
            self._preroll(position)
        whole = all(layer.slot in pictures for layer in scene.layers)
        if whole and scene.settled and scene.media_id not in (None, self._announced):
            # Announced with the first frame that shows it all; it is shown before any await.
            self._announced = scene.media_id
            if self.on_media_change is not None:
                self.on_media_change()
        return tl.compose(scene, self.size, lambda layer: pictures.get(layer.slot))

    def _moved(self, position: tl.Position | None) -> None:
        """Another item came on: tell the hub its index (the hub skips one it already has)."""
        if position is None or self._seen is None or self._nursery is None:
            return
        media_id = self.timeline.entries[position.entry].item.media_id
        if media_id == self.showing_media():
            return
        playback = self._seen
        if media_id in playback.media_ids:
            index = playback.media_ids.index(media_id)
            self._nursery.start_soon(self.hub.playing_at, self.screen, playback.generation, index)

    def _ended(self) -> None:
        """The last pass is over: the screen pauses on its background until told to play."""
        if self._nursery is not None:
            self._nursery.start_soon(self.hub.pause, self.screen)

    async def _pictures_for(
        self, scene: tl.Scene, position: tl.Position | None
    ) -> dict[int, Image.Image]:
        found: dict[int, Image.Image] = {}
        live: set[int] = set() if position is None else {position.slot + 1}
        for layer in scene.layers:
            entry = self.timeline.entries[layer.entry]
            path = self._paths[layer.media_id]
            size = (layer.box[2], layer.box[3])
            if entry.is_video:
                assert position is not None
                live.add(layer.slot)
                picture = await self._video_frame(layer, position, path, size)
            else:
                picture = self._picture(path, size)
            if picture is not None:
                found[layer.slot] = picture
        for slot in [s for s in self._videos if s not in live]:
            self._videos.pop(slot).close()
        return found

    async def _video_frame(
        self, layer: tl.Layer, position: tl.Position, path: Path, size: tuple[int, int]
    ) -> Image.Image | None:
        feed = self._videos.get(layer.slot)
        if layer.still:
            return feed.last if feed is not None else None
        if feed is None or feed.path != path or feed.size != size:
            if feed is not None:
                feed.close()
            feed = self._start_feed(layer.slot, self.timeline.entries[layer.entry], path, size)
            await feed.first(FIRST_PICTURE_PATIENCE)
        if feed.failed is not None:
            log.warning("screen %s: video %s stopped: %s", self.screen, path, feed.failed)
            self._broken.add(path)
            self._refresh_at = -math.inf
            self._videos.pop(layer.slot).close()
            return None
        picture = feed.picture_at(position.t)
        self.stats.video_late += feed.behind
        return picture

    def _start_feed(
        self, slot: int, entry: tl.Entry, path: Path, size: tuple[int, int]
    ) -> VideoFeed:
        assert self._nursery is not None
        feed = self._videos[slot] = VideoFeed(path, entry, size, self.offload)
        self._nursery.start_soon(feed.run)
        return feed

    def _preroll(self, position: tl.Position) -> None:
        """Near the end of a play, start decoding the next play if it is a video."""
        entry = self.timeline.entries[position.entry]
        slot = position.slot + 1
        if entry.length - position.t >= PREROLL_SECONDS or slot in self._videos:
            return
        upcoming = self.timeline.entries[self.timeline.following(position)[0]]
        path = self._paths.get(upcoming.item.media_id)
        if not upcoming.is_video or path is None or path in self._broken or not self._playlist:
            return
        source = (self._playlist.width, self._playlist.height)
        box = tl.place(upcoming.item.layout, source, self.size)
        self._start_feed(slot, upcoming, path, (box[2], box[3]))

    def _picture(self, path: Path, size: tuple[int, int]) -> Image.Image | None:
        """A loaded image, or None while it loads in the background."""
        key = (path, size)
        picture = self._pictures.get(key)
        if picture is None:
            self._want(key)
        return picture

    def _want(self, key: tuple[Path, tuple[int, int]]) -> None:
        if key in self._pictures or key in self._loading or self._nursery is None:
            return
        if key[0] in self._broken:
            return
        self._loading.add(key)
        self._nursery.start_soon(self._load, key)

    async def _load(self, key: tuple[Path, tuple[int, int]]) -> None:
        path, size = key
        try:
            picture = await self.offload(load_image, path, size)
        except MEDIA_ERRORS as exc:
            log.warning("screen %s: image %s cannot be shown: %s", self.screen, path, exc)
            self._broken.add(path)
            self._refresh_at = -math.inf
        else:
            if len(self._pictures) >= MAX_PICTURES:
                self._pictures.clear()
            self._pictures[key] = picture
        finally:
            self._loading.discard(key)

    def _load_ahead(self, position: tl.Position) -> None:
        """Start loading the image that plays next, so its first frame is not a blank one."""
        entries = self.timeline.entries
        i = (position.entry + 1) % len(entries)
        upcoming = entries[i]
        path = self._paths.get(upcoming.item.media_id)
        if upcoming.is_video or path is None or self._playlist is None:
            return
        box = tl.place(
            upcoming.item.layout, (self._playlist.width, self._playlist.height), self.size
        )
        self._want((path, (box[2], box[3])))

    # Output

    def show(self, frame: Image.Image) -> None:
        brightness = self.hub.brightness
        for panel in self.panels:
            panel.show(frame, brightness)
        self.last_frame = frame
        self.hub.publish("frame", (self.canvas.name, frame))

    def snapshot(self) -> Shot | None:
        """What the screen shows now and the media playing, for a screenshot."""
        if self.last_frame is None or self.media_id is None:
            return None
        return self.last_frame, self.media_id

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        period = 1.0 / self.canvas.fps
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await nursery.start(follow_brightness, self.hub, self.panels, lambda: self.last_frame)
            t0 = trio.current_time()
            task_status.started()
            n = 0
            while True:
                await trio.sleep_until(t0 + n * period)
                self.show(await self.frame(t0 + n * period))
                self.stats.frames += 1
                due = math.floor((trio.current_time() - t0) / period) + 1
                self.stats.skipped += max(0, due - n - 1)
                n = max(n + 1, due)
