"""A virtual LED panel on a pty pair: the driver writes to the slave path, we read the master.

Every frame is checked (header, checksum or end byte, LED count); the last good frame is kept
and can be saved as a PNG. `unplug()` closes the pty as a pulled USB cable would, and `plug()`
brings a new one back behind the same stable path (a symlink, as udev's /dev/serial/by-id).
"""

from __future__ import annotations

import errno
import os
import tempfile
import tty
from pathlib import Path

import attrs
import trio
from PIL import Image

from edgebox.drivers import adalight, tpm2
from edgebox.drivers.stream import BadFrame

DECODERS = {"adalight": adalight.Decoder, "tpm2": tpm2.Decoder}


@attrs.define
class PanelCounts:
    good: int = 0
    bad: int = 0
    bytes_read: int = 0
    reasons: list[str] = attrs.Factory(list)


class VirtualPanel:
    """A panel of `width` x `height` LEDs that speaks `protocol` on a pty."""

    def __init__(
        self,
        width: int = 64,
        height: int = 32,
        protocol: str = "adalight",
        *,
        path: Path | None = None,
        wiring: str = "progressive",
        color_order: str = "RGB",
    ) -> None:
        if protocol not in DECODERS:
            raise ValueError(f"protocol must be adalight or tpm2 (got {protocol!r})")
        self.width = width
        self.height = height
        self.protocol = protocol
        self.wiring = wiring
        self.color_order = color_order
        self.counts = PanelCounts()
        self.last_frame: bytes | None = None
        self._decoder = DECODERS[protocol]()
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        if path is None:
            self._dir = tempfile.TemporaryDirectory(prefix="edgebox-panel-")
            path = Path(self._dir.name) / "tty"
        self.path = path
        self._master: int | None = None
        self._keeper: int | None = None
        self._plugged = trio.Event()
        self._changed = trio.Event()

    @property
    def plugged(self) -> bool:
        return self._master is not None

    def plug(self) -> str:
        """Open a fresh pty and point `path` at its slave; returns the slave's own name."""
        if self._master is not None:
            return os.ttyname(self._keeper or 0)
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._keeper = master, slave
        self._decoder = DECODERS[self.protocol]()
        tmp = self.path.with_name(self.path.name + ".new")
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(os.ttyname(slave))
        tmp.replace(self.path)
        self._plugged.set()
        return os.ttyname(slave)

    def unplug(self) -> None:
        """Close the pty: the driver's next write fails as on a pulled cable."""
        if self._master is None:
            return
        trio.lowlevel.notify_closing(self._master)
        os.close(self._master)
        os.close(self._keeper)  # type: ignore[arg-type]
        self._master = self._keeper = None
        self._plugged = trio.Event()

    def close(self) -> None:
        self.unplug()
        self.path.unlink(missing_ok=True)
        if self._dir is not None:
            self._dir.cleanup()

    async def run(self, *, task_status: trio.TaskStatus[str] = trio.TASK_STATUS_IGNORED) -> None:
        """Read and check frames until cancelled; reports the path to give the driver."""
        self.plug()
        task_status.started(str(self.path))
        try:
            while True:
                master = self._master
                if master is None:
                    await self._plugged.wait()
                    continue
                try:
                    await trio.lowlevel.wait_readable(master)
                    data = os.read(master, 65536)
                except (trio.ClosedResourceError, BlockingIOError):
                    continue
                except OSError as exc:
                    if exc.errno in (errno.EIO, errno.EBADF):
                        await trio.sleep(0.01)
                        continue
                    raise
                self.feed(data)
        finally:
            self.close()

    def feed(self, data: bytes) -> None:
        """Check and keep the frames in `data` (what the master read)."""
        self.counts.bytes_read += len(data)
        for found in self._decoder.feed(data):
            if isinstance(found, BadFrame):
                self._bad(found.reason)
            elif len(found) != 3 * self.width * self.height:
                self._bad(f"{len(found)} bytes for {self.width}x{self.height} LEDs")
            else:
                self.counts.good += 1
                self.last_frame = found
        self._changed.set()

    def _bad(self, reason: str) -> None:
        self.counts.bad += 1
        if len(self.counts.reasons) < 20:
            self.counts.reasons.append(reason)

    async def wait_for(self, check: object = None, *, frames: int = 1) -> bytes:
        """Wait until `frames` more good frames arrived and the last one passes `check`."""
        target = self.counts.good + frames
        while True:
            done = self.counts.good >= target and self.last_frame is not None
            if done and (check is None or check(self)):  # type: ignore[operator]
                return self.last_frame  # type: ignore[return-value]
            self._changed = trio.Event()
            await self._changed.wait()

    def image(self) -> Image.Image:
        """The last good frame as the panel shows it (black before any frame)."""
        if self.last_frame is None:
            return Image.new("RGB", (self.width, self.height))
        data = self.last_frame
        row = self.width * 3
        if self.wiring == "serpentine":
            rows = [data[r * row : (r + 1) * row] for r in range(self.height)]
            flipped = []
            for r, line in enumerate(rows):
                if r % 2:
                    px = [line[i : i + 3] for i in range(0, row, 3)]
                    line = b"".join(reversed(px))
                flipped.append(line)
            data = b"".join(flipped)
        image = Image.frombytes("RGB", (self.width, self.height), data)
        if self.color_order != "RGB":
            channels = image.split()
            image = Image.merge("RGB", [channels[self.color_order.index(c)] for c in "RGB"])
        return image

    def pixel(self, x: int, y: int) -> tuple[int, int, int]:
        return self.image().getpixel((x, y))  # type: ignore[return-value]

    def save_png(self, path: Path, scale: int = 8) -> Path:
        """Save what the panel shows, each LED an enlarged square; blocking, use a thread."""
        image = self.image()
        image.resize((self.width * scale, self.height * scale), Image.Resampling.NEAREST).save(
            path, "PNG"
        )
        return path


async def run_panel_sim(panel: VirtualPanel, png: Path | None, every: float = 1.0) -> None:
    """`edgebox panel-sim`: print the port to put in a venue file, then show what arrives."""
    async with trio.open_nursery() as nursery:
        path = await nursery.start(panel.run)
        print(
            f"virtual {panel.width}x{panel.height} {panel.protocol} panel on {path}\n"
            f'put  port = "{path}"  in the venue file\'s [[panels]] entry'
            + (f"\nsnapshot PNG: {png}" if png else ""),
            flush=True,
        )
        shown = -1
        while True:
            await trio.sleep(every)
            if panel.counts.good != shown:
                shown = panel.counts.good
                if png is not None:
                    await trio.to_thread.run_sync(panel.save_png, png)
                print(f"frames good={panel.counts.good} bad={panel.counts.bad}", flush=True)
