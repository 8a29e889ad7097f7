"""The wiring: the one place that builds the services from the box's parts and starts them.

Services take the collaborators they need (a hub, a playlist lookup, an upload function), never
the box; the LAN app gets a `Lan` record. `edgebox run`, the demo, `edgebox sync` and the tests
all build through here.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from edgebox.core.config import CanvasConfig
from edgebox.core.service import Service
from edgebox.core.values import MediaItem, Playlist
from edgebox.drivers.driver import PanelDriver
from edgebox.ledsign import model as ledsign
from edgebox.ledsign.player import Player
from edgebox.ledsign.preview import preview_expiry
from edgebox.local.context import Lan
from edgebox.local.server import serve_lan
from edgebox.runtime import gcpolicy, health
from edgebox.runtime.box import Box, open_box
from edgebox.runtime.cloud import CloudParts, cloud_services, open_cloud
from edgebox.runtime.systemd import watchdog
from edgebox.screens.player import ScreenPlayer
from edgebox.screens.screenshots import Screenshots
from edgebox.update.service import UpdateCollector, open_agent
from edgebox.upstream.protocol import ReloadPlaylist
from edgebox.upstream.sync import Sync

__all__ = ["Box", "open_box", "run", "run_until_signal", "services"]

log = logging.getLogger(__name__)


def services(box: Box) -> list[tuple[str, Service]]:
    """Every long-running service of the box except the LAN server, in start order."""
    cloud = open_cloud(box)
    found: list[tuple[str, Service]] = [("led-preview-expiry", preview_expiry(box.hub))]
    found += led_services(box, cloud)
    if cloud is not None:
        found += cloud_services(box, cloud)
    found += update_services(box)
    if box.notifier is not None and box.notifier.watchdog_interval is not None:
        found.append(("systemd-watchdog", watchdog(box.supervisor, box.notifier)))
    return found


def update_services(box: Box) -> list[tuple[str, Service]]:
    """The update agent when the venue file names a channel; nothing otherwise. It reboots only
    when nothing is playing from the cloud (or in the venue's maintenance window)."""
    if not box.config.update.channel:
        return []
    agent = open_agent(
        box.config.update,
        box.config.device.sn_number,
        Path(box.config.cache.directory),
        idle=lambda: all(p.playlist_id is None for p in box.hub.playback.values()),
    )
    box.status_sources["update"] = agent.status.as_dict
    box.metrics.registry.register(UpdateCollector(agent.status))
    return [("update", agent.run)]


def led_services(box: Box, cloud: CloudParts | None) -> list[tuple[str, Service]]:
    """A player per canvas (`led` or a cloud screen) and a service per panel, each on its own."""
    drivers = {cfg.name: PanelDriver.from_config(cfg) for cfg in box.config.panels}
    box.panels.update(drivers)
    images_dir = box.config.cache.directory / ledsign.IMAGES_DIRECTORY
    found: list[tuple[str, Service]] = []
    for canvas in box.config.canvases:
        mine = [drivers[p.name] for p in box.config.panels if p.canvas == canvas.name]
        if canvas.source == "led":
            player = Player(canvas, box.hub, mine, images_dir)
            box.players[canvas.name] = player
            found.append((f"player:{canvas.name}", player.run))
        else:
            found += screen_services(box, canvas, mine, cloud)
    found += [(f"panel:{name}", driver.run) for name, driver in drivers.items()]
    box.status_sources["panels"] = lambda: panel_rows(box)
    return found


def screen_services(
    box: Box, canvas: CanvasConfig, panels: list[PanelDriver], cloud: CloudParts | None
) -> list[tuple[str, Service]]:
    """The player of a `cloud:<screen>` canvas, and the screen's screenshot uploader.

    Playlist bodies come from the sync's snapshot (the one the box has), read at each call: the
    sync replaces it before it moves the hub's playback, so a player never sees ids it lacks.
    """
    screen = canvas.source.removeprefix("cloud:")

    def playlist_for(playlist_id: int) -> Playlist | None:
        snapshot = box.sync.screens if box.sync is not None else None
        found = snapshot.find(playlist_id) if snapshot is not None else None
        return found[1] if found is not None else None

    def locate(item: MediaItem) -> Path | None:
        return box.media.locate(item) if box.media is not None else None

    first = not any(
        isinstance(p, ScreenPlayer) and p.screen == screen for p in box.players.values()
    )
    player = ScreenPlayer(canvas, screen, box.hub, panels, playlist_for, locate)
    box.players[canvas.name] = player
    found: list[tuple[str, Service]] = [(f"player:{canvas.name}", player.run)]
    settings = box.config.cloud
    if (
        first
        and cloud is not None
        and (settings.screenshot_interval > 0 or settings.screenshot_on_change)
    ):
        client = cloud.client

        async def upload(media_id: int | None, jpeg: bytes) -> None:
            await client.upload_screenshot(media_id, jpeg)

        shots = Screenshots(
            player.snapshot,
            upload,
            interval=settings.screenshot_interval,
            on_change=settings.screenshot_on_change,
        )
        player.on_media_change = shots.media_changed
        found.append((f"screenshots:{screen}", shots.run))
    return found


def panel_rows(box: Box) -> list[dict[str, object]]:
    """One row per panel for the status page: its link, and what its canvas shows."""
    rows: list[dict[str, object]] = []
    for cfg in box.config.panels:
        stats = box.panels[cfg.name].stats
        player = box.players.get(cfg.canvas)
        rows.append(
            {
                "panel": cfg.name,
                "canvas": cfg.canvas,
                "port": cfg.port,
                "connected": stats.connected,
                "fps": round(stats.fps, 1),
                "frames_sent": stats.frames_sent,
                "frames_dropped": stats.frames_dropped,
                "showing": player.stats.showing if player else None,
                "last_error": stats.last_error,
            }
        )
    return rows


def lan_parts(box: Box) -> Lan:
    """What the LAN app may use of the box: its parts and a few views, not the box."""
    box.status_sources["iptv"] = box.iptv.summary
    return Lan(
        config=box.config.lan,
        images_dir=box.config.cache.directory / ledsign.IMAGES_DIRECTORY,
        hub=box.hub,
        iptv=box.iptv,
        metrics=box.metrics,
        status=lambda: health.snapshot(box),
        readiness=lambda: health.readiness(box),
        sync_now=_sync_now(box.sync) if box.sync is not None else None,
        canvases=tuple(box.config.canvases),
    )


def _sync_now(sync: Sync) -> Callable[[], Awaitable[int]]:
    """Ask the sync to run once more; returns how many runs had finished before."""

    async def request() -> int:
        runs = sync.runs
        await sync.request(ReloadPlaylist())
        return runs

    return request


async def run(box: Box, *, task_status: trio.TaskStatus[Box] = trio.TASK_STATUS_IGNORED) -> None:
    """Run the whole box until cancelled; reports the box once the LAN server listens."""
    found = services(box)
    lan = serve_lan(lan_parts(box))
    async with trio.open_nursery() as nursery:
        box.lan_urls = await nursery.start(box.supervisor.supervise, "lan", lan)
        for name, service in found:
            nursery.start_soon(box.supervisor.supervise, name, service)
        task_status.started(box)


async def run_until_signal(box: Box, on_ready: Callable[[Box], None] | None = None) -> None:
    """Run the box; SIGTERM or SIGINT cancels everything, with a hard limit on the wind-down."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(run, box)
            gcpolicy.settle()
            if box.notifier is not None:
                box.notifier.ready(f"serving on {', '.join(box.lan_urls)}")
            if on_ready is not None:
                on_ready(box)
            async for signum in signals:
                log.info("received %s; shutting down", signal.Signals(signum).name)
                if box.notifier is not None:
                    box.notifier.stopping()
                nursery.cancel_scope.cancel()
                break
    await trio.to_thread.run_sync(box.store.close_sync)
