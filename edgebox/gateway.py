"""The one top-level nursery: builds the box's parts and runs every service under a supervisor."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs
import trio

from edgebox.backoff import Backoff
from edgebox.cache.catalog import Catalog
from edgebox.cache.store import Store
from edgebox.config import VenueConfig
from edgebox.hub import Hub
from edgebox.metrics import Metrics
from edgebox.status import ReadyCheck, StatusSource

if TYPE_CHECKING:
    from edgebox.cache.media import MediaCache
    from edgebox.drivers.driver import PanelDriver
    from edgebox.player import Player
    from edgebox.screenplayer import ScreenPlayer
    from edgebox.systemd import Notifier
    from edgebox.upstream.client import CloudClient
    from edgebox.upstream.protocol import DeviceScreens
    from edgebox.upstream.sync import Sync

log = logging.getLogger(__name__)

# A service runs until cancelled and calls task_status.started(value) once it is ready.
Service = Callable[..., Awaitable[None]]


def describe(exc: BaseException) -> str:
    """`Type: message` of the errors inside nursery exception groups, not of the group."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


@attrs.define
class ServiceState:
    """What the supervisor knows of one service, for the status page and the watchdog."""

    name: str
    status: str = "starting"  # starting | running | backoff | stopped
    restarts: int = 0
    last_error: str | None = None
    started_at: float | None = None


@attrs.define
class Supervisor:
    """Restarts failed services with capped backoff; one failure never reaches the others."""

    backoff: Callable[[], Backoff] = lambda: Backoff(initial=1.0, cap=30.0)
    healthy_after: float = 60.0
    states: dict[str, ServiceState] = attrs.Factory(dict)

    async def supervise(
        self,
        name: str,
        service: Service,
        *,
        task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run `service` forever; the first successful start is reported to the caller."""
        state = self.states.setdefault(name, ServiceState(name))
        backoff = self.backoff()
        reported = False
        while True:
            state.status = "starting"
            began = trio.current_time()
            try:
                async with trio.open_nursery() as nursery:
                    value = await nursery.start(service)
                    state.status, state.started_at = "running", trio.current_time()
                    if not reported:
                        task_status.started(value)
                        reported = True
            except Exception as exc:
                state.restarts += 1
                state.last_error = describe(exc)
                if trio.current_time() - began >= self.healthy_after:
                    backoff.reset()
                delay = backoff.next_delay()
                state.status = "backoff"
                log.error(
                    "service %s failed (%s); restarting in %.1f s",
                    name,
                    state.last_error,
                    delay,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
                await trio.sleep(delay)
            else:
                state.status = "stopped"
                log.info("service %s finished", name)
                if not reported:
                    task_status.started(None)
                return

    def healthy(self) -> bool:
        return all(s.status in ("running", "stopped") for s in self.states.values())


@attrs.define
class Box:
    """The parts of a running box that services share; built once by `open_box`."""

    config: VenueConfig
    store: Store
    hub: Hub
    supervisor: Supervisor = attrs.Factory(Supervisor)
    lan_urls: list[str] = attrs.Factory(list)
    metrics: Metrics = attrs.Factory(Metrics.create)
    status_sources: dict[str, StatusSource] = attrs.Factory(dict)
    ready_checks: dict[str, ReadyCheck] = attrs.Factory(dict)
    started_at: float = attrs.Factory(time.monotonic)
    panels: dict[str, PanelDriver] = attrs.Factory(dict)
    players: dict[str, Player | ScreenPlayer] = attrs.Factory(dict)
    iptv: Catalog = attrs.Factory(lambda self: Catalog(self.store), takes_self=True)
    notifier: Notifier | None = None  # set when systemd runs the box as a notify service
    media: MediaCache | None = None  # opened by open_box, with or without a cloud
    cloud: CloudClient | None = None  # set by the upstream service when the cloud is enabled
    # The last good playlist snapshot; the sync updates it before it moves the hub's playback.
    screens: DeviceScreens | None = None
    sync: Sync | None = None

    def __attrs_post_init__(self) -> None:
        self.metrics.watch(
            "edgebox_service_restarts",
            "Restarts of a supervised service after a failure",
            "service",
            lambda: {name: s.restarts for name, s in self.supervisor.states.items()},
        )
        self.metrics.watch(
            "edgebox_panel_frames_sent",
            "Frames written to a panel",
            "panel",
            lambda: {name: d.stats.frames_sent for name, d in self.panels.items()},
        )
        self.metrics.watch(
            "edgebox_panel_frames_dropped",
            "Frames dropped because the serial link was busy or down",
            "panel",
            lambda: {name: d.stats.frames_dropped for name, d in self.panels.items()},
        )


async def open_box(config: VenueConfig) -> Box:
    from edgebox.cache.media import MediaCache

    store = await Store.open(config.cache.directory / "state")
    hub = await Hub.load(store)
    metrics = Metrics.create()
    return Box(
        config=config,
        store=store,
        hub=hub,
        metrics=metrics,
        iptv=await Catalog.load(store),
        media=await MediaCache.open(config.cache, store, metrics),
    )


def services(box: Box) -> list[tuple[str, Service]]:
    """Every long-running service of the box except the LAN server, in start order."""
    from edgebox.local.led import preview_expiry

    found: list[tuple[str, Service]] = []
    found.append(("led-preview-expiry", preview_expiry(box.hub)))
    from edgebox.player import led_services

    found += led_services(box)
    from edgebox.upstream.service import upstream_services

    found += upstream_services(box)
    from edgebox.update.service import update_services

    found += update_services(box)
    if box.notifier is not None and box.notifier.watchdog_interval is not None:
        from edgebox.systemd import watchdog

        found.append(("systemd-watchdog", watchdog(box, box.notifier)))
    return found


async def run(box: Box, *, task_status: trio.TaskStatus[Box] = trio.TASK_STATUS_IGNORED) -> None:
    """Run the whole box until cancelled; reports the box once the LAN server listens."""
    from edgebox.local.server import serve_lan

    async with trio.open_nursery() as nursery:
        box.lan_urls = await nursery.start(box.supervisor.supervise, "lan", serve_lan(box))
        for name, service in services(box):
            nursery.start_soon(box.supervisor.supervise, name, service)
        task_status.started(box)


async def run_until_signal(box: Box, on_ready: Callable[[Box], None] | None = None) -> None:
    """Run the box; SIGTERM or SIGINT cancels everything, with a hard limit on the wind-down."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            await nursery.start(run, box)
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
