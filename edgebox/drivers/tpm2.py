"""TPM2 frames: 0xC9 0xDA, payload size (hi, lo), payload, 0x36.

Pure: bytes in, bytes out. `Decoder` reads a byte stream back into frames for the virtual panel.
"""

from __future__ import annotations

from edgebox.core.errors import PanelError
from edgebox.drivers.stream import BadFrame, Cut, StreamDecoder

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


class Decoder(StreamDecoder):
    """Reads a TPM2 byte stream back into frames (the virtual panel, the tests)."""

    MAGIC = MAGIC
    HEADER_SIZE = HEADER_SIZE
    NAME = "tpm2"

    def cut(self) -> Cut:
        size = self.buffer[2] * 256 + self.buffer[3]
        if len(self.buffer) < HEADER_SIZE + size + 1:
            return None
        if self.buffer[HEADER_SIZE + size] != END:
            return BadFrame(f"no end byte 0x36 after a {size}-byte payload"), 1
        return bytes(self.buffer[HEADER_SIZE : HEADER_SIZE + size]), HEADER_SIZE + size + 1


decode = Decoder.decode
