"""The casync store RAUC reads a chunked bundle's chunks from, served by the update agent on
loopback: each chunk comes from the cache on the data partition, or is fetched from the
channel's store and kept there first. casync asks only for the chunks the running slot lacks,
and checks every chunk against the digest in the signed index, so nothing here needs trusting;
what the cache buys is that a power cut in the middle loses no chunk already fetched.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urljoin

import attrs
import httpx
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve
from quart import Response
from quart_trio import QuartTrio

from edgebox.core.errors import StorageFull, UpdateError
from edgebox.update import channel

log = logging.getLogger("edgebox.update")

MAX_CHUNK = 4 << 20  # casync's largest chunk is 256 KiB before compression


@attrs.define
class ChunkCache:
    """Chunks by their store name (`abcd/<digest>.cacnk`), kept under `directory`."""

    directory: Path
    store_url: str
    http: httpx.AsyncClient
    max_bytes: int  # the cache's bound, as a bundle's
    min_free_bytes: int
    fetched: int = 0  # chunks fetched from the channel
    fetched_bytes: int = 0
    kept: int = 0  # chunks answered from the cache
    error: str | None = None
    _size: int | None = None  # bytes in the cache, counted once and then kept up to date

    def _room(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._size is None:
            self._size = sum(p.stat().st_size for p in self.directory.rglob("*.cacnk"))
        usage = os.statvfs(self.directory)
        if usage.f_bavail * usage.f_frsize < self.min_free_bytes + MAX_CHUNK:
            raise StorageFull(f"the data partition has less than {self.min_free_bytes} bytes free")
        if self._size + MAX_CHUNK > self.max_bytes:
            raise StorageFull(f"the chunks reach update.max_bundle_bytes ({self.max_bytes})")

    def _keep(self, name: str, data: bytes) -> None:
        path = self.directory / name
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        with open(partial, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, path)
        self._size = (self._size or 0) + len(data)

    async def get(self, name: str) -> bytes:
        """The chunk's compressed bytes, from the cache or from the channel."""
        if not channel.CHUNK_NAME.fullmatch(name):
            raise UpdateError(f"{name!r:.80} is not a chunk's name")
        path = self.directory / name
        try:
            data = await trio.Path(path).read_bytes()
        except FileNotFoundError:
            pass
        else:
            self.kept += 1
            return data
        await trio.to_thread.run_sync(self._room)
        body = bytearray()
        async with self.http.stream("GET", urljoin(self.store_url, name)) as response:
            if response.status_code != 200:
                raise UpdateError(f"the channel's store answered {response.status_code} for {name}")
            async for piece in response.aiter_bytes():
                body += piece
                if len(body) > MAX_CHUNK:
                    raise UpdateError(f"{name} is larger than {MAX_CHUNK} bytes")
        data = bytes(body)
        await trio.to_thread.run_sync(self._keep, name, data)
        self.fetched += 1
        self.fetched_bytes += len(data)
        return data


def create_app(cache: ChunkCache) -> QuartTrio:
    app = QuartTrio("edgebox-chunks")

    @app.route("/<path:name>", methods=["GET"])
    async def chunk(name: str) -> Response:
        try:
            data = await cache.get(name)
        except (UpdateError, StorageFull, httpx.HTTPError, OSError) as exc:
            cache.error = f"{type(exc).__name__}: {exc}"
            log.warning("update: chunk %s: %s", name, cache.error)
            status = 507 if isinstance(exc, StorageFull) else 502
            return Response(cache.error.encode() + b"\n", status=status)
        return Response(data, headers={"Content-Type": "application/octet-stream"})

    return app


async def serve(
    cache: ChunkCache,
    port: int = channel.LOCAL_STORE_PORT,
    *,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the cache on 127.0.0.1 until cancelled; reports the bound URLs."""
    cfg = HypercornConfig()
    cfg.bind = [f"127.0.0.1:{port}"]
    cfg.accesslog = None
    cfg.errorlog = logging.getLogger("edgebox.update.chunks")
    cfg.graceful_timeout = 0.5
    await hypercorn_serve(create_app(cache), cfg, task_status=task_status)  # type: ignore[arg-type]
