"""Playlists from the cloud into the media cache and onto the hub, with the document's reports.

One `Sync` owns the snapshot of the device's screens. It persists every good fetch, starts from
the persisted one when the cloud is away, downloads what the playlists need, tells the cloud how
each playlist stands (`playlist_status`, `ready_playlists`) through the outbox, and moves the
hub's playback only to playlists that have something to play.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import attrs
import trio

from edgebox.cache.store import Store
from edgebox.core.backoff import Backoff
from edgebox.core.errors import CacheError, EdgeboxError, ProtocolError, UpstreamError
from edgebox.core.metrics import Metrics
from edgebox.core.repeats import Repeats
from edgebox.core.values import SCREENS, DeviceScreens, MediaItem, Playlist
from edgebox.hub import Hub
from edgebox.upstream import protocol
from edgebox.upstream.client import CloudClient
from edgebox.upstream.commands import PlaylistAction
from edgebox.upstream.control import Outbox
from edgebox.upstream.media import http_fetch

if TYPE_CHECKING:
    from edgebox.cache.media import MediaCache

log = logging.getLogger(__name__)

SNAPSHOT_KEY = "cloud/screens"
FOLLOWED_KEY = "cloud/followed"  # per screen: the cloud's current_playlist we last acted on
REPORTED_PREFIX = "cloud/reported/"  # per playlist: the last final status sent to the cloud


@attrs.define
class PlaylistState:
    """How far one playlist is in the cache, for the status page and `edgebox sync`."""

    playlist_id: int
    name: str
    status: str = "downloading"
    total_items: int = 0
    downloaded_items: int = 0
    missing_files: list[str] = attrs.Factory(list)
    error: str | None = None
    bytes_total: int = 0
    bytes_done: int = 0
    changed: bool = False  # its final status differs from what the cloud was last told

    def message(self) -> dict[str, Any]:
        return protocol.playlist_status(
            self.playlist_id,
            self.status,
            self.total_items,
            self.downloaded_items,
            missing_files=self.missing_files,
            error=self.error,
        )


class Sync:
    """The cloud-to-cache-to-hub direction of the box."""

    def __init__(
        self,
        client: CloudClient,
        media: MediaCache,
        store: Store,
        hub: Hub,
        outbox: Outbox,
        *,
        register: Callable[[], Any] | None = None,
        interval: float = 300.0,
        metrics: Metrics | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.client = client
        self.media = media
        self.store = store
        self.hub = hub
        self.outbox = outbox
        self._register = register
        self.interval = interval
        self.metrics = metrics
        self.backoff = backoff or Backoff(initial=2.0, cap=min(60.0, interval), jitter=0.3)
        # The one playlist snapshot of the box: the screens play from it, the hub holds only ids.
        self.screens: DeviceScreens | None = None
        self.playlists: dict[int, PlaylistState] = {}
        self.registered = False
        self.last_sync: float | None = None  # wall clock of the last good fetch
        self.last_error: str | None = None
        self.syncs = 0  # fetches that worked
        self.runs = 0  # fetches tried
        self._repeats = Repeats(log)
        self.first_attempt = trio.Event()  # the control socket opens after the first fetch
        self._busy = trio.Lock()
        self._requests_in, self._requests = trio.open_memory_channel[PlaylistAction](64)

    # Entry points

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Serve from the snapshot at once, then sync now, every `interval`, and on request."""
        await self.start()
        task_status.started()
        ok = await self.sync_once()
        while True:
            if ok:
                self.backoff.reset()
            delay = self.interval if ok else self.backoff.next_delay()
            action: PlaylistAction | None = None
            with trio.move_on_after(delay):
                action = await self._requests.receive()
            if action is None:
                ok = await self.sync_once()
            else:  # outside the wait's deadline, so a long download is not cut short
                await self.handle(action)
                ok = self.last_error is None

    async def request(self, action: PlaylistAction) -> None:
        """The control channel's `on_playlist`: queued, so a long download never blocks it."""
        try:
            self._requests_in.send_nowait(action)
        except trio.WouldBlock:
            log.warning("dropping %s: %d playlist requests already wait", action, 64)

    async def catch_up(self) -> None:
        """The control socket is back: if the last fetch failed, sync now, not at the backoff."""
        if self.last_error is not None:
            await self.request(protocol.ReloadPlaylist())

    async def handle(self, action: PlaylistAction) -> None:
        match action:
            case protocol.ReloadPlaylist():
                await self.sync_once(announce=True)
            case protocol.SwitchPlaylist(playlist_id=playlist_id):
                await self.switch(playlist_id)
            case protocol.CleanupOldPlaylists(keep=keep):
                await self.cleanup(keep)

    async def start(self) -> None:
        """Load the last snapshot, check the cache against it, and resume playback from it."""
        raw = await self.store.get(SNAPSHOT_KEY)
        if raw is not None:
            try:
                self._use(protocol.parse_screens(raw))
            except ProtocolError as exc:
                log.warning("ignoring the stored playlist snapshot: %s", exc)
        if self.screens is None:
            return
        ready = []
        for _, playlist in self.screens.playlists():
            state = await self._check(playlist)
            if state.status == "ready":
                ready.append(playlist.id)
        await self._apply(self.screens, follow=False)
        await self.outbox.put(protocol.ready_playlists(ready))

    async def sync_once(self, *, announce: bool = False) -> bool:
        """Fetch, persist, download, report and apply; False when the cloud could not be asked.

        `ready_playlists` follows when `announce` (a reload) or when any playlist changed state.
        """
        async with self._busy:
            self.runs += 1
            started = trio.current_time()
            try:
                if not self.registered and self._register is not None:
                    await self._register()
                    self.registered = True
                screens = await self.client.fetch_screens()
            except UpstreamError as exc:
                self.last_error = str(exc)
                self._repeats.failed(
                    logging.WARNING,
                    f"playlist sync: {exc}; playing from the last snapshot",
                    trio.current_time(),
                )
                self._finished(False)
                return False
            finally:
                self.first_attempt.set()
            try:
                await self._after_fetch(screens, announce=announce)
            except CacheError as exc:
                self.last_error = f"the box's storage failed: {exc}"
                log.error("playlist sync: %s", self.last_error)
                self._finished(False)
                return False
            if self.metrics is not None:
                self.metrics.sync_duration.observe(trio.current_time() - started)
            self._finished(True)
            return True

    async def _after_fetch(self, screens: DeviceScreens, *, announce: bool) -> None:
        """Persist, download, report and apply one good fetch."""
        self.last_error = None
        self._repeats.recovered("playlist sync: the cloud answers again")
        self.last_sync = time.time()
        self.syncs += 1
        await self.store.set(SNAPSHOT_KEY, protocol.screens_to_json(screens))
        self._use(screens)
        listed = {p.id for _, p in screens.playlists()}
        self.playlists = {i: s for i, s in self.playlists.items() if i in listed}
        changed = False
        for playlist in _current_first(screens):
            changed |= (await self._download(playlist)).changed
        await self._apply(screens, follow=True)
        await self._evict(screens)
        if announce or changed:
            await self._send_ready()

    async def switch(self, playlist_id: int) -> None:
        """Download the playlist first, then play it, if any of it could be had."""
        async with self._busy:
            found = self.screens.find(playlist_id) if self.screens else None
        if found is None:
            await self.sync_once()
            found = self.screens.find(playlist_id) if self.screens else None
        if found is None:
            log.warning("switch_playlist: the cloud lists no playlist %d", playlist_id)
            return
        screen, playlist = found
        async with self._busy:
            state = await self._download(playlist)
            if state.status in ("ready", "partial"):
                await self.hub.set_playlist(screen, playlist.id, self.playable(playlist))
            else:
                log.warning("switch_playlist %d: nothing of it could be downloaded", playlist_id)
        await self._send_ready()

    async def cleanup(self, keep: Iterable[int]) -> list[str]:
        """Remove media of every playlist not kept; what a screen plays now always stays."""
        async with self._busy:
            keep_ids = set(keep) | {
                pb.playlist_id for pb in self.hub.playback.values() if pb.playlist_id is not None
            }
            items = [
                item
                for _, playlist in (self.screens.playlists() if self.screens else [])
                if playlist.id in keep_ids
                for item in playlist.media_items
            ]
            removed = await self.media.remove_except(items)
        log.info("cleanup_old_playlists: removed %d files", len(removed))
        return removed

    # Parts

    def playable(self, playlist: Playlist) -> list[int]:
        """Ids of the playlist's items that are in the cache, in the playlist's order."""
        items = sorted(playlist.media_items, key=lambda i: i.order)
        return [i.media_id for i in items if self.media.locate(i) is not None]

    def ready_ids(self) -> list[int]:
        return [pid for pid, s in self.playlists.items() if s.status == "ready"]

    def _referenced(self) -> list[MediaItem]:
        """Every item of the snapshot: what the cache may not evict to make room."""
        screens = self.screens.playlists() if self.screens else []
        return [item for _, playlist in screens for item in playlist.media_items]

    def _use(self, screens: DeviceScreens) -> None:
        self.screens = screens

    async def _check(self, playlist: Playlist) -> PlaylistState:
        """The state of a playlist from the cache alone, without the network."""
        state = self._state(playlist)
        for item in playlist.media_items:
            if await self.media.verified(item) is None:
                state.missing_files.append(item.media_name)
            else:
                state.downloaded_items += 1
                state.bytes_done += item.file_size
        state.status = protocol.outcome(
            state.total_items, state.downloaded_items, state.missing_files
        )
        return state

    def _state(self, playlist: Playlist) -> PlaylistState:
        state = PlaylistState(
            playlist.id,
            playlist.name,
            total_items=len(playlist.media_items) + len(playlist.rejected),
            missing_files=list(playlist.rejected),
            bytes_total=sum(i.file_size for i in playlist.media_items),
        )
        self.playlists[playlist.id] = state
        return state

    async def _download(self, playlist: Playlist) -> PlaylistState:
        """Everything the playlist needs, with `downloading` reports as items finish."""
        state = self._state(playlist)
        todo: list[MediaItem] = []
        for item in playlist.media_items:
            if await self.media.verified(item) is None:
                todo.append(item)
            else:
                state.downloaded_items += 1
                state.bytes_done += item.file_size
        if not todo:
            state.status = protocol.outcome(
                state.total_items, state.downloaded_items, state.missing_files
            )
            await self._report_final(state)
            return state
        await self.outbox.put(state.message())
        errors: list[str] = []

        async def fetch(item: MediaItem) -> None:
            try:
                await self._fetch(item, state)
            except (CacheError, UpstreamError) as exc:
                log.warning("media %d (%s): %s", item.media_id, item.media_name, exc)
                state.missing_files.append(item.media_name)
                errors.append(str(exc))
                return
            state.downloaded_items += 1
            try:
                await self.outbox.put(state.message())
            except CacheError as exc:
                log.warning("playlist %d: a progress report was lost: %s", state.playlist_id, exc)

        async with trio.open_nursery() as nursery:
            for item in todo:
                nursery.start_soon(fetch, item)
        state.status = protocol.outcome(
            state.total_items, state.downloaded_items, state.missing_files
        )
        if state.status == "failed":
            state.error = (
                errors[0] if len(errors) == 1 else f"all {len(errors)} failed: {errors[0]}"
            )
        elif state.status == "partial" and errors:
            state.error = errors[0]  # not sent with `partial`; for the status page
        await self._report_final(state, force=True)
        return state

    async def _fetch(self, item: MediaItem, state: PlaylistState) -> None:
        url = self.client.media_url(item.media_url)
        headers = await self.client.media_headers(url)
        seen = 0

        def progress(done: int, total: int) -> None:
            nonlocal seen
            state.bytes_done += done - seen
            seen = done
            self._event("file", state, item, done=done, total=total)

        try:
            await self.media.ensure(
                http_fetch(self.client.http, url, headers),
                item,
                progress=progress,
                keep=self._referenced(),
            )
        except EdgeboxError as exc:
            state.bytes_done -= seen
            self._event("file_failed", state, item, error=str(exc))
            raise
        self._event("file_done", state, item, total=item.file_size)

    def _event(self, kind: str, state: PlaylistState, item: MediaItem, **extra: Any) -> None:
        """Download progress on the hub's `sync` topic, for `edgebox sync` and the page."""
        self.hub.publish(
            "sync",
            {
                "kind": kind,
                "playlist_id": state.playlist_id,
                "media_id": item.media_id,
                "name": item.media_name,
                **extra,
            },
        )

    async def _report_final(self, state: PlaylistState, *, force: bool = False) -> None:
        """A final status goes out when it differs from the last one the cloud was told, or
        (`force`) to close the `downloading` reports just sent."""
        message = state.message()
        key = f"{REPORTED_PREFIX}{state.playlist_id}"
        last = await self.store.get(key)
        if last == message and not force:
            return
        state.changed = True
        await self.outbox.put(message)
        await self.store.set(key, message)

    async def _send_ready(self) -> None:
        await self.outbox.put(protocol.ready_playlists(self.ready_ids()))

    async def _apply(self, screens: DeviceScreens, *, follow: bool) -> None:
        """Point each screen at a playlist that has something to play.

        When `follow`, a change of the cloud's `current_playlist` since the last sync moves the
        screen; otherwise the screen keeps its playlist (a `switch_playlist` stays in force) with
        its items refreshed.
        """
        followed: dict[str, int | None] = await self.store.get(FOLLOWED_KEY) or {}
        for name in SCREENS:
            screen = screens.screens.get(name)
            by_id = {p.id: p for p in screen.playlists} if screen else {}
            target = screen.current_playlist if screen else None
            if target not in by_id:
                target = next(iter(by_id), None)
            playing = self.hub.playback[name].playlist_id
            if follow and target != followed.get(name, -1):
                want = target
            elif playing in by_id:
                want = playing
            else:
                want = target
            if want is None:
                if follow:
                    if playing is not None:
                        await self.hub.set_playlist(name, None, [])
                    followed[name] = None
                continue
            ids = self.playable(by_id[want])
            if want == playing:
                await self.hub.refresh_playlist(name, ids)
            elif ids:
                await self.hub.set_playlist(name, want, ids)
            else:
                continue  # nothing of it is here yet: keep playing what is
            if follow and want == target:
                followed[name] = target
        await self.store.set(FOLLOWED_KEY, followed)

    async def _evict(self, screens: DeviceScreens) -> None:
        items = [item for _, p in screens.playlists() for item in p.media_items]
        try:
            removed = await self.media.evict(items)
            await self.media.refresh_disk_free()
        except CacheError as exc:
            log.warning("cache eviction: %s", exc)
            return
        if removed:
            log.info("evicted %d unreferenced media files", len(removed))

    def _finished(self, ok: bool) -> None:
        self.hub.publish(
            "sync",
            {"kind": "finished", "run": self.runs, "ok": ok, **self.status()},
        )

    def status(self) -> dict[str, Any]:
        return {
            "registered": self.registered,
            "last_sync": self.last_sync,
            "last_error": self.last_error,
            "syncs": self.syncs,
            "playlists": [
                attrs.asdict(s, filter=lambda a, _: a.name != "changed")
                for s in self.playlists.values()
            ],
        }


def _current_first(screens: DeviceScreens) -> list[Playlist]:
    """Playlists that screens play now come before the rest, so they are ready first."""
    current = {s.current_playlist for s in screens.screens.values() if s is not None}
    playlists = [p for _, p in screens.playlists()]
    return sorted(playlists, key=lambda p: p.id not in current)
