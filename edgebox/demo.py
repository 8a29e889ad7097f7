"""`edgebox demo`: the whole box on this machine, with nothing outside it needed."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import trio

from edgebox import config, gateway, ledsign
from edgebox.sim.panel import VirtualPanel

ADMIN_TOKEN = "demo-admin-token"
WELCOME = {
    "id": "welcome",
    "repeat_count": 0,
    "border_effect": {"Rainbow": None},
    "content": {
        "content_type": "Text",
        "data": {
            "text": "Welcome to edgebox",
            "scroll": True,
            "speed": 30,
            "color": [255, 200, 0],
            "text_segments": [{"start": 11, "end": 18, "color": [0, 200, 255]}],
        },
    },
}


DEMO_DUID = "DEMO-TV-1"
SAMPLE_PLAYLIST = """#EXTM3U
#EXTINF:-1 tvg-logo="http://127.0.0.1/logos/news.png" group-title="News",Venue News
http://127.0.0.1/streams/news.m3u8
#EXTINF:-1 group-title="Local",Lobby Camera
http://127.0.0.1/streams/lobby.m3u8
"""


async def seed_iptv(box: gateway.Box) -> None:
    """A small IPTV catalog so `check-device` answers something at once."""
    catalog = box.iptv
    await catalog.import_m3u(SAMPLE_PLAYLIST, "FTA")
    await catalog.add_channel(
        {"name": "Movies", "url": "http://127.0.0.1/streams/movies.m3u8", "type": "Premium"}
    )
    await catalog.add_news({"title": "Welcome", "body": "The box serves IPTV with no internet."})
    await catalog.register(
        "Demo TV", DEMO_DUID, allowed_types=("FTA", "Local", "Premium"), disabled=False
    )
    await catalog.register(
        "Expired TV", "DEMO-TV-2", expiry_date=dt.date(2020, 1, 1), disabled=False
    )


def demo_config(data: Path, host: str, port: int, panel_port: str) -> config.VenueConfig:
    return config.parse(
        {
            "venue": "demo",
            "cloud": {
                "base_url": "http://127.0.0.1:1/api/v1",
                "ws_url": "ws://127.0.0.1:1/ws/cloud/tb_device/",
                "username": "demo",
                "password": "demo",
                "enabled": False,
            },
            "device": {"sn_number": "EDGEBOX-DEMO-0001"},
            "cache": {"directory": str(data)},
            "lan": {"host": host, "port": port, "admin_token": ADMIN_TOKEN},
            "canvases": [{"name": "main", "width": 64, "height": 32, "source": "led"}],
            "panels": [{"name": "demo-panel", "port": panel_port, "baudrate": 2_000_000}],
        }
    )


def _print_urls(box: gateway.Box) -> None:
    base = box.lan_urls[0]
    print(
        "\nedgebox demo is running. Open:\n"
        f"  {base}/                        status page (admin token: {ADMIN_TOKEN})\n"
        f"  {base}/docs                    API docs (OpenAPI at /openapi.json)\n"
        f"  {base}/api/playlist/items      LED sign playlist (GET, POST)\n"
        f"  {base}/api/settings/brightness LED sign brightness (GET, PUT 0-100)\n"
        f"  {base}/api/preview/status      LED sign preview lock\n"
        f"  {base}/api/events/playlist     LED sign events (SSE; also /brightness, /editor)\n"
        f'  {base}/api/client/check-device IPTV: POST {{"duid": "{DEMO_DUID}"}}\n'
        f"  {base}/metrics                 Prometheus metrics; /healthz, /readyz\n"
        f"The virtual LED panel listens on {box.config.panels[0].port}.\n"
        "Press Ctrl+C to stop.\n",
        flush=True,
    )


async def run_demo(host: str, port: int, data: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="edgebox-demo-") as tmp:
        async with trio.open_nursery() as nursery:
            panel = VirtualPanel(64, 32, path=Path(tmp) / "ttyDEMO")
            await nursery.start(panel.run)
            cfg = demo_config(data or Path(tmp) / "data", host, port, str(panel.path))
            box = await gateway.open_box(cfg)
            if not box.hub.led_items:
                await box.hub.add_led_item(ledsign.parse_item(WELCOME))
            if not box.iptv.devices:
                await seed_iptv(box)
            await gateway.run_until_signal(box, _print_urls)
            nursery.cancel_scope.cancel()
            panel.close()
