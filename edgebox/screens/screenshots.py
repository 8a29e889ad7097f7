"""Screenshots for the cloud: a JPEG of what a screen shows, on a period and after media changes.

At most one screenshot waits to be sent: a newer one replaces it, so a cloud that is down for a
day costs one upload when it is back, not a day's worth. A failed upload is retried after a
capped backoff; captures in between replace what waits but do not cut the backoff short.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import trio
from PIL import Image

from edgebox.core.backoff import Backoff
from edgebox.core.errors import EdgeboxError

log = logging.getLogger(__name__)

Shot = tuple[Image.Image, int]  # the frame shown and the media id playing
Capture = Callable[[], "Shot | None"]
Upload = Callable[[int | None, bytes], Awaitable[None]]
Offload = Callable[..., Awaitable[Any]]

JPEG_QUALITY = 90


def encode_jpeg(frame: Image.Image, quality: int = JPEG_QUALITY) -> bytes:
    """The frame as a baseline JPEG without chroma subsampling: LED pixels keep their colour."""
    out = io.BytesIO()
    frame.convert("RGB").save(out, "JPEG", quality=quality, subsampling=0)
    return out.getvalue()


@attrs.define
class ScreenshotStats:
    taken: int = 0
    uploaded: int = 0
    failed: int = 0
    last_error: str | None = None


class Screenshots:
    """The uploader of one screen; `run` is its service, `media_changed` its trigger."""

    def __init__(
        self,
        capture: Capture,
        upload: Upload,
        *,
        interval: float,
        on_change: bool,
        backoff: Backoff | None = None,
        offload: Offload = trio.to_thread.run_sync,
    ) -> None:
        self.capture = capture
        self.upload = upload
        self.interval = interval
        self.on_change = on_change
        self.backoff = backoff or Backoff(initial=5.0, cap=300.0)
        self.offload = offload
        self.stats = ScreenshotStats()
        self.pending: tuple[int, bytes] | None = None
        self._wanted = trio.Event()

    def media_changed(self) -> None:
        """The screen shows a new media item; take a screenshot if the venue asked for that."""
        if self.on_change:
            self._wanted.set()

    async def _take(self) -> None:
        shot = self.capture()
        if shot is None:
            return
        frame, media_id = shot
        self.pending = (media_id, await self.offload(encode_jpeg, frame))
        self.stats.taken += 1

    async def _send(self) -> bool:
        assert self.pending is not None
        media_id, jpeg = self.pending
        try:
            await self.upload(media_id, jpeg)
        except EdgeboxError as exc:
            self.stats.failed += 1
            if self.stats.last_error != str(exc):
                log.warning("screenshot upload failed (%s); will retry", exc)
            self.stats.last_error = str(exc)
            return False
        self.pending = None
        self.stats.uploaded += 1
        self.stats.last_error = None
        return True

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        period = self.interval if self.interval > 0 else math.inf
        next_shot = trio.current_time() + period
        retry_at = -math.inf
        task_status.started()
        while True:
            with trio.move_on_at(next_shot if self.pending is None else min(next_shot, retry_at)):
                await self._wanted.wait()
            now = trio.current_time()
            if self._wanted.is_set() or now >= next_shot:
                self._wanted = trio.Event()
                if now >= next_shot:
                    next_shot = now + period
                await self._take()
            if self.pending is None or now < retry_at:
                continue
            if await self._send():
                self.backoff.reset()
                retry_at = -math.inf
            else:
                retry_at = trio.current_time() + self.backoff.next_delay()
