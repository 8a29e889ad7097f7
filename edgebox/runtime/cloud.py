"""The cloud side of a running box, wired: registration, the playlist sync, the control socket."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import socket
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
import trio

from edgebox import __version__
from edgebox.cache.media import MediaCache
from edgebox.cache.store import Store
from edgebox.core.config import CloudConfig
from edgebox.core.metrics import Metrics
from edgebox.core.service import Service
from edgebox.hub import Hub
from edgebox.upstream.client import CloudClient
from edgebox.upstream.commands import hub_commands
from edgebox.upstream.control import ControlChannel, Outbox
from edgebox.upstream.protocol import DeviceFacts, human_bytes
from edgebox.upstream.sync import Sync

if TYPE_CHECKING:
    from edgebox.runtime.box import Box

log = logging.getLogger(__name__)


def local_ip(url: str) -> str | None:
    """The address this box uses toward the cloud: a UDP connect sends no packet."""
    parts = urlsplit(url)
    host, port = parts.hostname, parts.port or 443
    if not host:
        return None
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.connect((host, port))
            address: str = probe.getsockname()[0]
            return address
    except OSError:
        return None


def device_facts(box: Box) -> DeviceFacts:
    """What registration tells the cloud, measured now: disk, address, version and levels."""
    device = box.config.device
    disk = shutil.disk_usage(box.config.cache.directory)
    return DeviceFacts(
        sn_number=device.sn_number,
        brand=device.brand,
        model=device.model,
        manufacturer=device.manufacturer,
        os_version=device.os_version,
        screen_resolution=device.screen_resolution,
        total_storage=human_bytes(disk.total),
        free_storage=human_bytes(disk.free),
        app_version=__version__,
        brightness=box.hub.brightness,
        volume=box.hub.volume,
        mac_address=device.mac_address,
        ip_address=local_ip(box.config.cloud.base_url),
    )


def _when(wall: float | None) -> str | None:
    if wall is None:
        return None
    return dt.datetime.fromtimestamp(wall, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def cache_status(box: Box) -> dict[str, Any]:
    """Media in the cache against its budget and the disk's free-space reserve; the free space
    is the cache's last look, so the status page never waits on the disk."""
    cache = box.config.cache
    used = box.media.used_bytes() if box.media else 0
    free = box.media.disk_free if box.media else None
    return {
        "media": f"{human_bytes(used)} of {human_bytes(cache.max_bytes)}",
        "used_bytes": used,
        "budget_bytes": cache.max_bytes,
        "disk_free": (
            f"{human_bytes(free) if free is not None else 'unknown'}"
            f" (keeps {human_bytes(cache.min_free_bytes)})"
        ),
    }


@attrs.frozen
class CloudParts:
    """The cloud side of one box, built in one place for the box, `edgebox sync` and the tests."""

    client: CloudClient
    outbox: Outbox
    sync: Sync
    control: ControlChannel


def build_cloud(
    cloud: CloudConfig,
    sn_number: str,
    store: Store,
    hub: Hub,
    media: MediaCache,
    *,
    register: Callable[[CloudClient], Awaitable[None]],
    metrics: Metrics | None = None,
) -> CloudParts:
    """Client, outbox, sync and control socket, joined; `register` says who the box is."""
    client = CloudClient(cloud, sn_number, store, CloudClient.make_http(cloud))
    outbox = Outbox(store, metrics)

    async def registration() -> None:
        await register(client)

    sync = Sync(
        client,
        media,
        store,
        hub,
        outbox,
        register=registration,
        interval=cloud.sync_interval,
        metrics=metrics,
    )
    control = ControlChannel(
        client,
        outbox,
        hub_commands(hub, sync.request),
        heartbeat=cloud.heartbeat_interval,
        metrics=metrics,
        on_connect=sync.catch_up,
    )
    return CloudParts(client, outbox, sync, control)


def open_cloud(box: Box) -> CloudParts | None:
    """The box's cloud parts when its venue has the cloud enabled; None otherwise."""
    box.status_sources["cache"] = lambda: cache_status(box)
    if not box.config.cloud.enabled or box.media is None:
        return None

    async def register(client: CloudClient) -> None:
        facts = await trio.to_thread.run_sync(device_facts, box)  # statvfs and maybe DNS
        await client.register(facts)
        log.info("registered as %s (%s)", facts.sn_number, facts.ip_address or "no address")

    parts = build_cloud(
        box.config.cloud,
        box.config.device.sn_number,
        box.store,
        box.hub,
        box.media,
        register=register,
        metrics=box.metrics,
    )
    box.cloud, box.sync = parts.client, parts.sync
    return parts


def cloud_services(box: Box, parts: CloudParts) -> list[tuple[str, Service]]:
    """The sync and the control socket as services, and what they tell the status page."""
    cloud = box.config.cloud
    sync, control, outbox = parts.sync, parts.control, parts.outbox

    async def run_sync(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        await outbox.open()
        await sync.run(task_status=task_status)

    async def run_control(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """As in the document's startup flow: log in, register and fetch, then the socket."""
        task_status.started()
        await sync.first_attempt.wait()
        await control.run()

    def cloud_status() -> dict[str, Any]:
        summary = sync.status()
        socket_state = control.status()
        return {
            "base_url": cloud.base_url,
            "registered": summary["registered"],
            "control_socket": "connected" if socket_state["connected"] else "down",
            "last_sync": _when(summary["last_sync"]),
            "last_error": summary["last_error"] or socket_state.get("last_error"),
            "syncs": summary["syncs"],
            "outbox": outbox.length,
        }

    box.status_sources["cloud"] = cloud_status
    box.status_sources["playlists"] = lambda: sync.status()["playlists"]
    box.ready_checks["cloud"] = lambda: (
        None if sync.screens is not None else "no playlist snapshot yet (cloud not reached)"
    )
    return [("cloud-sync", run_sync), ("cloud-control", run_control)]
