"""One summary of the box's health, shared by the status page, `edgebox status` and /readyz."""

from __future__ import annotations

import collections
import logging
import time
from typing import TYPE_CHECKING, Any

import attrs

from edgebox import __version__
from edgebox.hub import converter

if TYPE_CHECKING:
    from edgebox.runtime.box import Box


@attrs.frozen
class LoggedProblem:
    at: float
    level: str
    logger: str
    message: str


class RecentProblems(logging.Handler):
    """Keeps the last warnings and errors in memory for the operator's page."""

    def __init__(self, keep: int = 50) -> None:
        super().__init__(level=logging.WARNING)
        self.items: collections.deque[LoggedProblem] = collections.deque(maxlen=keep)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not break logging
            message = str(record.msg)
        self.items.append(LoggedProblem(record.created, record.levelname, record.name, message))


recent_problems = RecentProblems()
logging.getLogger("edgebox").addHandler(recent_problems)


def readiness(box: Box) -> list[str]:
    """What keeps the box from serving properly; empty when it is ready."""
    missing = []
    lan = box.supervisor.states.get("lan")
    if lan is None or lan.status != "running":
        missing.append("lan: not serving")
    for name, check in box.ready_checks.items():
        problem = check()
        if problem:
            missing.append(f"{name}: {problem}")
    return missing


def snapshot(box: Box) -> dict[str, Any]:
    hub = box.hub
    summary: dict[str, Any] = {
        "venue": box.config.venue,
        "sn_number": box.config.device.sn_number,
        "version": __version__,
        "uptime_s": round(time.monotonic() - box.started_at, 1),
        "ready": not readiness(box),
        "not_ready": readiness(box),
        "services": {
            name: {"status": s.status, "restarts": s.restarts, "last_error": s.last_error}
            for name, s in box.supervisor.states.items()
        },
        "brightness": hub.brightness,
        "volume": hub.volume,
        "overlay": converter.unstructure(hub.overlay) if hub.overlay else None,
        "playback": {
            screen: converter.unstructure(p)
            for screen, p in hub.playback.items()
            if p.playlist_id is not None
        },
        "recent_problems": [attrs.asdict(p) for p in list(recent_problems.items)[-20:]],
    }
    for name, source in box.status_sources.items():
        summary[name] = source()
    return summary
