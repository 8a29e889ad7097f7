"""The IPTV client answers that many TVs share, encoded once per catalog change.

A check-device answer is the device's own fields, then the channels its types and status let it
see, then the news. The channels and the news change only when an operator edits the catalog,
yet encoding them was most of each answer's work (and most of its garbage): they are encoded
once per catalog version and per set of visible types, and spliced into every answer as bytes.
The device's own part is kept per device until the device or the day changes. The bytes are
those `jsonify` would write.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import TYPE_CHECKING, Any

from edgebox.iptv import model as iptv
from edgebox.local.http import encode

if TYPE_CHECKING:
    from edgebox.iptv.catalog import Catalog

# `json.dumps` with options builds an encoder per call; the answers' one is made once.
_COMPACT = json.JSONEncoder(separators=(",", ":"))


class Answers:
    """Encoded channel lists and news for `catalog`, rebuilt when its lists are replaced (every
    catalog write replaces them, so the lists' identity is the catalog's version)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._channels: object = None
        self._news: object = None
        self._memo: dict[Any, bytes] = {}
        self._devices: dict[str, tuple[iptv.Device, dt.date, bytes, frozenset[str] | None]] = {}

    def _cached(self, key: Any, make: Any) -> bytes:
        if self.catalog.channels is not self._channels or self.catalog.news is not self._news:
            self._channels, self._news, self._memo = self.catalog.channels, self.catalog.news, {}
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = make()
        return found

    def _visible(self, types: frozenset[str]) -> list[iptv.Channel]:
        return [c for c in self.catalog.channels if c.type in types]

    def channels(self, types: frozenset[str]) -> bytes:
        """`[channel, …]` as check-device lists them, without the trailing newline."""
        return self._cached(
            ("channels", types),
            lambda: json.dumps(
                [c.public() for c in self._visible(types)], separators=(",", ":")
            ).encode(),
        )

    def news(self) -> bytes:
        """`[news item, …]`, newest first, without the trailing newline."""
        return self._cached(
            "news",
            lambda: json.dumps(
                [n.public() for n in iptv.newest_first(self.catalog.news)], separators=(",", ":")
            ).encode(),
        )

    def check_device(self, device: iptv.Device, now: dt.datetime) -> bytes:
        own, types = self._own(device, now)
        if types is None:
            return own + b"\n"
        return b"".join(
            (own[:-1], b',"channels":', self.channels(types), b',"news":', self.news(), b"}\n")
        )

    def _own(self, device: iptv.Device, now: dt.datetime) -> tuple[bytes, frozenset[str] | None]:
        """The device's part of its answer and the channel types it sees (None: disabled).

        Both change only with the device (a write replaces it) or the UTC date (expiry), so
        they are kept per device and day: a TV's every check reuses its last one's bytes.
        """
        day = now.astimezone(dt.UTC).date()
        kept = self._devices.get(device.duid)
        if kept is not None and kept[0] is device and kept[1] == day:
            return kept[2], kept[3]
        status = device.status(now)
        head: dict[str, Any] = {"status": status}
        if status == "expired":
            head["message"] = "Device subscription has expired"
        elif status == "disabled":
            head["message"] = "Device is disabled"
        head["device"] = device.public(now)
        own = _COMPACT.encode(head).encode()
        types = None if status == "disabled" else iptv.visible_types(device, now)
        if len(self._devices) > len(self.catalog.devices) + 1024:
            self._devices = {}  # forget the devices deleted since
        self._devices[device.duid] = (device, day, own, types)
        return own, types

    def channel_list(self, device: iptv.Device, now: dt.datetime) -> bytes:
        """GET /channels: the visible channels with their place in the catalog's order."""
        types = iptv.visible_types(device, now)

        def make() -> bytes:
            order = {c.id: i for i, c in enumerate(self.catalog.channels, start=1)}
            listed = [c.public(order[c.id]) for c in self._visible(types)]
            return encode({"channels": listed})

        return self._cached(("channel_list", types), make)

    def news_list(self) -> bytes:
        return self._cached("news_list", lambda: b'{"news":' + self.news() + b"}\n")
