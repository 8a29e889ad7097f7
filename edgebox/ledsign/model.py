"""The LED sign's models and rules: playlist items, their JSON shape, and the preview lock.

Pure: no I/O and no clock. The LED API parses with `parse_item`, the hub keeps `LedItem`s and a
`PreviewLock`, the renderer draws them. JSON follows the LED sign controller API document.

Timing rules of an item (exactly one of `duration` and `repeat_count`):
- `duration`: seconds the item stays on the sign, scrolling or not.
- `repeat_count` on scrolling text: how many times the text scrolls fully across; 0 = forever.
- `repeat_count` on content that does not scroll only accepts 0 (stay until the playlist
  changes): there is no pass to count, so any other count is refused with a 400 that says to
  give a `duration` instead.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from typing import Any

import attrs

from edgebox.core.errors import (
    NotInPreview,
    NotPreviewOwner,
    PreviewBusy,
    ValidationError,
)

Color = tuple[int, int, int]

WHITE: Color = (255, 255, 255)
PREVIEW_TIMEOUT = 5.0
MAX_TEXT_CHARS = 2000
MAX_SEGMENTS = 256
MAX_COLORS = 32
MAX_DURATION = 24 * 3600.0
MAX_REPEATS = 1_000_000
MAX_SPEED = 10_000.0
MAX_OFFSET = 100_000
MIN_SCALE, MAX_SCALE = 0.01, 100.0
CONTENT_TYPES = ("Text", "Image", "Clock")
BORDER_EFFECTS = ("None", "Rainbow", "Pulse", "Sparkle", "Gradient")
ACTIONS = ("Add", "Update", "Delete", "Reorder")

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:~-]{0,127}")


# Models


@attrs.frozen
class TextFormatting:
    bold: bool = False
    underline: bool = False
    strikethrough: bool = False


@attrs.frozen
class TextSegment:
    """Characters `start` up to `end` (exclusive) drawn in `color` and/or with `formatting`."""

    start: int
    end: int
    color: Color | None = None
    formatting: TextFormatting | None = None


@attrs.frozen
class TextContent:
    text: str
    scroll: bool = False
    color: Color = WHITE
    speed: float = 50.0  # pixels per second
    text_segments: tuple[TextSegment, ...] | None = None


@attrs.frozen
class ImageContent:
    """An uploaded image (`POST /api/images`) drawn with its top-left at (x, y), scaled."""

    image_id: str
    x: int = 0
    y: int = 0
    scale: float = 1.0


@attrs.frozen
class ClockContent:
    format: str = "24h"  # "12h" | "24h"
    show_seconds: bool = False
    color: Color = WHITE


Content = TextContent | ImageContent | ClockContent


@attrs.frozen
class Rainbow:
    pass


@attrs.frozen
class Pulse:
    colors: tuple[Color, ...]


@attrs.frozen
class Sparkle:
    colors: tuple[Color, ...]


@attrs.frozen
class Gradient:
    colors: tuple[Color, ...]


BorderEffect = Rainbow | Pulse | Sparkle | Gradient | None


@attrs.frozen
class LedItem:
    id: str
    duration: float | None
    repeat_count: int | None
    border_effect: BorderEffect
    content: Content

    @property
    def scrolls(self) -> bool:
        return isinstance(self.content, TextContent) and self.content.scroll

    @property
    def forever(self) -> bool:
        """Stays on the sign until the playlist changes (`repeat_count: 0`)."""
        return self.repeat_count == 0


@attrs.frozen
class LedImage:
    """An uploaded image: `file` is its name inside the images directory of the cache."""

    id: str
    file: str
    media_type: str
    width: int
    height: int
    size: int


IMAGES_DIRECTORY = "led-images"


# Parsing: JSON value -> model, or ValidationError naming the field path.


def new_id() -> str:
    return str(uuid.uuid4())


def parse_item(data: Any, *, make_id: Callable[[], str] = new_id) -> LedItem:
    """A playlist item from its JSON; a missing or null `id` gets `make_id()`."""
    obj = _object(data, "")
    raw_id = obj.get("id")
    item_id = make_id() if raw_id is None else parse_id(raw_id, "id")
    content = _content(obj.get("content"), "content")
    duration = obj.get("duration")
    repeat_count = obj.get("repeat_count")
    if (duration is None) == (repeat_count is None):
        raise ValidationError("give exactly one of duration and repeat_count", "duration")
    if duration is not None:
        duration = _number(duration, "duration", low=0.0, high=MAX_DURATION, low_open=True)
    if repeat_count is not None:
        repeat_count = _integer(repeat_count, "repeat_count", 0, MAX_REPEATS)
        scrolls = isinstance(content, TextContent) and content.scroll
        if repeat_count and not scrolls:
            raise ValidationError(
                "counts scroll passes, and this content does not scroll: give a duration "
                "(or repeat_count 0 to show it until the playlist changes)",
                "repeat_count",
            )
    return LedItem(
        id=item_id,
        duration=duration,
        repeat_count=repeat_count,
        border_effect=_border(obj.get("border_effect"), "border_effect"),
        content=content,
    )


def parse_id(value: Any, field: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValidationError(
            "must be 1-128 letters, digits or ._:~- starting with a letter or digit", field
        )
    return value


def parse_color(value: Any, field: str) -> Color:
    if not isinstance(value, list) or len(value) != 3:
        raise ValidationError("must be a colour [r, g, b]", field)
    r, g, b = (_integer(v, f"{field}[{i}]", 0, 255) for i, v in enumerate(value))
    return (r, g, b)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _object(value: Any, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValidationError("must be a JSON object", field or "body")
    return value


def _integer(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"must be an integer (got {_show(value)})", field)
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        raise ValidationError(f"must be an integer (got {_show(value)})", field)
    if not low <= value <= high:
        raise ValidationError(f"must be between {low} and {high} (got {_show(value)})", field)
    return int(value)


def _number(value: Any, field: str, *, low: float, high: float, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError(f"must be a number (got {_show(value)})", field)
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    too_low = number <= low if low_open else number < low
    if not math.isfinite(number) or too_low or number > high:
        bound = "above" if low_open else "at least"
        raise ValidationError(f"must be {bound} {low:g} and at most {high:g}", field)
    return number


def _bool(value: Any, field: str) -> bool:
    if not isinstance(value, bool):
        raise ValidationError(f"must be true or false (got {_show(value)})", field)
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _content(value: Any, field: str) -> Content:
    obj = _object(value, field)
    tag = obj.get("content_type")
    alias = obj.get("type")
    if tag is None and alias is None:
        raise ValidationError("is required (Text, Image or Clock)", f"{field}.content_type")
    if tag is not None and alias is not None and tag != alias:
        raise ValidationError("content_type and type disagree", f"{field}.type")
    kind = tag if tag is not None else alias
    tag_field = f"{field}.content_type" if tag is not None else f"{field}.type"
    if kind not in CONTENT_TYPES:
        raise ValidationError(f"must be Text, Image or Clock (got {_show(kind)})", tag_field)
    data_field = f"{field}.data"
    data = _object(obj.get("data"), data_field)
    if kind == "Text":
        return _text(data, data_field)
    if kind == "Image":
        return _image(data, data_field)
    return _clock(data, data_field)


def _text(data: dict[str, Any], field: str) -> TextContent:
    text = data.get("text")
    if not isinstance(text, str):
        raise ValidationError("must be a string", f"{field}.text")
    if len(text) > MAX_TEXT_CHARS:
        raise ValidationError(f"must be at most {MAX_TEXT_CHARS} characters", f"{field}.text")
    scroll = _bool(data.get("scroll", False), f"{field}.scroll")
    color = parse_color(data.get("color", list(WHITE)), f"{field}.color")
    speed = _number(data.get("speed", 50.0), f"{field}.speed", low=0.0, high=MAX_SPEED)
    if scroll and speed == 0:
        raise ValidationError("must be above 0 for scrolling text", f"{field}.speed")
    segments = data.get("text_segments")
    parsed = None
    if segments is not None:
        seg_field = f"{field}.text_segments"
        if not isinstance(segments, list):
            raise ValidationError("must be a list of segments or null", seg_field)
        if len(segments) > MAX_SEGMENTS:
            raise ValidationError(f"must hold at most {MAX_SEGMENTS} segments", seg_field)
        parsed = tuple(_segment(s, f"{seg_field}[{i}]", len(text)) for i, s in enumerate(segments))
    return TextContent(text, scroll, color, speed, parsed)


def _segment(value: Any, field: str, length: int) -> TextSegment:
    obj = _object(value, field)
    start = _integer(obj.get("start"), f"{field}.start", 0, length)
    end = _integer(obj.get("end"), f"{field}.end", 0, length)
    if end <= start:
        raise ValidationError(f"must be greater than start ({start})", f"{field}.end")
    color = obj.get("color")
    fmt = obj.get("formatting")
    formatting = None
    if fmt is not None:
        fmt_obj = _object(fmt, f"{field}.formatting")
        formatting = TextFormatting(
            **{
                k: _bool(fmt_obj.get(k, False), f"{field}.formatting.{k}")
                for k in ("bold", "underline", "strikethrough")
            }
        )
    return TextSegment(
        start,
        end,
        None if color is None else parse_color(color, f"{field}.color"),
        formatting,
    )


def _image(data: dict[str, Any], field: str) -> ImageContent:
    return ImageContent(
        image_id=parse_id(data.get("image_id"), f"{field}.image_id"),
        x=_integer(data.get("x", 0), f"{field}.x", -MAX_OFFSET, MAX_OFFSET),
        y=_integer(data.get("y", 0), f"{field}.y", -MAX_OFFSET, MAX_OFFSET),
        scale=_number(data.get("scale", 1.0), f"{field}.scale", low=MIN_SCALE, high=MAX_SCALE),
    )


def _clock(data: dict[str, Any], field: str) -> ClockContent:
    fmt = data.get("format", "24h")
    if fmt not in ("12h", "24h"):
        raise ValidationError(f"must be 12h or 24h (got {_show(fmt)})", f"{field}.format")
    return ClockContent(
        format=fmt,
        show_seconds=_bool(data.get("show_seconds", False), f"{field}.show_seconds"),
        color=parse_color(data.get("color", list(WHITE)), f"{field}.color"),
    )


def _border(value: Any, field: str) -> BorderEffect:
    """`null`, `"None"`, `"Rainbow"`, `{"Rainbow": null}` or `{"Pulse": {"colors": [...]}}`."""
    if value is None:
        return None
    if isinstance(value, str):
        name, body = value, None
    elif isinstance(value, dict) and len(value) == 1:
        ((name, body),) = value.items()
    else:
        raise ValidationError('must be null or one effect like {"Rainbow": null}', field)
    if name not in BORDER_EFFECTS:
        raise ValidationError(f"must be one of {', '.join(BORDER_EFFECTS)}", field)
    if name in ("None", "Rainbow"):
        if body not in (None, {}):
            raise ValidationError("takes no settings", f"{field}.{name}")
        return None if name == "None" else Rainbow()
    body_field = f"{field}.{name}"
    colors = _object(body, body_field).get("colors")
    colors_field = f"{body_field}.colors"
    if not isinstance(colors, list) or not 1 <= len(colors) <= MAX_COLORS:
        raise ValidationError(f"must be a list of 1-{MAX_COLORS} colours [r, g, b]", colors_field)
    parsed = tuple(parse_color(c, f"{colors_field}[{i}]") for i, c in enumerate(colors))
    return {"Pulse": Pulse, "Sparkle": Sparkle, "Gradient": Gradient}[name](parsed)


# Writing: model -> JSON value, in the document's shape.


def item_to_json(item: LedItem) -> dict[str, Any]:
    return {
        "id": item.id,
        "duration": _plain_number(item.duration),
        "repeat_count": item.repeat_count,
        "border_effect": border_to_json(item.border_effect),
        "content": content_to_json(item.content),
    }


def _plain_number(value: float | None) -> float | int | None:
    if value is None:
        return None
    return int(value) if value == int(value) else value


def border_to_json(border: BorderEffect) -> dict[str, Any] | None:
    if border is None:
        return None
    name = type(border).__name__
    if isinstance(border, Rainbow):
        return {name: None}
    return {name: {"colors": [list(c) for c in border.colors]}}


def content_to_json(content: Content) -> dict[str, Any]:
    data: dict[str, Any]
    if isinstance(content, TextContent):
        kind = "Text"
        data = {
            "text": content.text,
            "scroll": content.scroll,
            "color": list(content.color),
            "speed": content.speed,
            "text_segments": None
            if content.text_segments is None
            else [_segment_to_json(s) for s in content.text_segments],
        }
    elif isinstance(content, ImageContent):
        kind = "Image"
        data = {
            "image_id": content.image_id,
            "x": content.x,
            "y": content.y,
            "scale": content.scale,
        }
    else:
        kind = "Clock"
        data = {
            "format": content.format,
            "show_seconds": content.show_seconds,
            "color": list(content.color),
        }
    return {"content_type": kind, "type": kind, "data": data}


def _segment_to_json(segment: TextSegment) -> dict[str, Any]:
    fmt = segment.formatting
    return {
        "start": segment.start,
        "end": segment.end,
        "color": None if segment.color is None else list(segment.color),
        "formatting": None if fmt is None else attrs.asdict(fmt),
    }


def image_to_json(image: LedImage) -> dict[str, Any]:
    return attrs.asdict(image)


def parse_image(data: Any) -> LedImage:
    """An image record as the store keeps it (written by `image_to_json`)."""
    obj = _object(data, "image")
    return LedImage(
        id=parse_id(obj.get("id"), "image.id"),
        file=parse_id(obj.get("file"), "image.file"),
        media_type=str(obj.get("media_type")),
        width=_integer(obj.get("width"), "image.width", 1, 1 << 20),
        height=_integer(obj.get("height"), "image.height", 1, 1 << 20),
        size=_integer(obj.get("size"), "image.size", 0, 1 << 40),
    )


# Playlist rules


def reorder(items: tuple[LedItem, ...], item_ids: Any) -> tuple[LedItem, ...]:
    """`items` in the order of `item_ids`, which must name every current item exactly once."""
    if not isinstance(item_ids, list) or not all(isinstance(i, str) for i in item_ids):
        raise ValidationError("must be a list of item ids", "item_ids")
    by_id = {item.id: item for item in items}
    if len(item_ids) != len(items):
        raise ValidationError(
            f"must name all {len(items)} items (got {len(item_ids)} ids)", "item_ids"
        )
    if len(set(item_ids)) != len(item_ids):
        raise ValidationError("names an item more than once", "item_ids")
    unknown = [i for i in item_ids if i not in by_id]
    if unknown:
        raise ValidationError(f"names unknown items: {', '.join(unknown[:5])}", "item_ids")
    return tuple(by_id[i] for i in item_ids)


# The preview lock


@attrs.frozen
class PreviewLock:
    """Who previews what on the sign; free when `session_id` is None.

    Every method takes `now` (seconds on any monotonic clock) and returns the new lock, or
    raises the error the API turns into 403/404. A lock whose last ping is more than
    PREVIEW_TIMEOUT old counts as free even before `expire` runs, so a crashed editor blocks
    others for at most that long.
    """

    session_id: str | None = None
    item: LedItem | None = None
    last_ping: float = 0.0
    timeout: float = PREVIEW_TIMEOUT

    @property
    def active(self) -> bool:
        return self.session_id is not None

    @property
    def deadline(self) -> float | None:
        return None if self.session_id is None else self.last_ping + self.timeout

    def live(self, now: float) -> bool:
        return self.session_id is not None and now < self.last_ping + self.timeout

    def start(self, session_id: str, item: LedItem, now: float) -> PreviewLock:
        if self.live(now):
            raise PreviewBusy("another session is previewing")
        return attrs.evolve(self, session_id=session_id, item=item, last_ping=now)

    def _owned(self, session_id: Any, now: float) -> None:
        if not self.live(now):
            raise NotInPreview("the sign is not in preview mode")
        if session_id != self.session_id:
            raise NotPreviewOwner("this session does not own the preview")

    def update(self, session_id: Any, item: LedItem, now: float) -> PreviewLock:
        """New content; the owner's update counts as a ping."""
        self._owned(session_id, now)
        return attrs.evolve(self, item=item, last_ping=now)

    def ping(self, session_id: Any, now: float) -> PreviewLock:
        self._owned(session_id, now)
        return attrs.evolve(self, last_ping=now)

    def exit(self, session_id: Any, now: float) -> PreviewLock:
        self._owned(session_id, now)
        return PreviewLock(timeout=self.timeout)

    def expire(self, now: float) -> PreviewLock:
        """Free if the last ping is too old; `self` (unchanged) otherwise."""
        if self.session_id is not None and not self.live(now):
            return PreviewLock(timeout=self.timeout)
        return self

    def is_owner(self, session_id: Any, now: float) -> bool:
        return self.live(now) and session_id == self.session_id
