"""The LED sign's models and rules: playlist items, their JSON shape, and the preview lock.

Pure: no I/O and no clock. The LED API parses with `parse_item`, the hub keeps `LedItem`s and a
`PreviewLock`, the renderer draws them. JSON follows the LED sign controller API document.

Timing rules of an item (exactly one of `duration` and `repeat_count`):
- `duration`: seconds the item stays on the sign, scrolling or not.
- `repeat_count` on scrolling text: how many times the text scrolls fully across; 0 = forever.
- `repeat_count` on an image with keyframes: how many times its keyframes play; 0 = forever.
- `repeat_count` on other content only accepts 0 (stay until the playlist changes): there is
  no pass to count, so any other count is refused with a 400 that says to give a `duration`.

The content tag is read from `content.content_type` (the document), `content.type` or
`content.data.type` (the controller's own editor, whose serde tags both levels), and written
to all three, so clients of either shape read every answer.
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
MAX_KEYFRAMES = 64
MAX_KEYFRAME_MS = 24 * 3600 * 1000
MAX_NATURAL = 1 << 20
CONTENT_TYPES = ("Text", "Image", "Clock", "Animation")
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
class Keyframe:
    """Where the image is `timestamp_ms` into one play of its keyframes."""

    timestamp_ms: int
    x: int
    y: int
    scale: float = 1.0


@attrs.frozen
class ImageAnimation:
    """Keyframes played in a loop, interpolated linearly; `iterations` None = loop forever,
    else the image stays on the last keyframe after that many plays."""

    keyframes: tuple[Keyframe, ...]
    iterations: int | None = None

    @property
    def cycle_ms(self) -> int:
        return max(1, self.keyframes[-1].timestamp_ms)


@attrs.frozen
class ImageContent:
    """An uploaded image (`POST /api/images`) drawn with its top-left at (x, y), scaled,
    or moved along its keyframes. `natural_*` are the upload's own size, when known."""

    image_id: str
    x: int = 0
    y: int = 0
    scale: float = 1.0
    natural_width: int | None = None
    natural_height: int | None = None
    animation: ImageAnimation | None = None


@attrs.frozen
class ClockContent:
    format: str = "24h"  # "12h" | "24h"
    show_seconds: bool = False
    color: Color = WHITE


@attrs.frozen
class AnimationContent:
    """A full-canvas animation preset: its palette and its settings (every one of the preset's
    settings, defaults filled in), drawn by `edgebox.animations`."""

    preset: str
    colors: tuple[Color, ...]
    settings: tuple[tuple[str, Any], ...] = ()

    def __getitem__(self, name: str) -> Any:
        return dict(self.settings)[name]


Content = TextContent | ImageContent | ClockContent | AnimationContent


@attrs.frozen
class Setting:
    """One setting of an animation preset: its kind (how it is validated) and default."""

    kind: str  # ms | count | size | border | finite | positive | unit | density | bool | color
    default: Any


PRESETS: dict[str, dict[str, Setting]] = {
    "Pulse": {"cycle_ms": Setting("ms", 2000)},
    "PaletteWave": {"cycle_ms": Setting("ms", 2000), "wave_count": Setting("count", 3)},
    "DualPulse": {"cycle_ms": Setting("ms", 2000), "phase_offset": Setting("finite", 0.5)},
    "ColorFade": {"drift_speed": Setting("positive", 0.25)},
    "Strobe": {
        "flash_ms": Setting("ms", 180),
        "fade_ms": Setting("ms", 220),
        "randomize": Setting("bool", False),
        "randomization_factor": Setting("unit", 0.35),
    },
    "Sparkle": {"density": Setting("density", 0.12), "twinkle_ms": Setting("ms", 600)},
    "MosaicTwinkle": {
        "tile_size": Setting("count", 1),
        "flow_speed": Setting("positive", 0.35),
        "border_size": Setting("border", 0),
        "border_color": Setting("color", (50, 0, 0)),
    },
    "Plasma": {"flow_speed": Setting("positive", 1.85), "noise_scale": Setting("positive", 1.75)},
}
MAX_ANIMATION_MS = 3_600_000
MAX_ANIMATION_SPEED = 1000.0
MAX_PHASE = 1_000_000.0


@attrs.frozen
class NoBorder:
    """`{"None": null}` as sent: no border, written back in the shape it came in."""


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


BorderEffect = NoBorder | Rainbow | Pulse | Sparkle | Gradient | None


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
    def keyframed(self) -> bool:
        return isinstance(self.content, ImageContent) and self.content.animation is not None

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
        keyframed = isinstance(content, ImageContent) and content.animation is not None
        if repeat_count and not (scrolls or keyframed):
            raise ValidationError(
                "counts scroll passes or keyframe plays, and this content has neither: give a "
                "duration (or repeat_count 0 to show it until the playlist changes)",
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
    data_field = f"{field}.data"
    data = _object(obj.get("data"), data_field)
    tags = [
        (f"{field}.{name}", src[key])
        for name, key, src in (
            ("content_type", "content_type", obj),
            ("type", "type", obj),
            ("data.type", "type", data),
        )
        if src.get(key) is not None
    ]
    if not tags:
        raise ValidationError(f"is required ({', '.join(CONTENT_TYPES)})", f"{field}.content_type")
    tag_field, kind = tags[0]
    for other_field, other in tags[1:]:
        if other != kind:
            raise ValidationError(f"disagrees with {tag_field} ({_show(kind)})", other_field)
    if kind not in CONTENT_TYPES:
        raise ValidationError(
            f"must be one of {', '.join(CONTENT_TYPES)} (got {_show(kind)})", tag_field
        )
    if kind == "Text":
        return _text(data, data_field)
    if kind == "Image":
        return _image(data, data_field)
    if kind == "Animation":
        return _animation(data, data_field)
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
    """The document's flat `x`, `y`, `scale`, or the controller's `transform {x, y, scale}`
    (which wins when both are given) with `natural_*` and an optional keyframe `animation`."""
    flat = (
        _integer(data.get("x", 0), f"{field}.x", -MAX_OFFSET, MAX_OFFSET),
        _integer(data.get("y", 0), f"{field}.y", -MAX_OFFSET, MAX_OFFSET),
        _scale(data.get("scale", 1.0), f"{field}.scale"),
    )
    place, place_field = data, field
    if data.get("transform") is not None:
        place_field = f"{field}.transform"
        place = _object(data["transform"], place_field)
    naturals = {
        key: None
        if data.get(key) is None
        else _integer(data[key], f"{field}.{key}", 1, MAX_NATURAL)
        for key in ("natural_width", "natural_height")
    }
    animation = data.get("animation")
    return ImageContent(
        image_id=parse_id(data.get("image_id"), f"{field}.image_id"),
        x=_integer(place.get("x", flat[0]), f"{place_field}.x", -MAX_OFFSET, MAX_OFFSET),
        y=_integer(place.get("y", flat[1]), f"{place_field}.y", -MAX_OFFSET, MAX_OFFSET),
        scale=_scale(place.get("scale", flat[2]), f"{place_field}.scale"),
        natural_width=naturals["natural_width"],
        natural_height=naturals["natural_height"],
        animation=None if animation is None else _keyframes(animation, f"{field}.animation"),
    )


def _scale(value: Any, field: str) -> float:
    return _number(value, field, low=MIN_SCALE, high=MAX_SCALE)


def _keyframes(value: Any, field: str) -> ImageAnimation:
    obj = _object(value, field)
    frames_field = f"{field}.keyframes"
    frames = obj.get("keyframes")
    if not isinstance(frames, list) or not 2 <= len(frames) <= MAX_KEYFRAMES:
        raise ValidationError(f"must be a list of 2-{MAX_KEYFRAMES} keyframes", frames_field)
    parsed: list[Keyframe] = []
    for i, frame in enumerate(frames):
        f = f"{frames_field}[{i}]"
        kf = _object(frame, f)
        stamp = _integer(kf.get("timestamp_ms"), f"{f}.timestamp_ms", 0, MAX_KEYFRAME_MS)
        if parsed and stamp < parsed[-1].timestamp_ms:
            raise ValidationError(
                f"must not be before the keyframe above ({parsed[-1].timestamp_ms})",
                f"{f}.timestamp_ms",
            )
        parsed.append(
            Keyframe(
                stamp,
                _integer(kf.get("x"), f"{f}.x", -MAX_OFFSET, MAX_OFFSET),
                _integer(kf.get("y"), f"{f}.y", -MAX_OFFSET, MAX_OFFSET),
                _scale(kf.get("scale", 1.0), f"{f}.scale"),
            )
        )
    if parsed[-1].timestamp_ms == 0:
        raise ValidationError("must be above 0 (the length of one play)", f"{f}.timestamp_ms")
    iterations = obj.get("iterations")
    return ImageAnimation(
        tuple(parsed),
        None
        if iterations is None
        else _integer(iterations, f"{field}.iterations", 0, MAX_REPEATS) or None,
    )


def _animation(data: dict[str, Any], field: str) -> AnimationContent:
    """A preset with its `colors` and settings; a missing setting takes the preset's default."""
    preset = data.get("preset")
    if not isinstance(preset, str) or preset not in PRESETS:
        raise ValidationError(
            f"must be one of {', '.join(PRESETS)} (got {_show(preset)})", f"{field}.preset"
        )
    colors = data.get("colors")
    colors_field = f"{field}.colors"
    if not isinstance(colors, list) or not 1 <= len(colors) <= MAX_COLORS:
        raise ValidationError(f"must be a list of 1-{MAX_COLORS} colours [r, g, b]", colors_field)
    palette = tuple(parse_color(c, f"{colors_field}[{i}]") for i, c in enumerate(colors))
    settings: dict[str, Any] = {}
    for name, setting in PRESETS[preset].items():
        value = data.get(name)
        settings[name] = (
            setting.default if value is None else _setting(setting.kind, value, f"{field}.{name}")
        )
    if "border_size" in settings and settings["border_size"] > settings["tile_size"]:
        raise ValidationError(
            f"must be at most tile_size ({settings['tile_size']})", f"{field}.border_size"
        )
    return AnimationContent(preset, palette, tuple(settings.items()))


def _setting(kind: str, value: Any, field: str) -> Any:
    if kind == "ms":
        return _integer(value, field, 1, MAX_ANIMATION_MS)
    if kind == "count":
        return _integer(value, field, 1, 255)
    if kind == "border":
        return _integer(value, field, 0, 255)
    if kind == "finite":
        return _number(value, field, low=-MAX_PHASE, high=MAX_PHASE)
    if kind == "positive":
        return _number(value, field, low=0.0, high=MAX_ANIMATION_SPEED, low_open=True)
    if kind == "unit":
        return _number(value, field, low=0.0, high=1.0)
    if kind == "density":
        return _number(value, field, low=0.0, high=1.0, low_open=True)
    if kind == "bool":
        return _bool(value, field)
    return parse_color(value, field)


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
        return NoBorder() if name == "None" else Rainbow()
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
    if isinstance(border, NoBorder):
        return {"None": None}
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
            "natural_width": content.natural_width,
            "natural_height": content.natural_height,
            "transform": {"x": content.x, "y": content.y, "scale": content.scale},
            "x": content.x,
            "y": content.y,
            "scale": content.scale,
        }
        if content.animation is not None:
            data["animation"] = {
                "keyframes": [attrs.asdict(k) for k in content.animation.keyframes],
                "iterations": content.animation.iterations,
            }
    elif isinstance(content, AnimationContent):
        kind = "Animation"
        data = {"preset": content.preset, "colors": [list(c) for c in content.colors]}
        for name, value in content.settings:
            data[name] = list(value) if isinstance(value, tuple) else value
    else:
        kind = "Clock"
        data = {
            "format": content.format,
            "show_seconds": content.show_seconds,
            "color": list(content.color),
        }
    return {"content_type": kind, "type": kind, "data": {"type": kind, **data}}


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
