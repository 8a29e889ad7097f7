"""The IPTV catalog from a store holding unreadable entries: skipped and logged, never fatal."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgebox.cache.store import Store
from edgebox.core import config
from edgebox.iptv import catalog as cat
from edgebox.iptv.catalog import Catalog
from edgebox.runtime import wiring

GOOD_DEVICE = {
    "id": 1,
    "duid": "GOOD",
    "owner_name": "Lobby",
    "activation_code": "1234",
    "created_at": "2026-01-01T00:00:00Z",
    "allowed_types": ["FTA", "Local"],
    "expiry_date": None,
    "activated_at": "2026-01-01T00:00:00Z",
    "disabled": False,
}
GOOD_CHANNEL = {
    "id": 3,
    "name": "News",
    "url": "http://s/news",
    "type": "FTA",
    "category": "News",
    "logo_url": None,
    "has_news": False,
}
GOOD_NEWS = {"id": 2, "title": "Hello", "body": "World", "created_at": "2026-01-01T00:00:00Z"}


def put_raw(store: Store, entries: dict[str, str]) -> None:
    """Write raw text as the store's values, as a damaged or older file might hold them."""
    for key, text in entries.items():
        store.cache.set(key, text)


def damaged(store: Store) -> None:
    put_raw(
        store,
        {
            cat.DEVICE_PREFIX + "GOOD": json.dumps(GOOD_DEVICE),
            cat.DEVICE_PREFIX + "TORN": '{"id": 2, "duid": "TO',
            cat.DEVICE_PREFIX + "OLD": json.dumps({"id": 3, "duid": "OLD"}),
            cat.DEVICE_PREFIX + "ELSE": json.dumps(GOOD_DEVICE | {"id": 4}),
            cat.DEVICE_PREFIX + "TYPED": json.dumps(
                GOOD_DEVICE | {"id": 5, "duid": "TYPED", "disabled": "no"}
            ),
            cat.CHANNELS: json.dumps(
                [
                    GOOD_CHANNEL,
                    GOOD_CHANNEL | {"name": 42},
                    "not a channel",
                    GOOD_CHANNEL | {"name": "Same id"},
                    GOOD_CHANNEL | {"id": 9, "name": "Sport", "url": "file:///etc/passwd"},
                ]
            ),
            cat.NEWS: json.dumps(
                [GOOD_NEWS, GOOD_NEWS | {"id": 7, "created_at": "267-04-12T10:39:44Z"}]
            ),
            cat.IDS: json.dumps({"device": 1, "channel": "many"}),
        },
    )


async def test_unreadable_entries_are_skipped_and_logged_and_the_rest_loads(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    damaged(store)
    with caplog.at_level(logging.WARNING, logger="edgebox.iptv.catalog"):
        catalog = await Catalog.load(store)
    assert list(catalog.devices) == ["GOOD"]
    assert [c.name for c in catalog.channels] == ["News"]
    assert [n.id for n in catalog.news] == [2]
    warned = " ".join(r.getMessage() for r in caplog.records)
    for key in (
        "TORN",
        "OLD",
        "ELSE",
        "TYPED",
        "iptv/channels[1]",
        "iptv/channels[2]",
        "iptv/channels[4]",
        "iptv/news[1]",
    ):
        assert key in warned, key
    # Counters never fall to an id in use, even when the saved ones are lost or stale.
    assert catalog.ids == {"device": 2, "channel": 4, "news": 3}
    added = await catalog.add_channel({"name": "New", "url": "http://s/new", "type": "FTA"})
    assert added.id == 4


async def test_a_box_whose_store_holds_a_damaged_catalog_starts_and_serves_the_rest(
    make_config: Callable[..., config.VenueConfig],
) -> None:
    cfg = make_config()
    store = Store.open_sync(cfg.cache.directory / "state")
    damaged(store)
    put_raw(store, {cat.NEWS: "[{]", cat.IDS: "null"})
    store.close_sync()
    box = await wiring.open_box(cfg)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(wiring.run, box)
            async with httpx.AsyncClient(base_url=box.lan_urls[0]) as client:
                answer = await client.post("/api/client/check-device", json={"duid": "GOOD"})
            nursery.cancel_scope.cancel()
    finally:
        box.store.close_sync()
    assert answer.status_code == 200
    assert [c["name"] for c in answer.json()["channels"]] == ["News"]
    assert answer.json()["news"] == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = st.fixed_dictionaries({}, optional={k: JSON for k in GOOD_DEVICE})
CHANNEL_FIELDS = st.fixed_dictionaries({}, optional={k: JSON for k in GOOD_CHANNEL}).map(
    lambda f: GOOD_CHANNEL | f
)


def test_any_json_in_the_catalog_keys_loads_without_raising(tmp_path: Path) -> None:
    store = Store.open_sync(tmp_path / "state")

    @settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        device=st.one_of(JSON, FIELDS.map(lambda f: GOOD_DEVICE | f)),
        channels=st.one_of(JSON, st.lists(st.one_of(JSON, CHANNEL_FIELDS), max_size=3)),
        news=st.one_of(JSON, st.lists(JSON, max_size=3)),
        ids=JSON,
    )
    def load(device: Any, channels: Any, news: Any, ids: Any) -> None:
        with store.cache.transact():  # one fsync for the four
            for key, value in (
                (cat.DEVICE_PREFIX + "GOOD", device),
                (cat.CHANNELS, channels),
                (cat.NEWS, news),
                (cat.IDS, ids),
            ):
                store.set_sync(key, value)
        catalog = Catalog.load_sync(store)
        assert set(catalog.devices) <= {"GOOD"}
        used = [c.id for c in catalog.channels]
        assert len(set(used)) == len(used) and all(catalog.ids["channel"] > i for i in used)
        assert all(catalog.ids["news"] > n.id for n in catalog.news)

    try:
        load()
    finally:
        store.close_sync()
