"""`edgebox sync`: one playlist sync now, with a progress bar per file.

A running box does the sync itself (`POST /api/sync` streams its progress); a stopped box is
synced from this process, so media can be loaded before the box goes live.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

import httpx
import trio
from tqdm import tqdm

from edgebox.cli.status_cmd import box_url
from edgebox.core.config import VenueConfig

Event = dict[str, Any]


class ProgressBars:
    """One bar per file while it downloads, then one line per playlist."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.bars: dict[int, tqdm[Any]] = {}
        self.slots = 0

    def __call__(self, event: Event) -> None:
        kind = event["kind"]
        media_id = event.get("media_id", -1)
        bar = self.bars.get(media_id)
        if kind == "file":
            if bar is None:
                bar = tqdm(
                    total=event["total"] or None,
                    desc=_label(event["name"]),
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    file=self.out,
                    position=self.slots,
                    leave=True,
                    dynamic_ncols=True,
                )
                self.slots += 1
                self.bars[media_id] = bar
            bar.update(event["done"] - bar.n)
        elif kind in ("file_done", "file_failed") and bar is not None:
            if kind == "file_failed":
                bar.set_postfix_str(f"failed: {event['error']}"[:60])
            bar.close()
        elif kind == "finished":
            for open_bar in self.bars.values():
                open_bar.close()
            print(summary(event), file=self.out)


def summary(event: Event) -> str:
    if not event["ok"]:
        return f"sync failed: {event.get('last_error') or 'the cloud could not be reached'}"
    lines = []
    for p in event.get("playlists", []):
        line = f"playlist {p['playlist_id']} {p['name']!r}: {p['status']}"
        line += f" {p['downloaded_items']}/{p['total_items']}"
        if p.get("missing_files"):
            line += f", missing {', '.join(p['missing_files'])}"
        lines.append(line)
    return "\n".join(lines) or "the cloud lists no playlists for this box"


def _label(name: str) -> str:
    return name if len(name) <= 28 else name[:25] + "..."


def sync_running_box(cfg: VenueConfig, on_event: Callable[[Event], None]) -> bool | None:
    """True/False for the sync's outcome; None when no box answers at the LAN address."""
    token = cfg.lan.admin_token.reveal()
    try:
        with httpx.stream(
            "POST",
            box_url(cfg) + "/api/sync",
            headers={"Authorization": f"Bearer {token}"},
            timeout=httpx.Timeout(10, read=None),
        ) as response:
            if response.status_code != 200:
                response.read()
                raise SyncRefused(f"the box answered {response.status_code}: {_error(response)}")
            ok = False
            for line in response.iter_lines():
                if line.strip():
                    event = json.loads(line)
                    on_event(event)
                    ok = event["kind"] == "finished" and bool(event["ok"])
            return ok
    except httpx.ConnectError:
        return None


async def sync_here(cfg: VenueConfig, on_event: Callable[[Event], None]) -> bool:
    """The box is stopped: open its state, sync once, and leave the reports in its outbox."""
    from edgebox.runtime import wiring
    from edgebox.runtime.cloud import open_cloud

    box = await wiring.open_box(cfg)
    try:
        cloud = open_cloud(box)
        if cloud is None:
            raise SyncRefused("the cloud is not enabled in this venue file")
        with box.hub.subscribe({"sync"}, maxlen=4096) as events:
            async with trio.open_nursery() as nursery:

                async def forward() -> None:
                    async for change in events:
                        on_event(change.value)
                        if change.value["kind"] == "finished":
                            return

                nursery.start_soon(forward)
                await cloud.outbox.open()
                await cloud.sync.start()
                ok = await cloud.sync.sync_once(announce=True)
        await cloud.client.http.aclose()
        return ok
    finally:
        await trio.to_thread.run_sync(box.store.close_sync)


class SyncRefused(Exception):
    pass


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", response.reason_phrase))
    except ValueError:
        return response.reason_phrase


def run(cfg: VenueConfig, *, as_json: bool) -> int:
    def print_json(event: Event) -> None:
        print(json.dumps(event, separators=(",", ":")), flush=True)

    on_event: Callable[[Event], None] = print_json if as_json else ProgressBars(sys.stderr)
    try:
        ok = sync_running_box(cfg, on_event)
        if ok is None:
            print("the box is not running; syncing from here", file=sys.stderr)
            ok = trio.run(sync_here, cfg, on_event)
    except SyncRefused as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0 if ok else 1
