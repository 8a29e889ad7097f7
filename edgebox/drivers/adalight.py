"""Adalight frames: `Ada`, LED count-1 (hi, lo), checksum hi^lo^0x55, then 3 bytes per LED.

Pure: bytes in, bytes out. `Decoder` reads a byte stream back into frames for the virtual panel.
"""

from __future__ import annotations

import attrs

from edgebox.core.errors import PanelError

MAGIC = b"Ada"
HEADER_SIZE = 6
MAX_LEDS = 0x10000


def frame_size(led_count: int) -> int:
    return HEADER_SIZE + 3 * led_count


def encode(pixels: bytes | bytearray | memoryview) -> bytes:
    """One frame for `pixels`, already in the order and colour order the LEDs take them."""
    count, rest = divmod(len(pixels), 3)
    if rest or not 1 <= count <= MAX_LEDS:
        raise PanelError(f"adalight carries 1 to {MAX_LEDS} RGB triples (got {len(pixels)} bytes)")
    hi, lo = divmod(count - 1, 256)
    return b"".join((MAGIC, bytes((hi, lo, hi ^ lo ^ 0x55)), pixels))


@attrs.frozen
class BadFrame:
    """Bytes that looked like a frame start but were not a valid frame."""

    reason: str


@attrs.define
class Decoder:
    """Splits a byte stream into frames; garbage before a header is skipped and counted."""

    buffer: bytearray = attrs.Factory(bytearray)
    skipped: int = 0

    def feed(self, data: bytes) -> list[bytes | BadFrame]:
        self.buffer += data
        found: list[bytes | BadFrame] = []
        while True:
            start = self.buffer.find(MAGIC)
            if start < 0:
                keep = next(n for n in (2, 1, 0) if self.buffer.endswith(MAGIC[:n]))
                self.skipped += len(self.buffer) - keep
                del self.buffer[: len(self.buffer) - keep]
                return found
            if start:
                self.skipped += start
                del self.buffer[:start]
            if len(self.buffer) < HEADER_SIZE:
                return found
            hi, lo, check = self.buffer[3:6]
            if hi ^ lo ^ 0x55 != check:
                found.append(BadFrame(f"checksum {check:#04x} != {hi ^ lo ^ 0x55:#04x}"))
                del self.buffer[:1]
                continue
            size = frame_size(hi * 256 + lo + 1)
            if len(self.buffer) < size:
                return found
            found.append(bytes(self.buffer[HEADER_SIZE:size]))
            del self.buffer[:size]


def decode(frame: bytes) -> bytes:
    """The pixels of exactly one whole frame; PanelError if it is anything else."""
    decoder = Decoder()
    found = decoder.feed(frame)
    if len(found) != 1 or decoder.skipped or decoder.buffer:
        raise PanelError("not exactly one adalight frame")
    if isinstance(found[0], BadFrame):
        raise PanelError(f"bad adalight frame: {found[0].reason}")
    return found[0]
