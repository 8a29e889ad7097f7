"""TPM2 frames: 0xC9 0xDA, payload size (hi, lo), payload, 0x36.

Pure: bytes in, bytes out. `Decoder` reads a byte stream back into frames for the virtual panel.
"""

from __future__ import annotations

import attrs

from edgebox.core.errors import PanelError
from edgebox.drivers.adalight import BadFrame

START = 0xC9
DATA = 0xDA
END = 0x36
MAGIC = bytes((START, DATA))
HEADER_SIZE = 4
MAX_PAYLOAD = 0xFFFF


def frame_size(led_count: int) -> int:
    return HEADER_SIZE + 3 * led_count + 1


def encode(pixels: bytes | bytearray | memoryview) -> bytes:
    """One data frame for `pixels`, already in the order and colour order the LEDs take them."""
    size = len(pixels)
    if not 1 <= size <= MAX_PAYLOAD:
        raise PanelError(f"tpm2 carries 1 to {MAX_PAYLOAD} bytes per frame (got {size})")
    return b"".join((bytes((START, DATA, size >> 8, size & 0xFF)), pixels, bytes((END,))))


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
                keep = 1 if self.buffer[-1:] == bytes((START,)) else 0
                self.skipped += len(self.buffer) - keep
                del self.buffer[: len(self.buffer) - keep]
                return found
            if start:
                self.skipped += start
                del self.buffer[:start]
            if len(self.buffer) < HEADER_SIZE:
                return found
            size = self.buffer[2] * 256 + self.buffer[3]
            if len(self.buffer) < HEADER_SIZE + size + 1:
                return found
            if self.buffer[HEADER_SIZE + size] != END:
                found.append(BadFrame(f"no end byte 0x36 after a {size}-byte payload"))
                del self.buffer[:1]
                continue
            found.append(bytes(self.buffer[HEADER_SIZE : HEADER_SIZE + size]))
            del self.buffer[: HEADER_SIZE + size + 1]


def decode(frame: bytes) -> bytes:
    """The payload of exactly one whole frame; PanelError if it is anything else."""
    decoder = Decoder()
    found = decoder.feed(frame)
    if len(found) != 1 or decoder.skipped or decoder.buffer:
        raise PanelError("not exactly one tpm2 frame")
    if isinstance(found[0], BadFrame):
        raise PanelError(f"bad tpm2 frame: {found[0].reason}")
    return found[0]
