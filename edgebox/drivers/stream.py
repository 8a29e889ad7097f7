"""One decode loop for the serial frame formats: find the magic, skip garbage, cut whole frames.

Pure: bytes in, frames out. A format says only where its frame ends (`cut`); Adalight and TPM2
each subclass `StreamDecoder`, and the virtual panel reads the stream back with them.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from edgebox.core.errors import PanelError


@attrs.frozen
class BadFrame:
    """Bytes that looked like a frame start but were not a valid frame."""

    reason: str


# What `cut` makes of a buffer that starts with a whole header: None (wait for more bytes), or
# a payload or BadFrame and how many bytes it used (a BadFrame uses 1: look again after it).
Cut = tuple[bytes | BadFrame, int] | None


@attrs.define
class StreamDecoder:
    """Splits a byte stream into frames; garbage before a header is skipped and counted."""

    MAGIC: ClassVar[bytes] = b""
    HEADER_SIZE: ClassVar[int] = 0
    NAME: ClassVar[str] = ""

    buffer: bytearray = attrs.Factory(bytearray)
    skipped: int = 0

    def cut(self) -> Cut:
        raise NotImplementedError

    def feed(self, data: bytes) -> list[bytes | BadFrame]:
        self.buffer += data
        found: list[bytes | BadFrame] = []
        magic = self.MAGIC
        while True:
            start = self.buffer.find(magic)
            if start < 0:
                keep = next(
                    n for n in range(len(magic) - 1, -1, -1) if self.buffer.endswith(magic[:n])
                )
                self.skipped += len(self.buffer) - keep
                del self.buffer[: len(self.buffer) - keep]
                return found
            if start:
                self.skipped += start
                del self.buffer[:start]
            if len(self.buffer) < self.HEADER_SIZE:
                return found
            cut = self.cut()
            if cut is None:
                return found
            frame, used = cut
            found.append(frame)
            del self.buffer[:used]

    @classmethod
    def decode(cls, frame: bytes) -> bytes:
        """The payload of exactly one whole frame; PanelError if it is anything else."""
        decoder = cls()
        found = decoder.feed(frame)
        if len(found) != 1 or decoder.skipped or decoder.buffer:
            raise PanelError(f"not exactly one {cls.NAME} frame")
        if isinstance(found[0], BadFrame):
            raise PanelError(f"bad {cls.NAME} frame: {found[0].reason}")
        return found[0]
