"""Fixtures for the real parts: a venue config, a store, a hub and a running box on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from edgebox.cache.store import Store
from edgebox.core import config
from edgebox.hub import Hub
from edgebox.runtime import wiring

ADMIN_TOKEN = "test-admin-token"


def base_venue(data: Path, **sections: Any) -> dict[str, Any]:
    """A valid venue file as a dict, offline by default; sections replace or extend tables."""
    venue: dict[str, Any] = {
        "venue": "test",
        "cloud": {
            "base_url": "http://127.0.0.1:9/api/v1",
            "ws_url": "ws://127.0.0.1:9/ws/cloud/tb_device/",
            "username": "box",
            "password": "s3cret-password",
            "enabled": False,
        },
        "device": {"sn_number": "SN-TEST-1"},
        "cache": {"directory": str(data)},
        "lan": {"host": "127.0.0.1", "port": 0, "admin_token": ADMIN_TOKEN},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(venue.get(key), dict):
            venue[key] = {**venue[key], **value}
        else:
            venue[key] = value
    return venue


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., config.VenueConfig]:
    def make(**sections: Any) -> config.VenueConfig:
        return config.parse(base_venue(tmp_path / "data", **sections))

    return make


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "state")
    yield s
    s.close_sync()


@pytest.fixture
async def hub(store: Store) -> Hub:
    return await Hub.load(store)


@pytest.fixture
async def box(
    make_config: Callable[..., config.VenueConfig], nursery: trio.Nursery
) -> AsyncIterator[wiring.Box]:
    """A running gateway, offline, with its LAN server on 127.0.0.1 and a free port."""
    b = await wiring.open_box(make_config())
    await nursery.start(wiring.run, b)
    yield b
    nursery.cancel_scope.cancel()


RunBox = Callable[[Callable[[httpx.AsyncClient], Awaitable[Any]]], Awaitable[Any]]


@pytest.fixture
def run_box(make_config: Callable[..., config.VenueConfig]) -> RunBox:
    """One power-on: the box starts, `use` talks to it over HTTP, then it stops and its store
    closes, so a second call sees only what the first left on disk."""

    async def run(use: Callable[[httpx.AsyncClient], Awaitable[Any]]) -> Any:
        box = await wiring.open_box(make_config())
        try:
            async with trio.open_nursery() as nursery:
                await nursery.start(wiring.run, box)
                async with httpx.AsyncClient(base_url=box.lan_urls[0], timeout=10) as client:
                    result = await use(client)
                nursery.cancel_scope.cancel()
        finally:
            box.store.close_sync()
        return result

    return run


pytest_plugins = ["tests.support.fakes.panel", "tests.support.fakes.cloud", "tests.support.parts"]
