"""LED playlist items, the cloud's text overlay and the idle card, drawn into RGB frames.

Pure: an item, a time `t` (seconds since the item began) and the wall clock in, a Pillow RGB image
of the canvas size out. Text uses Pillow's built-in bitmap font (6 px cells, 11 px lines) scaled by
whole numbers with NEAREST: every glyph stays pixel-sharp on a 16 px row (x1) and on a 32 px row
(x2), and nothing has to be installed. Rasterised text is cached per item, so a frame is a crop,
a paste and a border.
"""

from __future__ import annotations

import colorsys
import datetime as dt
import functools
import math
import random
import zlib
from collections.abc import Callable

import attrs
from PIL import Image, ImageDraw, ImageFont

from edgebox.core.values import TextOverlay
from edgebox.ledsign import animations
from edgebox.ledsign.model import (
    MIN_SCALE,
    AnimationContent,
    BorderEffect,
    ClockContent,
    Color,
    Gradient,
    ImageAnimation,
    ImageContent,
    LedItem,
    NoBorder,
    Pulse,
    Rainbow,
    Sparkle,
    TextContent,
    TextFormatting,
)

FONT = ImageFont.load_default_imagefont()
LINE = 11  # pixels per line of the bitmap font, before scaling
BLACK: Color = (0, 0, 0)

RAINBOW_LAP = 4.0  # seconds for the rainbow to go once round the border
GRADIENT_LAP = 8.0
PULSE_PERIOD = 2.0  # bright, dark, bright: the colour changes while dark
SPARKLE_TICK = 0.1  # seconds each sparkle pattern stays


def _latin1(text: str) -> str:
    """The bitmap font has Latin-1 glyphs only; anything else shows as '?'."""
    return "".join(c if ord(c) < 256 and c.isprintable() else "?" for c in text)


def text_scale(rows: int, text: str = "", columns: int | None = None) -> int:
    """The largest whole-number font scale whose line fits `rows` (and `text` fits `columns`)."""
    scale = max(1, rows // LINE)
    if columns is not None and text:
        width = FONT.getlength(_latin1(text))
        while scale > 1 and width * scale > columns:
            scale -= 1
    return scale


@attrs.frozen
class Style:
    color: Color
    bold: bool = False
    underline: bool = False
    strikethrough: bool = False


@attrs.frozen
class Strip:
    """A line of text rasterised once: colours and a mask, already scaled."""

    colors: Image.Image
    mask: Image.Image

    @property
    def width(self) -> int:
        return self.colors.width

    @property
    def height(self) -> int:
        return self.colors.height


def _styles(content: TextContent) -> list[Style]:
    """One style per character: the item's colour, overridden by its segments in order."""
    styles = [Style(content.color)] * len(content.text)
    for seg in content.text_segments or ():
        fmt = seg.formatting or TextFormatting()
        for i in range(seg.start, min(seg.end, len(styles))):
            styles[i] = Style(
                seg.color or styles[i].color, fmt.bold, fmt.underline, fmt.strikethrough
            )
    return styles


@functools.lru_cache(maxsize=64)
def rasterise(text: str, styles: tuple[Style, ...], scale: int) -> Strip:
    """Draw `text` with a style per character at scale 1, then enlarge it without smoothing."""
    text = _latin1(text.replace("\n", " "))
    width = max(1, math.ceil(FONT.getlength(text)) + 1)
    colors = Image.new("RGB", (width, LINE))
    mask = Image.new("L", (width, LINE))
    paint, cut = ImageDraw.Draw(colors), ImageDraw.Draw(mask)
    start = 0
    for end in range(1, len(text) + 1):
        if end < len(text) and styles[end] == styles[start]:
            continue
        style, run = styles[start], text[start:end]
        x0 = FONT.getlength(text[:start])
        x1 = x0 + FONT.getlength(run) - 1
        for dx in (0, 1) if style.bold else (0,):
            paint.text((x0 + dx, 0), run, font=FONT, fill=style.color)
            cut.text((x0 + dx, 0), run, font=FONT, fill=255)
        for flag, y in ((style.underline, LINE - 1), (style.strikethrough, LINE // 2)):
            if flag:
                paint.line([(x0, y), (x1 + style.bold, y)], fill=style.color)
                cut.line([(x0, y), (x1 + style.bold, y)], fill=255)
        start = end
    if scale > 1:
        size = (width * scale, LINE * scale)
        colors = colors.resize(size, Image.Resampling.NEAREST)
        mask = mask.resize(size, Image.Resampling.NEAREST)
    return Strip(colors, mask)


def text_strip(content: TextContent, scale: int) -> Strip:
    return rasterise(content.text, tuple(_styles(content)), scale)


def scroll_x(width: int, strip_width: int, speed: float, t: float) -> int:
    """Left edge of scrolling text: enters at the right edge, leaves at the left, repeats."""
    travel = width + strip_width
    return width - int(speed * t) % travel


def pass_seconds(content: TextContent, width: int, height: int) -> float:
    """How long one full pass of scrolling text across the canvas takes."""
    strip = text_strip(content, text_scale(_inner(height)))
    return (width + strip.width) / content.speed


def _inner(height: int) -> int:
    return height - 2 if height > 4 else height


# Borders: a colour per pixel round the edge, clockwise from the top-left corner.


def perimeter(width: int, height: int) -> int:
    if width < 2 or height < 2:
        return width * height
    return 2 * (width + height) - 4


def _paint_ring(frame: Image.Image, ring: bytes) -> None:
    w, h = frame.size
    if w < 2 or h < 2:
        frame.frombytes(ring[: 3 * w * h])
        return
    top, right, bottom, left = w, h - 1, w - 1, h - 2
    a = 3 * top
    b = a + 3 * right
    c = b + 3 * bottom
    frame.paste(Image.frombytes("RGB", (w, 1), ring[:a]), (0, 0))
    frame.paste(Image.frombytes("RGB", (1, h - 1), ring[a:b]), (w - 1, 1))
    bottom_row = Image.frombytes("RGB", (w - 1, 1), ring[b:c])
    frame.paste(bottom_row.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (0, h - 1))
    if left > 0:
        left_col = Image.frombytes("RGB", (1, left), ring[c:])
        frame.paste(left_col.transpose(Image.Transpose.FLIP_TOP_BOTTOM), (0, 1))


def _roll(ring: bytes, steps: int) -> bytes:
    k = 3 * (steps % (len(ring) // 3))
    return ring[k:] + ring[:k]


@functools.lru_cache(maxsize=16)
def _rainbow_ring(count: int) -> bytes:
    out = bytearray()
    for p in range(count):
        r, g, b = colorsys.hsv_to_rgb(p / count, 1.0, 1.0)
        out += bytes((round(r * 255), round(g * 255), round(b * 255)))
    return bytes(out)


@functools.lru_cache(maxsize=16)
def _gradient_ring(count: int, colors: tuple[Color, ...]) -> bytes:
    """`colors` spread evenly round the border, blending into each other and back to the first."""
    out = bytearray()
    n = len(colors)
    for p in range(count):
        pos = p * n / count
        i, f = int(pos), pos - int(pos)
        c0, c1 = colors[i % n], colors[(i + 1) % n]
        out += bytes(round(c0[k] + (c1[k] - c0[k]) * f) for k in range(3))
    return bytes(out)


def pulse_color(colors: tuple[Color, ...], t: float) -> Color:
    level = 0.5 + 0.5 * math.cos(2 * math.pi * t / PULSE_PERIOD)
    base = colors[int((t + PULSE_PERIOD / 2) // PULSE_PERIOD) % len(colors)]
    return (round(base[0] * level), round(base[1] * level), round(base[2] * level))


def sparkle_ring(count: int, colors: tuple[Color, ...], t: float, seed: int) -> bytes:
    """About one border pixel in six lit; the same `t` and `seed` always light the same ones."""
    rng = random.Random(seed * 1_000_003 + int(t / SPARKLE_TICK))
    out = bytearray(3 * count)
    for p in rng.sample(range(count), max(1, count // 6)):
        out[3 * p : 3 * p + 3] = bytes(rng.choice(colors))
    return bytes(out)


def draw_border(frame: Image.Image, border: BorderEffect, t: float, seed: int = 0) -> None:
    """Paint `border` on the outermost pixels of `frame` as it looks `t` seconds in."""
    if border is None or isinstance(border, NoBorder):
        return
    count = perimeter(*frame.size)
    if isinstance(border, Rainbow):
        ring = _roll(_rainbow_ring(count), -int(t * count / RAINBOW_LAP))
    elif isinstance(border, Gradient):
        ring = _roll(_gradient_ring(count, border.colors), -int(t * count / GRADIENT_LAP))
    elif isinstance(border, Pulse):
        ring = bytes(pulse_color(border.colors, t)) * count
    elif isinstance(border, Sparkle):
        ring = sparkle_ring(count, border.colors, t, seed)
    else:
        raise TypeError(f"unknown border effect {border!r}")
    _paint_ring(frame, ring)


# Frames


Pictures = Callable[[str], "Image.Image | None"]


def _scaled(picture: Image.Image, scale: float) -> Image.Image:
    """Enlarged pixel-sharp, shrunk smoothly; RGBA so transparency shows the black behind."""
    picture = picture.convert("RGBA")
    if scale == 1:
        return picture
    size = (max(1, round(picture.width * scale)), max(1, round(picture.height * scale)))
    smooth = Image.Resampling.NEAREST if scale > 1 else Image.Resampling.LANCZOS
    return picture.resize(size, smooth)


def clock_text(content: ClockContent, now: dt.datetime) -> str:
    if content.format == "12h":
        hour = now.hour % 12 or 12
        suffix = " AM" if now.hour < 12 else " PM"
    else:
        hour, suffix = now.hour, ""
    seconds = f":{now.second:02d}" if content.show_seconds else ""
    hours = f"{hour}" if suffix else f"{hour:02d}"
    return f"{hours}:{now.minute:02d}{seconds}{suffix}"


def keyframe_place(animation: ImageAnimation, t: float) -> tuple[float, float, float]:
    """(x, y, scale) of a keyframed image `t` seconds in: the keyframes loop, each stretch
    interpolated linearly; after `iterations` plays the image rests on the last keyframe."""
    frames = animation.keyframes
    cycle = animation.cycle_ms
    elapsed = max(t, 0.0) * 1000
    if animation.iterations is not None and elapsed >= animation.iterations * cycle:
        last = frames[-1]
        return float(last.x), float(last.y), last.scale
    elapsed %= cycle
    before = frames[0]
    for after in frames[1:]:
        if elapsed <= after.timestamp_ms:
            span = max(1, after.timestamp_ms - before.timestamp_ms)
            f = min(max((elapsed - before.timestamp_ms) / span, 0.0), 1.0)
            return (
                before.x + (after.x - before.x) * f,
                before.y + (after.y - before.y) * f,
                max(MIN_SCALE, before.scale + (after.scale - before.scale) * f),
            )
        before = after
    return float(frames[-1].x), float(frames[-1].y), frames[-1].scale


def placed(
    picture: Image.Image, size: tuple[int, int], x: float, y: float, s: float
) -> Image.Image:
    """`picture` (RGBA) scaled by `s` with its top-left at (x, y) on a transparent canvas of
    `size`: each canvas pixel takes the source pixel under it, so fractional places are
    exact and the cost follows the canvas, not the picture."""
    return picture.transform(
        size,
        Image.Transform.AFFINE,
        (1 / s, 0, -x / s, 0, 1 / s, -y / s),
        Image.Resampling.NEAREST,
    )


def item_seed(item: LedItem) -> int:
    return zlib.crc32(item.id.encode())


class Renderer:
    """Frames of one canvas. `pictures` looks up uploaded images already loaded into memory."""

    def __init__(self, width: int, height: int, pictures: Pictures | None = None) -> None:
        self.width = width
        self.height = height
        self.pictures: Pictures = pictures or (lambda _id: None)
        self._scaled: dict[tuple[str, float], tuple[Image.Image, Image.Image]] = {}

    def blank(self) -> Image.Image:
        return Image.new("RGB", (self.width, self.height))

    def _place(self, frame: Image.Image, strip: Strip, x: int | None) -> None:
        """Paste `strip` centred vertically; `x=None` centres it (or left-aligns if too wide)."""
        if x is None:
            x = max(0, (self.width - strip.width) // 2)
        y = (self.height - strip.height) // 2
        frame.paste(strip.colors, (x, y), strip.mask)

    def render(self, item: LedItem, t: float, now: dt.datetime | None = None) -> Image.Image:
        """`item` as it looks `t` seconds after it came on; `now` is the wall clock for clocks."""
        frame = self.blank()
        content = item.content
        if isinstance(content, TextContent):
            strip = text_strip(content, text_scale(_inner(self.height)))
            x = scroll_x(self.width, strip.width, content.speed, t) if content.scroll else None
            self._place(frame, strip, x)
        elif isinstance(content, ClockContent):
            text = clock_text(content, now or dt.datetime.now())
            scale = text_scale(_inner(self.height), text, self.width - 2)
            self._place(frame, rasterise(text, (Style(content.color),) * len(text), scale), None)
        elif isinstance(content, AnimationContent):
            frame = animations.frame(content, self.width, self.height, t, item_seed(item))
        elif isinstance(content, ImageContent) and content.animation is not None:
            picture = self.pictures(content.image_id)
            if picture is not None:
                x, y, scale = keyframe_place(content.animation, t)
                if picture.mode != "RGBA":
                    picture = picture.convert("RGBA")
                shown = placed(picture, frame.size, x, y, scale)
                frame.paste(shown, (0, 0), shown)
        elif isinstance(content, ImageContent):
            picture = self.pictures(content.image_id)
            if picture is not None:
                key = (content.image_id, content.scale)
                cached = self._scaled.get(key)
                if cached is None or cached[0] is not picture:
                    if len(self._scaled) > 16:
                        self._scaled.clear()
                    cached = self._scaled[key] = (picture, _scaled(picture, content.scale))
                shown = cached[1]
                frame.paste(shown, (content.x, content.y), shown)
        draw_border(frame, item.border_effect, t, item_seed(item))
        return frame

    def overlay(self, frame: Image.Image, overlay: TextOverlay, t: float) -> Image.Image:
        """The cloud's text overlay drawn over `frame`, `t` seconds after it was shown.

        top/bottom put a band along that edge; left/right put it across the middle with static
        text aligned to that side. `font_size` picks the nearest whole font scale that fits.
        """
        rows = (
            self.height
            if overlay.font_size is None
            else min(self.height, max(LINE, overlay.font_size))
        )
        scale = text_scale(min(rows, LINE if overlay.font_size is None else rows))
        color = _hex(overlay.text_color or "#FFFFFF")
        strip = rasterise(overlay.text, (Style(color),) * len(overlay.text), scale)
        band = strip.height
        y = {
            "top": 0,
            "bottom": self.height - band,
        }.get(overlay.position, (self.height - band) // 2)
        if overlay.background_color is not None:
            ImageDraw.Draw(frame).rectangle(
                [0, y, self.width - 1, y + band - 1], fill=_hex(overlay.background_color)
            )
        if overlay.animation == "scroll" and overlay.speed > 0:
            x = scroll_x(self.width, strip.width, overlay.speed, t)
        elif overlay.position == "right":
            x = self.width - strip.width
        elif overlay.position == "left":
            x = 0
        else:
            x = (self.width - strip.width) // 2
        frame.paste(strip.colors, (x, y), strip.mask)
        return frame

    def idle(self, t: float) -> Image.Image:
        """What an empty playlist shows: a dim name and one dot walking the bottom edge."""
        frame = self.blank()
        text = "edgebox"
        scale = text_scale(_inner(self.height), text, self.width - 2)
        self._place(frame, rasterise(text, (Style((60, 60, 90)),) * len(text), scale), None)
        x = int(t * 8) % self.width
        frame.putpixel((x, self.height - 1), (0, 90, 160))
        return frame


def _hex(color: str) -> Color:
    return (int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16))
