"""Media downloads from the cloud: HTTP GET into the cache's `Part`, resumed with Range.

The disk side (the part file, MD5, verification, eviction) is `edgebox.cache.media`; this side
decides what to ask the server and what its answers mean. A server that ignores or refuses the
range gets one more request for the whole file.
"""

from __future__ import annotations

import re

import httpx

from edgebox.cache.media import Fetch, Overflow, Part
from edgebox.core.errors import ChecksumMismatch, UpstreamError

_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


def http_fetch(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> Fetch:
    """A Fetch that GETs `url` with `headers` as given (the caller decides whether a bearer
    goes to `url`)."""

    async def fetch(part: Part) -> int:
        return await _fetch(http, url, headers, part)

    return fetch


async def _fetch(http: httpx.AsyncClient, url: str, headers: dict[str, str], part: Part) -> int:
    """GET the missing bytes into `part`; returns the bytes transferred."""
    item, name = part.item, part.name
    if 0 < part.size == item.file_size:
        if part.hexdigest() == item.checksum:
            return 0
        await part.restart()
    transferred = 0
    for _attempt in range(2):
        start = part.size
        request_headers = {"Accept-Encoding": "identity", **headers}
        if start:
            request_headers["Range"] = f"bytes={start}-"
        try:
            async with http.stream("GET", url, headers=request_headers) as response:
                status = response.status_code
                if start and (status == 416 or (status == 206 and _range_start(response) != start)):
                    await part.restart()
                    continue
                if status >= 400:
                    raise part.failed(
                        "http", UpstreamError(f"{name}: the cloud answered HTTP {status}")
                    )
                if status not in (200, 206):
                    raise part.failed(
                        "http",
                        UpstreamError(f"{name}: unexpected HTTP {status} for a media file"),
                    )
                if status == 200 and start:
                    await part.restart()
                announced = _announced_size(response)
                if announced is not None and announced != item.file_size:
                    await part.discard()
                    raise part.failed(
                        "size",
                        ChecksumMismatch(
                            f"{name}: the cloud serves {announced} bytes, the playlist "
                            f"announced {item.file_size}"
                        ),
                    )
                got, failure = await part.receive(response.aiter_bytes(), (httpx.HTTPError,))
                transferred += got
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise part.failed("network", UpstreamError(f"{name}: {_describe(exc)}")) from exc
        if isinstance(failure, Overflow):
            await part.discard()
            raise part.failed(
                "size",
                ChecksumMismatch(
                    f"{name}: the cloud sent more than the announced {item.file_size} bytes"
                ),
            )
        if isinstance(failure, OSError):
            raise part.disk_failed(failure) from failure
        if failure is not None:
            raise part.failed(
                "network",
                UpstreamError(f"{name}: {_describe(failure)}; kept {part.size} bytes"),
            ) from failure
        return transferred
    raise part.failed(
        "http", UpstreamError(f"{name}: the cloud refused every range, even from byte 0")
    )


def _range_start(response: httpx.Response) -> int | None:
    match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
    return int(match.group(1)) if match else None


def _announced_size(response: httpx.Response) -> int | None:
    """The whole file's size as the response states it, when it states it plainly."""
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        return None
    if response.status_code == 206:
        match = _CONTENT_RANGE.fullmatch(response.headers.get("content-range", "").strip())
        if match and match.group(3) != "*":
            return int(match.group(3))
        return None
    length = response.headers.get("content-length", "")
    return int(length) if length.isdigit() else None


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
