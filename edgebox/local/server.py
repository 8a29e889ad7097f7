"""Serves the LAN app with hypercorn on the configured address."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve

from edgebox.local.app import create_app

if TYPE_CHECKING:
    from edgebox.gateway import Box, Service


def serve_lan(box: Box) -> Service:
    """A service that serves the LAN app and reports the bound URLs (port 0 picks one)."""

    async def run(*, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED) -> None:
        app = create_app(box)
        cfg = HypercornConfig()
        host = box.config.lan.host
        port = box.config.lan.port
        cfg.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
        cfg.accesslog = None
        cfg.errorlog = logging.getLogger("edgebox.lan.server")
        cfg.graceful_timeout = 1.0
        cfg.keep_alive_timeout = 30.0
        cfg.backlog = 1024  # a venue's TVs reconnect all at once after a power cut
        await serve(app, cfg, task_status=task_status)  # type: ignore[arg-type]

    return run


def bound_port(urls: list[str]) -> int:
    return int(urls[0].rsplit(":", 1)[1])


def url_for(urls: list[str], path: str = "") -> str:
    return urls[0].rstrip("/") + path
