"""`edgebox demo`: the whole box on this machine, with nothing outside it needed."""

from __future__ import annotations

import tempfile
from pathlib import Path

from edgebox import config, gateway


def demo_config(data: Path, host: str, port: int) -> config.VenueConfig:
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
            "lan": {"host": host, "port": port, "admin_token": "demo-admin-token"},
        }
    )


def _print_urls(box: gateway.Box) -> None:
    base = box.lan_urls[0]
    print(
        "\nedgebox demo is running. Open:\n"
        f"  {base}/healthz                 liveness\n"
        f"  {base}/api/playlist/items      LED sign playlist (GET, POST)\n"
        f"  {base}/api/settings/brightness LED sign brightness (GET, PUT 0-100)\n"
        f"  {base}/api/preview/status      LED sign preview lock\n"
        f"  {base}/api/events/playlist     LED sign events (SSE; also /brightness, /editor)\n"
        "Press Ctrl+C to stop.\n",
        flush=True,
    )


async def run_demo(host: str, port: int, data: Path | None) -> None:
    with tempfile.TemporaryDirectory(prefix="edgebox-demo-") as tmp:
        cfg = demo_config(data or Path(tmp), host, port)
        box = await gateway.open_box(cfg)
        await gateway.run_until_signal(box, _print_urls)
