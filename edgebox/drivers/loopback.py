"""`loop://`: a serial port whose bytes come back, for a venue or a test with no panel on it.

pyserial's own loop keeps 4 KiB in a queue of single bytes and blocks the writer once nobody
reads them (2 s, then `queue.Full`); one 64x32 frame is 6 KiB, so a panel on it failed every
2 s and held shutdown for as long. This one keeps the newest `capacity` bytes written, drops
the oldest beyond that, and never blocks.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

SCHEME = "loop"
CAPACITY = 64 * 1024


def is_loop_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() == SCHEME


class LoopbackPort:
    """The part of pyserial's port interface a panel link uses; no file descriptor."""

    def __init__(self, url: str, capacity: int = CAPACITY) -> None:
        parts = urlsplit(url)
        if parts.netloc or parts.path or parts.query or parts.fragment:
            raise ValueError(f"{url!r}: a loop port takes nothing after loop://")
        self.port = url
        self.capacity = capacity
        self.is_open = True
        self._echo = bytearray()
        self._lock = threading.Lock()

    def write(self, data: bytes) -> int:
        if not self.is_open:
            raise OSError("the loop port is closed")
        with self._lock:
            self._echo += data
            del self._echo[: max(0, len(self._echo) - self.capacity)]
        return len(data)

    def read(self, size: int = 1) -> bytes:
        """Up to `size` of the bytes written, oldest first; never waits."""
        with self._lock:
            out = bytes(self._echo[:size])
            del self._echo[:size]
        return out

    @property
    def in_waiting(self) -> int:
        return len(self._echo)

    def close(self) -> None:
        self.is_open = False
