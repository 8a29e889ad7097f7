"""A simulated update channel: a directory (and its chunk store's subdirectories) served as
plain files over HTTP on loopback, as a web server or CDN would (GET, HEAD, `Range: bytes=N-`),
with a request log and an optional drip rate so that a test can cut a download in the middle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import attrs
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve
from quart import Response, request
from quart_trio import QuartTrio

from edgebox.sim.cloud import byte_range

CHUNK = 256 * 1024


@attrs.define
class SimChannel:
    directory: Path
    slow_bytes_per_s: int | None = None
    slow_suffix: str = ""  # the drip slows only the files whose names end so
    bytes_sent: int = 0
    requests: list[tuple[str, str | None]] = attrs.Factory(list)  # (path, Range header)
    url: str = ""

    def requests_for(self, suffix: str) -> list[tuple[str, str | None]]:
        return [r for r in self.requests if r[0].endswith(suffix)]


async def _body(channel: SimChannel, path: Path, start: int, limit: int) -> AsyncIterator[bytes]:
    f = await trio.open_file(path, "rb")
    try:
        await f.seek(start)
        pos = start
        while pos < limit:
            want = min(CHUNK, limit - pos)
            if channel.slow_bytes_per_s and path.name.endswith(channel.slow_suffix):
                want = min(want, max(1, channel.slow_bytes_per_s // 10))
                await trio.sleep(want / channel.slow_bytes_per_s)
            chunk = await f.read(want)
            if not chunk:
                return
            pos += len(chunk)
            channel.bytes_sent += len(chunk)
            yield chunk
    finally:
        await f.aclose()


def create_app(channel: SimChannel) -> QuartTrio:
    app = QuartTrio("edgebox-sim-channel")

    @app.route("/<path:name>", methods=["GET", "HEAD"])
    async def file(name: str) -> Response:
        channel.requests.append(("/" + name, request.headers.get("Range")))
        path = channel.directory / name
        if any(not part or part.startswith(".") for part in name.split("/")) or not path.is_file():
            return Response(b"not found\n", status=404)
        size = path.stat().st_size
        headers = {"Accept-Ranges": "bytes"}
        answer = byte_range(request.headers.get("Range"), size, headers)
        if answer is None:
            return Response(b"", status=416, headers=headers)
        start, end, status = answer
        if request.method == "HEAD":
            return Response(b"", status=status, headers=headers)
        response = Response(_body(channel, path, start, end + 1), status=status, headers=headers)
        response.headers["Content-Type"] = "application/octet-stream"
        response.timeout = None  # type: ignore[attr-defined]
        return response

    return app


async def serve(
    channel: SimChannel,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the channel's directory until cancelled; reports its URL (with a trailing /)."""
    cfg = HypercornConfig()
    cfg.bind = [f"{host}:{port}"]
    cfg.accesslog = None
    cfg.errorlog = logging.getLogger("edgebox.sim.channel.server")
    cfg.graceful_timeout = 0.5

    async def run_server(*, task_status: trio.TaskStatus[list[str]]) -> None:
        await hypercorn_serve(create_app(channel), cfg, task_status=task_status)  # type: ignore[arg-type]

    async with trio.open_nursery() as nursery:
        bound: list[str] = await nursery.start(run_server)
        channel.url = bound[0].rstrip("/") + "/"
        task_status.started(channel.url)
