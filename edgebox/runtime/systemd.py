"""The box as a systemd service: sd_notify readiness and watchdog, and levelled journal logging.

The notify protocol is one datagram of `KEY=value` lines to the unix socket named by
$NOTIFY_SOCKET; it is small enough that no libsystemd binding is needed.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

import attrs
import trio

if TYPE_CHECKING:
    from edgebox.core.service import Service
    from edgebox.runtime.supervisor import Supervisor

log = logging.getLogger(__name__)


def _socket_address(name: str) -> str | bytes:
    """`@name` is Linux's abstract namespace, spelled with a leading NUL byte on the wire."""
    if name.startswith("@"):
        return b"\0" + name[1:].encode()
    return name


@attrs.define
class Notifier:
    """Sends sd_notify messages to the service manager; a lost message is never an error.

    The socket is non-blocking: if systemd's queue is full the message is dropped rather than
    stalling the trio thread, which is what sd_notify(3) callers accept anyway.
    """

    address: str
    watchdog_usec: int | None = None
    _sock: socket.socket | None = attrs.field(default=None, init=False, repr=False)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str], pid: int | None = None) -> Notifier | None:
        """The notifier systemd asked for, or None when not started as a notify service.

        $WATCHDOG_PID, when set, names the process the watchdog is meant for; a child that
        inherited the environment must not ping on its parent's behalf.
        """
        address = environ.get("NOTIFY_SOCKET", "")
        if not address:
            return None
        watchdog: int | None = None
        usec = environ.get("WATCHDOG_USEC", "")
        owner = environ.get("WATCHDOG_PID", "")
        mine = not owner or owner == str(os.getpid() if pid is None else pid)
        if usec.isdigit() and int(usec) > 0 and mine:
            watchdog = int(usec)
        return cls(address, watchdog)

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between pings: half the timeout, as sd_watchdog_enabled(3) recommends."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2_000_000

    def notify(self, **fields: str | int) -> bool:
        """Send `KEY=value` lines (keys upper-cased); False when the message could not be sent."""
        message = "\n".join(f"{key.upper()}={value}" for key, value in fields.items())
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                self._sock.setblocking(False)
            self._sock.sendto(message.encode(), _socket_address(self.address))
        except OSError as exc:
            log.debug("sd_notify %r to %s failed: %s", message, self.address, exc)
            return False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify(ready=1, status=status) if status else self.notify(ready=1)

    def stopping(self) -> bool:
        return self.notify(stopping=1, status="shutting down")

    def ping(self) -> bool:
        return self.notify(watchdog=1)

    def status(self, text: str) -> bool:
        return self.notify(status=text)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def unhealthy_services(supervisor: Supervisor) -> list[str]:
    return sorted(
        name
        for name, state in supervisor.states.items()
        if state.status not in ("running", "stopped")
    )


def watchdog(
    supervisor: Supervisor, notifier: Notifier, healthy: Callable[[], bool] | None = None
) -> Service:
    """A service that pings systemd's watchdog while the box is healthy.

    The pings come from a trio task, so a wedged event loop stops them and systemd restarts the
    process; a supervisor with a service in backoff stops them too. The status line shows which
    services are the reason, so `systemctl status edgebox` explains the restart.
    """
    is_healthy = healthy or supervisor.healthy
    interval = notifier.watchdog_interval
    if interval is None:
        raise ValueError("the notifier has no watchdog timeout; check it before adding the service")

    async def run(*, task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        was_healthy = True
        while True:
            if is_healthy():
                notifier.ping()
                if not was_healthy:
                    notifier.status("serving")
                was_healthy = True
            else:
                down = ", ".join(unhealthy_services(supervisor)) or "?"
                if was_healthy:
                    log.warning("not pinging the watchdog: services not running: %s", down)
                notifier.status(f"degraded: {down}")
                was_healthy = False
            await trio.sleep(interval)

    return run


# Python logging levels -> syslog priorities, which journald reads from a `<N>` line prefix.
SYSLOG_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def syslog_priority(levelno: int) -> int:
    for level in sorted(SYSLOG_PRIORITY, reverse=True):
        if levelno >= level:
            return SYSLOG_PRIORITY[level]
    return 7


class JournalFormatter(logging.Formatter):
    """`<N>name: message` on every line: journald keeps the level and adds its own timestamps.

    Every line of a traceback carries the prefix, since journald stores each line as its own
    entry and would otherwise file them at the unit's default level.
    """

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{syslog_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def journal_stream(environ: Mapping[str, str], stream: TextIO) -> bool:
    """Whether `stream` is the journal systemd connected: $JOURNAL_STREAM is its `dev:inode`."""
    expected = environ.get("JOURNAL_STREAM", "")
    if not expected:
        return False
    try:
        st = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{st.st_dev}:{st.st_ino}"
