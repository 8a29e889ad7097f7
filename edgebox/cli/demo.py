"""`edgebox demo`: the whole box on this machine, with nothing outside it needed.

The cloud is a SimCloud in the same process on 127.0.0.1, so the demo syncs, downloads and
holds the control socket exactly as a venue box does, without the internet.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

import trio

from edgebox.core import config
from edgebox.ledsign import model as ledsign
from edgebox.runtime import wiring
from edgebox.sim.cloud import CloudURLs, SimCloud, add_demo_playlist, serve
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
DEMO_USER, DEMO_PASSWORD = "demo", "demo-password"
SAMPLE_PLAYLIST = """#EXTM3U
#EXTINF:-1 tvg-logo="http://127.0.0.1/logos/news.png" group-title="News",Venue News
http://127.0.0.1/streams/news.m3u8
#EXTINF:-1 group-title="Local",Lobby Camera
http://127.0.0.1/streams/lobby.m3u8
"""


async def seed_iptv(box: wiring.Box) -> None:
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


def demo_config(
    data: Path, host: str, port: int, panel_ports: tuple[str, str], cloud: CloudURLs
) -> config.VenueConfig:
    """The LED sign on one virtual panel and the cloud's front screen on another."""
    return config.parse(
        {
            "venue": "demo",
            "cloud": {
                "base_url": cloud.base_url,
                "ws_url": cloud.ws_url,
                "username": DEMO_USER,
                "password": DEMO_PASSWORD,
                "sync_interval": 60,
            },
            "device": {"sn_number": "EDGEBOX-DEMO-0001"},
            "cache": {"directory": str(data)},
            "lan": {"host": host, "port": port, "admin_token": ADMIN_TOKEN},
            "canvases": [
                {"name": "main", "width": 64, "height": 32, "source": "led"},
                {"name": "front", "width": 64, "height": 32, "source": "cloud:front"},
            ],
            "panels": [
                {"name": "led-sign", "port": panel_ports[0], "baudrate": 2_000_000},
                {
                    "name": "front-screen",
                    "port": panel_ports[1],
                    "baudrate": 2_000_000,
                    "canvas": "front",
                },
            ],
        }
    )


def _print_urls(box: wiring.Box) -> None:
    base = box.lan_urls[0]
    print(
        "\nedgebox demo is running. Open:\n"
        f"  {base}/                        status page (admin token: {ADMIN_TOKEN})\n"
        f"  {base}/docs                    API docs (OpenAPI at /openapi.json)\n"
        f"  {base}/sign                    the sign editor (open to the LAN)\n"
        f"  {base}/api/playlist/items      LED sign playlist (GET, POST)\n"
        f"  {base}/api/settings/brightness LED sign brightness (GET, PUT 0-100)\n"
        f"  {base}/api/preview/status      LED sign preview lock\n"
        f"  {base}/api/events/playlist     LED sign events (SSE; also /brightness, /editor)\n"
        f'  {base}/api/client/check-device IPTV: POST {{"duid": "{DEMO_DUID}"}}\n'
        f"  {base}/metrics                 Prometheus metrics; /healthz, /readyz\n"
        f"The simulated cloud serves {box.config.cloud.base_url} (front screen: 4 slides).\n"
        f"Virtual panels: {', '.join(f'{p.name} on {p.port}' for p in box.config.panels)}.\n"
        "Press Ctrl+C to stop.\n",
        flush=True,
    )


async def run_demo(host: str, port: int, data: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="edgebox-demo-") as tmp:
        async with trio.open_nursery() as nursery:
            panels = [VirtualPanel(64, 32, path=Path(tmp) / f"tty{n}") for n in ("LED", "FRONT")]
            for panel in panels:
                await nursery.start(panel.run)
            cloud = SimCloud(users={DEMO_USER: DEMO_PASSWORD})
            add_demo_playlist(cloud)
            urls: CloudURLs = await nursery.start(serve, cloud, "127.0.0.1", 0)
            ports = (str(panels[0].path), str(panels[1].path))
            cfg = demo_config(data or Path(tmp) / "data", host, port, ports, urls)
            box = await wiring.open_box(cfg)
            if not box.hub.led_items:
                await box.hub.add_led_item(ledsign.parse_item(WELCOME))
            if not box.iptv.devices:
                await seed_iptv(box)
            await wiring.run_until_signal(box, _print_urls)
            nursery.cancel_scope.cancel()
            for panel in panels:
                panel.close()
