"""Adalight frames: `Ada`, LED count-1 (hi, lo), checksum hi^lo^0x55, then 3 bytes per LED.

Pure: bytes in, bytes out. `Decoder` reads a byte stream back into frames for the virtual panel.
"""

from __future__ import annotations

from edgebox.core.errors import PanelError
from edgebox.drivers.stream import BadFrame, Cut, StreamDecoder

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


class Decoder(StreamDecoder):
    """Reads an Adalight byte stream back into frames (the virtual panel, the tests)."""

    MAGIC = MAGIC
    HEADER_SIZE = HEADER_SIZE
    NAME = "adalight"

    def cut(self) -> Cut:
        hi, lo, check = self.buffer[3:6]
        if hi ^ lo ^ 0x55 != check:
            return BadFrame(f"checksum {check:#04x} != {hi ^ lo ^ 0x55:#04x}"), 1
        size = frame_size(hi * 256 + lo + 1)
        if len(self.buffer) < size:
            return None
        return bytes(self.buffer[HEADER_SIZE:size]), size


decode = Decoder.decode
