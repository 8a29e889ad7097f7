"""The `parts` fixture: one box's cloud side (store, hub, media cache, outbox, client, sync),
built by the same `build_cloud` as the running box.

Reopening `Parts` on the same directory stands for a restart of the box.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from edgebox.cache.media import MediaCache
from edgebox.cache.store import Store
from edgebox.core import config
from edgebox.hub import Hub
from edgebox.runtime.cloud import build_cloud
from edgebox.sim.cloud import SimCloud
from edgebox.upstream import protocol
from edgebox.upstream.client import CloudClient
from edgebox.upstream.sync import Sync
from tests.conftest import base_venue


def venue(cloud: SimCloud, tmp_path: Path, **cache: Any) -> config.VenueConfig:
    return config.parse(
        base_venue(
            tmp_path / "data",
            cloud={"base_url": cloud.base_url, "ws_url": cloud.ws_url, "enabled": True},
            cache={"directory": str(tmp_path / "data"), **cache},
        )
    )


class Parts:
    """One box's cloud side, reopened on the same directory to stand for a restart."""

    def __init__(self, cloud: SimCloud, tmp_path: Path, **cache: Any) -> None:
        self.cloud = cloud
        self.cfg = venue(cloud, tmp_path, **cache)

    async def open(self) -> Sync:
        self.store = await Store.open(self.cfg.cache.directory / "state")
        self.hub = await Hub.load(self.store)
        self.media = await MediaCache.open(self.cfg.cache, self.store)

        async def register(client: CloudClient) -> None:
            await client.register(FACTS)

        built = build_cloud(
            self.cfg.cloud, "SN-TEST-1", self.store, self.hub, self.media, register=register
        )
        self.outbox, self.client, self.sync = built.outbox, built.client, built.sync
        self.http = self.client.http
        await self.outbox.open()
        return self.sync

    async def close(self) -> None:
        await self.http.aclose()
        self.store.close_sync()

    async def sent(self) -> list[dict[str, Any]]:
        """Everything the outbox holds, in order, taken out as the control socket would."""
        out = []
        while (found := await self.store.outbox_peek()) is not None:
            out.append(found[1])
            await self.outbox.ack(found[0])
        return out


FACTS = protocol.DeviceFacts(
    "SN-TEST-1", "edgebox", "edgebox-1", "edgebox", "Debian", "64x32", "1GB", "1GB", "0", 50, 50
)


@pytest.fixture
async def parts(cloud: SimCloud, tmp_path: Path) -> AsyncIterator[Parts]:
    p = Parts(cloud, tmp_path)
    await p.open()
    yield p
    await p.close()


def statuses(messages: list[dict[str, Any]], playlist_id: int) -> list[tuple[str, int]]:
    return [
        (m["status"], m["downloaded_items"])
        for m in messages
        if m["type"] == "playlist_status" and m["playlist_id"] == playlist_id
    ]
