"""The box: the parts its services share, opened once from the venue file."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from edgebox.cache.media import MediaCache
from edgebox.cache.store import Store
from edgebox.core.config import VenueConfig
from edgebox.core.metrics import Metrics
from edgebox.hub import Hub
from edgebox.iptv.catalog import Catalog
from edgebox.runtime.supervisor import Supervisor

if TYPE_CHECKING:
    from edgebox.drivers.driver import PanelDriver
    from edgebox.ledsign.player import Player
    from edgebox.runtime.systemd import Notifier
    from edgebox.screens.player import ScreenPlayer
    from edgebox.upstream.client import CloudClient
    from edgebox.upstream.sync import Sync

# A part of the box describes itself for the status page: a JSON-able dict, cheap to build.
StatusSource = Callable[[], dict[str, Any]]
# A readiness condition: None when fine, else what is missing.
ReadyCheck = Callable[[], str | None]


@attrs.define
class Box:
    """The parts of a running box; only `edgebox.runtime` sees it, services get their parts."""

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
    cloud: CloudClient | None = None  # set by the wiring when the cloud is enabled
    sync: Sync | None = None  # owns the one playlist snapshot the screens play from

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
