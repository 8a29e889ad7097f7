"""Quiet repeats: a failure that recurs every minute for a month is logged once an hour.

The journal's budget is for news; a cloud that stays away is one piece of news, retold hourly
with a count, and its cure (the first success) is news again.
"""

from __future__ import annotations

import logging
import math

import attrs


@attrs.define
class Repeats:
    """Logs a failure when it is new or changed, and then at most once per `every` seconds."""

    log: logging.Logger
    every: float = 3600.0
    _last: str | None = None
    _logged_at: float = -math.inf
    _quiet: int = 0

    def failed(self, level: int, text: str, now: float) -> None:
        if text != self._last or now - self._logged_at >= self.every:
            same = text == self._last and self._quiet
            again = f" (and {self._quiet} more times since last logged)" if same else ""
            self.log.log(level, "%s%s", text, again)
            self._last, self._logged_at, self._quiet = text, now, 0
        else:
            self._quiet += 1
            self.log.debug("%s", text)

    def recovered(self, text: str) -> None:
        if self._last is not None:
            self.log.info("%s", text)
        self._last, self._logged_at, self._quiet = None, -math.inf, 0
