"""Request limits per key (client IP, device) over a sliding window, in bounded memory.

Pure: callers pass `now` (trio.current_time() in the app, a MockClock's time in tests).
"""

from __future__ import annotations

import collections
import math

import attrs


@attrs.frozen
class Verdict:
    allowed: bool
    retry_after: float = 0.0

    @property
    def retry_after_header(self) -> str:
        """Whole seconds, rounded up and at least 1, as `Retry-After` wants."""
        return str(max(1, math.ceil(self.retry_after)))


ALLOWED = Verdict(True)  # the answer to nearly every request, made once


@attrs.define
class _Window:
    start: float
    current: int = 0
    previous: int = 0


@attrs.define
class RateLimiter:
    """At most `limit` requests per `period` seconds per key (sliding-window counter).

    Each key costs three numbers: the counts of the current and previous fixed windows, the
    previous one weighted by how much of it still overlaps the sliding window. Keys idle for
    two periods are forgotten, and beyond `max_keys` the least recently seen key goes, so a
    flood of new addresses or DUIDs cannot grow memory without end.
    """

    limit: int
    period: float
    max_keys: int = 50_000
    _windows: collections.OrderedDict[str, _Window] = attrs.field(
        factory=collections.OrderedDict, init=False
    )
    _next_sweep: float = attrs.field(default=-math.inf, init=False)

    def __len__(self) -> int:
        return len(self._windows)

    def hit(self, key: str, now: float) -> Verdict:
        """Count one request for `key` if the limit allows it; else say how long to wait."""
        self._sweep(now)
        window = self._windows.get(key)
        if window is None:
            window = self._windows[key] = _Window(start=now - now % self.period)
            while len(self._windows) > self.max_keys:
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(key)
            self._roll(window, now)
        elapsed = now - window.start
        weight = 1.0 - elapsed / self.period
        if window.previous * weight + window.current + 1 <= self.limit:
            window.current += 1
            return ALLOWED
        return Verdict(False, self._wait(window, elapsed))

    def _roll(self, window: _Window, now: float) -> None:
        windows_passed = int((now - window.start) // self.period)
        if windows_passed >= 1:
            window.previous = window.current if windows_passed == 1 else 0
            window.current = 0
            window.start += windows_passed * self.period

    def _wait(self, window: _Window, elapsed: float) -> float:
        """Seconds until one more request fits under the limit."""
        room = self.limit - window.current - 1
        if room >= 0:
            needed = self.period * (1.0 - room / window.previous)
            return max(needed - elapsed, 0.0)
        # Not before the next window, whose previous count is this window's.
        into_next = self.period * max(0.0, 1.0 - (self.limit - 1) / window.current)
        return self.period - elapsed + into_next

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.period
        horizon = now - 2 * self.period
        idle = [key for key, w in self._windows.items() if w.start <= horizon]
        for key in idle:
            del self._windows[key]


@attrs.define
class ClientLimits:
    """The IPTV document's two limits: per client address and per device."""

    per_ip: RateLimiter = attrs.Factory(lambda: RateLimiter(100, 60.0))
    per_device: RateLimiter = attrs.Factory(lambda: RateLimiter(1000, 3600.0))
