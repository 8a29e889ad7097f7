"""The panel model: which part of a canvas one panel shows, and the bytes its LEDs take.

Pure: a canvas (a Pillow RGB image) and a brightness in, one encoded frame out. The LED order is
the panel's own: LED 0 is the top-left pixel of the panel as it hangs unrotated, then along the
first row; serpentine wiring runs every other row backwards.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import attrs
from PIL import Image, ImageStat

from edgebox.core.config import PanelConfig
from edgebox.drivers import adalight, tpm2

ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "adalight": adalight.encode,
    "tpm2": tpm2.encode,
}

# The canvas region is what a viewer sees; the panel's own picture is that region turned back.
_UNROTATE = {
    90: Image.Transpose.ROTATE_90,
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_270,
}


@functools.lru_cache(maxsize=512)
def level_table(gamma: float, brightness: int) -> tuple[int, ...]:
    """Input value -> LED value for all three channels (a Pillow `point` table).

    Brightness is a perceived level: it scales the value before gamma, so 50 looks half as bright
    as 100 instead of dimming the mid-tones away.
    """
    scale = max(0, min(100, brightness)) / 100
    one = [round(255 * ((v / 255) * scale) ** gamma) for v in range(256)]
    return tuple(one * 3)


@functools.lru_cache(maxsize=256)
def _scale_table(factor_per_mille: int) -> tuple[int, ...]:
    return tuple([v * factor_per_mille // 1000 for v in range(256)] * 3)


@attrs.frozen
class Panel:
    name: str
    width: int
    height: int
    x: int = 0
    y: int = 0
    protocol: str = "adalight"
    wiring: str = "progressive"
    rotation: int = 0
    color_order: str = "RGB"
    gamma: float = 2.2
    current_limit: float = 1.0

    @classmethod
    def from_config(cls, cfg: PanelConfig) -> Panel:
        return cls(
            name=cfg.name,
            width=cfg.width,
            height=cfg.height,
            x=cfg.x,
            y=cfg.y,
            protocol=cfg.protocol,
            wiring=cfg.wiring,
            rotation=cfg.rotation,
            color_order=cfg.color_order,
            gamma=cfg.gamma,
            current_limit=cfg.current_limit,
        )

    @property
    def led_count(self) -> int:
        return self.width * self.height

    @property
    def footprint(self) -> tuple[int, int, int, int]:
        """The (left, top, right, bottom) box this panel covers on its canvas."""
        turned = self.rotation in (90, 270)
        w, h = (self.height, self.width) if turned else (self.width, self.height)
        return (self.x, self.y, self.x + w, self.y + h)

    def picture(self, canvas: Image.Image, brightness: int) -> Image.Image:
        """The panel's own image, upright as wired, with gamma, brightness and current limit."""
        image = canvas.crop(self.footprint)
        if self.rotation:
            image = image.transpose(_UNROTATE[self.rotation])
        if image.mode != "RGB":
            image = image.convert("RGB")
        image = image.point(list(level_table(self.gamma, brightness)))
        if self.current_limit < 1.0:
            cap = self.current_limit * 255 * 3 * self.led_count
            total = sum(ImageStat.Stat(image).sum)
            if total > cap:
                image = image.point(list(_scale_table(int(1000 * cap / total))))
        return image

    def pixels(self, canvas: Image.Image, brightness: int) -> bytes:
        """The LED bytes in wiring order and colour order."""
        image = self.picture(canvas, brightness)
        if self.color_order != "RGB":
            channels = image.split()
            image = Image.merge("RGB", [channels["RGB".index(c)] for c in self.color_order])
        data = image.tobytes()
        if self.wiring == "serpentine" and self.height > 1:
            back = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT).tobytes()
            row = self.width * 3
            data = b"".join(
                (back if r % 2 else data)[r * row : (r + 1) * row] for r in range(self.height)
            )
        return data

    def frame(self, canvas: Image.Image, brightness: int) -> bytes:
        """One encoded frame of this panel's part of `canvas`, ready for the serial port."""
        return ENCODERS[self.protocol](self.pixels(canvas, brightness))

    def frame_size(self) -> int:
        module = adalight if self.protocol == "adalight" else tpm2
        return module.frame_size(self.led_count)
