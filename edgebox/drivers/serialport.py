"""A serial port that carries whole frames at the pace its baud rate allows, under trio.

The port is opened in a worker thread; writes go through the non-blocking file descriptor and
`trio.lowlevel.wait_writable`, or through a worker thread for ports without one (`loop://`,
which `edgebox.drivers.loopback` serves, `rfc2217://`); a thread stuck in a network port is
left behind on cancellation, so shutdown never waits for it. Only the newest frame waits to be
sent: an older one still waiting is dropped and counted. A port that fails is closed and
reopened every `reopen_interval` seconds; the failure is logged as a `PanelError` and never
leaves `run`, so one unplugged panel cannot stop the others.
"""

from __future__ import annotations

import collections
import functools
import logging
import os
from typing import Any

import attrs
import serial
import trio

from edgebox.core.errors import PanelError
from edgebox.drivers.loopback import LoopbackPort, is_loop_url

log = logging.getLogger(__name__)

BITS_PER_BYTE = 10  # start bit, 8 data bits, stop bit


@attrs.define
class LinkStats:
    """What a status page shows of one panel's link."""

    connected: bool = False
    frames_sent: int = 0
    frames_dropped: int = 0
    bytes_sent: int = 0
    fps: float = 0.0
    opens: int = 0
    last_error: str | None = None


def open_serial(url: str, baudrate: int) -> Any:
    """Open a device path or pyserial URL; blocking, so call it in a worker thread."""
    if is_loop_url(url):
        return LoopbackPort(url)
    return serial.serial_for_url(url, baudrate=baudrate, timeout=0, write_timeout=2.0)


class SerialLink:
    """Frames in through `offer`, bytes out on the port; `run` is the service that writes them."""

    def __init__(
        self,
        url: str,
        baudrate: int,
        *,
        name: str | None = None,
        reopen_interval: float = 2.0,
        open_port: Any = open_serial,
    ) -> None:
        self.url = url
        self.baudrate = baudrate
        self.name = name or url
        self.reopen_interval = reopen_interval
        self.stats = LinkStats()
        self._open_port = open_port
        self._pending: bytes | None = None
        self._arrived = trio.Event()
        self._next_free = 0.0
        self._sent_at: collections.deque[float] = collections.deque(maxlen=32)

    def wire_time(self, size: int) -> float:
        """Seconds `size` bytes take on the wire at this baud rate."""
        return size * BITS_PER_BYTE / self.baudrate

    def offer(self, frame: bytes) -> None:
        """Make `frame` the next one to send; a frame still waiting is dropped."""
        if self._pending is not None:
            self.stats.frames_dropped += 1
        self._pending = frame
        self._arrived.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Keep the port open and fed until cancelled."""
        task_status.started()
        while True:
            try:
                port = await trio.to_thread.run_sync(self._open, abandon_on_cancel=True)
            except PanelError as exc:
                self._failed(exc)
                await trio.sleep(self.reopen_interval)
                continue
            try:
                self.stats.connected = True
                self.stats.opens += 1
                log.info("panel %s: %s open", self.name, self.url)
                await self._feed(port)
            except PanelError as exc:
                self._failed(exc)
            finally:
                self.stats.connected = False
                self.stats.fps = 0.0
                self._sent_at.clear()
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(_close_quietly, port)
            await trio.sleep(self.reopen_interval)

    def _open(self) -> Any:
        try:
            return self._open_port(self.url, self.baudrate)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise PanelError(f"cannot open {self.url}: {exc}") from exc

    def _failed(self, exc: PanelError) -> None:
        if str(exc) != self.stats.last_error:
            log.warning("panel %s: %s; retrying every %.0f s", self.name, exc, self.reopen_interval)
        self.stats.last_error = str(exc)

    async def _feed(self, port: Any) -> None:
        try:
            fd = port.fileno()
        except (AttributeError, NotImplementedError, OSError, serial.SerialException):
            fd = None
        if fd is not None:
            os.set_blocking(fd, False)
            write = functools.partial(_write_fd, fd)
        else:
            write = functools.partial(_write_in_thread, port)
        self._next_free = trio.current_time()
        while True:
            await trio.sleep_until(self._next_free)
            while self._pending is None:
                await self._arrived.wait()
                self._arrived = trio.Event()
            frame, self._pending = self._pending, None
            began = trio.current_time()
            wire = self.wire_time(len(frame))
            with trio.move_on_after(max(2.0, 4 * wire)) as stalled:
                await write(frame)
            if stalled.cancelled_caught:
                raise PanelError(f"writing to {self.url} stalled")
            self._next_free = max(began, self._next_free) + wire
            self._sent(len(frame))

    def _sent(self, size: int) -> None:
        self.stats.frames_sent += 1
        self.stats.bytes_sent += size
        self._sent_at.append(trio.current_time())
        if len(self._sent_at) > 1:
            span = self._sent_at[-1] - self._sent_at[0]
            self.stats.fps = (len(self._sent_at) - 1) / span if span > 0 else 0.0


async def _write_fd(fd: int, frame: bytes) -> None:
    view = memoryview(frame)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            await trio.lowlevel.wait_writable(fd)
            continue
        except OSError as exc:
            raise PanelError(f"write failed: {exc.strerror or exc}") from exc
        view = view[written:]


async def _write_in_thread(port: Any, frame: bytes) -> None:
    def write() -> None:
        try:
            port.write(frame)
        except (serial.SerialException, OSError) as exc:
            raise PanelError(f"write failed: {exc}") from exc

    await trio.to_thread.run_sync(write, abandon_on_cancel=True)


def _close_quietly(port: Any) -> None:
    try:
        port.close()
    except (serial.SerialException, OSError) as exc:
        log.debug("closing a failed port: %s", exc)
