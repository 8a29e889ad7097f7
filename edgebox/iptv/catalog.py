"""The IPTV catalog: devices, channels and news, durable in the store and read from memory.

TVs read far more than operators write, so reads never leave the trio thread. Each write is
validated, persisted in one store transaction, and only then made visible, so a crash keeps
either the old catalog or the new one.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import diskcache
import trio

from edgebox.cache.store import Store
from edgebox.core.errors import (
    AlreadyActivated,
    CatalogFull,
    DeviceExists,
    DeviceNotFound,
    InvalidActivationCode,
    NotFound,
    ValidationError,
)
from edgebox.iptv import model as iptv
from edgebox.iptv.model import Channel, Device, ImportReport, News

log = logging.getLogger(__name__)

DEVICE_PREFIX = "iptv/device/"
CHANNELS = "iptv/channels"
NEWS = "iptv/news"
IDS = "iptv/ids"


@attrs.define
class Catalog:
    store: Store
    clock: Callable[[], dt.datetime] = iptv.utc_now
    devices: dict[str, Device] = attrs.Factory(dict)
    channels: list[Channel] = attrs.Factory(list)
    news: list[News] = attrs.Factory(list)
    ids: dict[str, int] = attrs.Factory(lambda: {"device": 1, "channel": 1, "news": 1})
    _lock: trio.Lock = attrs.Factory(trio.Lock)

    @classmethod
    def load_sync(cls, store: Store, clock: Callable[[], dt.datetime] = iptv.utc_now) -> Catalog:
        """The catalog in the store. An unreadable entry (a device, a channel, a news item, or
        a list that does not parse) is logged and skipped, as the hub skips LED items: one bad
        record must not keep the box from starting, nor the TVs from the rest."""
        catalog = cls(store, clock)
        with store.cache.transact():
            for key in list(store.cache.iterkeys()):
                if isinstance(key, str) and key.startswith(DEVICE_PREFIX):
                    device = _readable("device", key, lambda k=key: _device(store, k))
                    if device is not None:
                        catalog.devices[device.duid] = device
            catalog.channels = _unique(
                _readable_list(store, CHANNELS, "channel", Channel.from_json)
            )
            catalog.news = _unique(_readable_list(store, NEWS, "news item", News.from_json))
            saved_ids = _readable("id counters", IDS, lambda: store.get_sync(IDS, {}))
        catalog.ids = _next_ids(catalog, saved_ids)
        return catalog

    @classmethod
    async def load(cls, store: Store, clock: Callable[[], dt.datetime] = iptv.utc_now) -> Catalog:
        return await trio.to_thread.run_sync(cls.load_sync, store, clock)

    def now(self) -> dt.datetime:
        return self.clock()

    # Reads, from memory

    def device(self, duid: str) -> Device:
        device = self.devices.get(duid)
        if device is None:
            raise DeviceNotFound()
        return device

    def channel(self, channel_id: int) -> Channel:
        for channel in self.channels:
            if channel.id == channel_id:
                return channel
        raise NotFound(f"no channel with id {channel_id}")

    def news_item(self, news_id: int) -> News:
        for item in self.news:
            if item.id == news_id:
                return item
        raise NotFound(f"no news item with id {news_id}")

    def summary(self) -> dict[str, Any]:
        """Device counts by status and catalog sizes, for the status page."""
        now = self.now()
        counts = dict.fromkeys(iptv.STATUSES, 0)
        for device in self.devices.values():
            counts[device.status(now)] += 1
        return {
            **{f"devices_{s}": n for s, n in counts.items()},
            "channels": len(self.channels),
            "news": len(self.news),
        }

    # Writes: the whole change in one transaction, then in memory

    async def _commit(
        self,
        writes: dict[str, Any],
        deletes: tuple[str, ...] = (),
        ids: dict[str, int] | None = None,
    ) -> None:
        if ids is not None:
            writes = writes | {IDS: ids}

        def write(cache: diskcache.Cache) -> None:
            for key in deletes:
                cache.delete(key)
            for key, value in writes.items():
                self.store.set_sync(key, value)

        await self.store.run(write)

    def _next_ids(self, kind: str, count: int = 1) -> tuple[int, dict[str, int]]:
        first = self.ids[kind]
        return first, self.ids | {kind: first + count}

    async def _put_device(self, device: Device, ids: dict[str, int] | None = None) -> Device:
        await self._commit({DEVICE_PREFIX + device.duid: device.to_json()}, ids=ids)
        self.devices[device.duid] = device
        if ids is not None:
            self.ids = ids
        return device

    async def register(self, owner_name: str, duid: str | None = None, **fields: Any) -> Device:
        """A new device, disabled until its activation code is entered or an operator enables it."""
        async with self._lock:
            if duid is not None and duid in self.devices:
                raise DeviceExists()
            if len(self.devices) >= iptv.MAX_DEVICES:
                raise CatalogFull(f"the box holds its maximum of {iptv.MAX_DEVICES} devices")
            while duid is None or duid in self.devices:
                duid = iptv.new_duid()
            number, ids = self._next_ids("device")
            device = Device(
                id=number,
                duid=duid,
                owner_name=owner_name,
                activation_code=iptv.new_activation_code(),
                created_at=iptv.iso(self.now()),
            )
            device = self._apply(device, fields)
            return await self._put_device(device, ids)

    def _apply(self, device: Device, changes: dict[str, Any]) -> Device:
        if changes.get("disabled") is False and device.activated_at is None:
            changes = changes | {"activated_at": iptv.iso(self.now())}
        return attrs.evolve(device, **changes)

    async def activate(self, duid: str, code: str) -> Device:
        """The TV's own activation: the code works once; the operator's switch wins after that."""
        async with self._lock:
            device = self.device(duid)
            if device.activated_at is not None:
                raise AlreadyActivated()
            if not _same(code, device.activation_code):
                raise InvalidActivationCode()
            return await self._put_device(attrs.evolve(device, activated_at=iptv.iso(self.now())))

    async def update_device(self, duid: str, changes: dict[str, Any]) -> Device:
        async with self._lock:
            return await self._put_device(self._apply(self.device(duid), changes))

    async def delete_device(self, duid: str) -> None:
        async with self._lock:
            self.device(duid)
            await self._commit({}, (DEVICE_PREFIX + duid,))
            del self.devices[duid]

    async def _put_channels(
        self, channels: list[Channel], ids: dict[str, int] | None = None
    ) -> None:
        await self._commit({CHANNELS: [c.to_json() for c in channels]}, ids=ids)
        self.channels = channels
        if ids is not None:
            self.ids = ids

    async def add_channel(self, fields: dict[str, Any]) -> Channel:
        async with self._lock:
            if len(self.channels) >= iptv.MAX_CHANNELS:
                raise CatalogFull(f"the box holds its maximum of {iptv.MAX_CHANNELS} channels")
            number, ids = self._next_ids("channel")
            channel = Channel(id=number, **fields)
            await self._put_channels([*self.channels, channel], ids)
            return channel

    async def update_channel(self, channel_id: int, fields: dict[str, Any]) -> Channel:
        async with self._lock:
            new = attrs.evolve(self.channel(channel_id), **fields)
            await self._put_channels([new if c.id == channel_id else c for c in self.channels])
            return new

    async def delete_channel(self, channel_id: int) -> None:
        async with self._lock:
            self.channel(channel_id)
            await self._put_channels([c for c in self.channels if c.id != channel_id])

    async def reorder_channels(self, channel_ids: list[int]) -> None:
        """`channel_ids` must name every channel exactly once."""
        async with self._lock:
            by_id = {c.id: c for c in self.channels}
            if sorted(channel_ids) != sorted(by_id):
                raise ValidationError("must list every channel id exactly once", "channel_ids")
            await self._put_channels([by_id[i] for i in channel_ids])

    async def import_m3u(self, text: str, channel_type: str) -> ImportReport:
        """The whole playlist in one transaction: all of it lands, or none of it."""
        async with self._lock:
            channels, report, next_id = iptv.plan_import(
                text, channel_type, self.channels, self.ids["channel"]
            )
            await self._put_channels(channels, self.ids | {"channel": next_id})
            return report

    async def _put_news(self, news: list[News], ids: dict[str, int] | None = None) -> None:
        await self._commit({NEWS: [n.to_json() for n in news]}, ids=ids)
        self.news = news
        if ids is not None:
            self.ids = ids

    async def add_news(self, fields: dict[str, Any]) -> News:
        async with self._lock:
            if len(self.news) >= iptv.MAX_NEWS:
                raise CatalogFull(f"the box holds its maximum of {iptv.MAX_NEWS} news items")
            number, ids = self._next_ids("news")
            item = News(
                id=number,
                title=fields["title"],
                body=fields["body"],
                created_at=fields.get("created_at") or iptv.iso(self.now()),
            )
            await self._put_news([*self.news, item], ids)
            return item

    async def update_news(self, news_id: int, fields: dict[str, Any]) -> News:
        async with self._lock:
            new = attrs.evolve(self.news_item(news_id), **fields)
            await self._put_news([new if n.id == news_id else n for n in self.news])
            return new

    async def delete_news(self, news_id: int) -> None:
        async with self._lock:
            self.news_item(news_id)
            await self._put_news([n for n in self.news if n.id != news_id])


_UNREADABLE = (ValidationError, KeyError, TypeError, ValueError)  # json.loads raises ValueError
T = TypeVar("T")


def _readable(kind: str, key: str, read: Callable[[], T]) -> T | None:
    try:
        return read()
    except _UNREADABLE as exc:
        log.warning("ignoring an unreadable saved IPTV %s (%s): %s", kind, key, exc)
        return None


def _device(store: Store, key: str) -> Device:
    device = Device.from_json(store.get_sync(key))
    if DEVICE_PREFIX + device.duid != key:
        raise ValidationError(f"is {device.duid!r}, not the one its key names", "duid")
    return device


def _readable_list(store: Store, key: str, kind: str, parse: Callable[[Any], T]) -> list[T]:
    raw = _readable(f"{kind} list", key, lambda: store.get_sync(key, []))
    if not isinstance(raw, list):
        if raw is not None:
            log.warning("ignoring the saved IPTV %s list (%s): not a list", kind, key)
        return []
    found = []
    for index, entry in enumerate(raw):
        parsed = _readable(kind, f"{key}[{index}]", lambda e=entry: parse(e))
        if parsed is not None:
            found.append(parsed)
    return found


def _unique(entries: list[T]) -> list[T]:
    """The first entry of each id, so an edit or delete by id always means one entry."""
    seen: set[int] = set()
    kept = []
    for entry in entries:
        if entry.id not in seen:  # type: ignore[attr-defined]
            seen.add(entry.id)  # type: ignore[attr-defined]
            kept.append(entry)
    return kept


def _next_ids(catalog: Catalog, saved: Any) -> dict[str, int]:
    """The saved id counters, but never at or below an id in use (a lost or stale counter
    would hand out an id twice)."""
    in_use = {
        "device": [d.id for d in catalog.devices.values()],
        "channel": [c.id for c in catalog.channels],
        "news": [n.id for n in catalog.news],
    }
    saved = saved if isinstance(saved, dict) else {}
    ids = {}
    for kind, used in in_use.items():
        value = saved.get(kind)
        counter = value if isinstance(value, int) and not isinstance(value, bool) else 1
        ids[kind] = max(counter, 1, *(i + 1 for i in used))
    return ids


def _same(offered: str, expected: str) -> bool:
    return hmac.compare_digest(offered.encode(), expected.encode())
