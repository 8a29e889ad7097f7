"""`edgebox iptv import | devices`: the IPTV catalog from a terminal.

The running box keeps the catalog in memory, so while it runs the commands go through its admin
API; when it is stopped they work on the store in the venue's cache directory.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import trio

from edgebox.cache.store import Store
from edgebox.cli.status_cmd import box_url
from edgebox.core.config import VenueConfig
from edgebox.core.errors import EdgeboxError
from edgebox.iptv import model as iptv
from edgebox.iptv.catalog import Catalog


def _admin(cfg: VenueConfig) -> httpx.Client:
    token = cfg.lan.admin_token.reveal()
    return httpx.Client(
        base_url=box_url(cfg) + "/api/admin/iptv",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )


async def _offline(cfg: VenueConfig, work: Any) -> Any:
    store = await Store.open(cfg.cache.directory / "state")
    try:
        return await work(await Catalog.load(store))
    finally:
        store.close_sync()


def _answer(response: httpx.Response) -> Any:
    if response.status_code >= 400:
        raise EdgeboxError(f"the box refused: {response.json().get('error', response.text)}")
    return response.json()


def import_playlist(cfg: VenueConfig, path: Path, channel_type: str) -> int:
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        with _admin(cfg) as client:
            body = {"playlist": text, "type": channel_type}
            report = _answer(client.post("/channels/import", json=body))
    except httpx.ConnectError:

        async def work(catalog: Catalog) -> dict[str, Any]:
            return (await catalog.import_m3u(text, channel_type)).to_json()

        report = trio.run(_offline, cfg, work)
    for line in report["lines"]:
        detail = line.get("reason") or line.get("name", "")
        print(f"line {line['line']:>5}  {line['action']:<9} {detail}")
    print(
        f"{path}: {report['added']} added, {report['updated']} updated,"
        f" {report['unchanged']} unchanged, {report['skipped']} skipped"
    )
    return 0


def list_devices(cfg: VenueConfig, status: str | None) -> int:
    try:
        with _admin(cfg) as client:
            params = {"status": status} if status else {}
            devices = _answer(client.get("/devices", params=params))
    except httpx.ConnectError:

        async def work(catalog: Catalog) -> list[dict[str, Any]]:
            now = catalog.now()
            return [
                d.admin(now)
                for d in sorted(catalog.devices.values(), key=lambda d: d.id)
                if status is None or d.status(now) == status
            ]

        devices = trio.run(_offline, cfg, work)
    for d in devices:
        print(
            f"{d['id']:>5}  {d['duid']:<20} {d['status']:<9} {d['allowed_types']:<18}"
            f" expires {d['expiry_date'] or '-':<10}  code {d['activation_code']}"
            f"  {d['owner_name']}"
        )
    print(f"{len(devices)} device(s)")
    return 0


def run(cfg: VenueConfig, args: Any) -> int:
    try:
        if args.iptv_command == "import":
            return import_playlist(cfg, args.file, iptv.check_type(args.type))
        return list_devices(cfg, args.status)
    except (EdgeboxError, OSError) as exc:
        print(f"edgebox iptv: {exc}", file=sys.stderr)
        return 1
