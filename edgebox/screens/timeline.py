"""Where a cloud playlist is at a moment, and what its canvas shows then.

Pure: the playable items of a playlist, where play began and the seconds played since, in; the
item, its local time and the layers of the frame (placed, faded, slid) out. The rules, where the
cloud's document is loose:
- Items play in `order`, each `n_time_play` times in a row (0 = not at all). A slot lasts
  `timing.duration`; a video whose duration is 0 lasts its own length, an image 10 s.
- A video shorter than its slot loops when `timing.loop`, else holds its last frame; one longer
  is cut. `timing.start_time` is where in the video each play begins.
- The playlist plays once, or, with `repeat`, `1 + repeat_count` times (-1 = forever); a pass
  counts from where play began, so a jump to the last item and the end of the list is a pass.
- Layouts are in the playlist's canvas (`width` x `height`, the panel canvas if 0) and are
  stretched onto the panel canvas; an item is stretched to its box; width or height 0 reach the
  canvas edge. Higher `z_index` is on top; on a tie, the incoming item.
- `fade_in` / `fade_out` ramp an item from and to the background over 0.5 s; `transition`
  "fade" cross-fades from the item before, "slide" pushes it out to the left, over 0.5 s (both
  at most a quarter of the slot). The first item after a start or a jump has no transition.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable

import attrs
from PIL import Image

from edgebox.core.values import Layout, MediaItem, PlaybackConfig

FADE_SECONDS = 0.5
TRANSITION_SECONDS = 0.5
IMAGE_SECONDS = 10.0  # an image whose duration is 0
MIN_SLOT_SECONDS = 0.04  # a frame at 25 fps: shorter slots could not be seen anyway
TRANSITIONS = ("fade", "slide")

Color = tuple[int, int, int]
Box = tuple[int, int, int, int]  # x, y, width, height on the canvas


def parse_color(value: str, default: Color = (0, 0, 0)) -> Color:
    """'#RRGGBB' or '#RGB' as a colour; anything else is `default`."""
    digits = value[1:] if value.startswith("#") else ""
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    try:
        if len(digits) != 6:
            raise ValueError
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
    except ValueError:
        return default


@attrs.frozen
class Entry:
    """One playable item; `media_length` is a video's length in seconds, None if not known."""

    item: MediaItem
    media_length: float | None = None

    @property
    def is_video(self) -> bool:
        return self.item.media_type == "video"

    @property
    def start(self) -> float:
        start = self.item.timing.start_time
        if not self.is_video or start <= 0:
            return 0.0
        if self.media_length is not None and start >= self.media_length:
            return 0.0
        return start

    @property
    def length(self) -> float:
        """Seconds one play of this item stays on."""
        duration = self.item.timing.duration
        if duration <= 0 and self.is_video and self.media_length:
            duration = self.media_length - self.start
        if duration <= 0:
            duration = IMAGE_SECONDS
        return max(MIN_SLOT_SECONDS, duration)

    @property
    def plays(self) -> int:
        return self.item.n_time_play

    def media_time(self, t: float) -> float:
        """Seconds into the media file `t` seconds into a play."""
        if not self.is_video:
            return 0.0
        start, end = self.start, self.media_length
        if end is None:
            return start + t
        run = end - start
        if self.item.timing.loop and run > 0:
            return start + math.fmod(t, run)
        return min(start + t, end)


def passes(config: PlaybackConfig) -> int | None:
    """How many times the playlist plays; None for forever."""
    if not config.repeat:
        return 1
    if config.repeat_count < 0:
        return None
    return 1 + config.repeat_count


@attrs.frozen
class Position:
    """Where play is: entry, which of its plays, `t` seconds into that play.

    `slot` counts plays since the anchor (0 = the one play began with), `lap` the passes.
    """

    entry: int
    play: int
    t: float
    slot: int
    lap: int


@attrs.frozen
class Timeline:
    """The playable entries of one playlist, in order, and how many passes it plays."""

    entries: tuple[Entry, ...]
    passes: int | None = None
    _starts: tuple[float, ...] = attrs.field(init=False, repr=False, eq=False)
    _slots: tuple[int, ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        if any(e.plays < 1 for e in self.entries):
            raise ValueError("every entry plays at least once")
        starts, slots = [0.0], [0]
        for e in self.entries:
            starts.append(starts[-1] + e.plays * e.length)
            slots.append(slots[-1] + e.plays)
        object.__setattr__(self, "_starts", tuple(starts))
        object.__setattr__(self, "_slots", tuple(slots))

    @property
    def lap_seconds(self) -> float:
        return self._starts[-1]

    def index_of(self, media_id: int) -> int | None:
        return next((i for i, e in enumerate(self.entries) if e.item.media_id == media_id), None)

    def position(self, entry: int, play: int, elapsed: float) -> Position | None:
        """Where play is `elapsed` seconds after it began at (`entry`, `play`); None once done."""
        if not self.entries:
            return None
        entry = min(max(entry, 0), len(self.entries) - 1)
        play = min(max(play, 0), self.entries[entry].plays - 1)
        elapsed = max(0.0, elapsed)
        if elapsed < self.entries[entry].length:  # still in the first play: no rounding at all
            return Position(entry, play, elapsed, 0, 0)
        origin = self._starts[entry] + play * self.entries[entry].length
        lap_seconds = self.lap_seconds
        u = origin + elapsed
        lap = math.floor(u / lap_seconds)
        if self.passes is not None and lap >= self.passes:
            return None
        within = u - lap * lap_seconds
        i = min(bisect.bisect_right(self._starts, within) - 1, len(self.entries) - 1)
        e = self.entries[i]
        local = max(0.0, within - self._starts[i])
        k = min(math.floor(local / e.length), e.plays - 1)
        t = min(max(0.0, local - k * e.length), math.nextafter(e.length, 0.0))
        origin_slot = self._slots[entry] + play
        slot = lap * self._slots[-1] + self._slots[i] + k - origin_slot
        return Position(i, k, t, slot, lap)

    def following(self, position: Position) -> tuple[int, int]:
        """The (entry, play) that plays next after `position`, if the playlist goes on."""
        if position.play + 1 < self.entries[position.entry].plays:
            return position.entry, position.play + 1
        return (position.entry + 1) % len(self.entries), 0

    def previous(self, position: Position) -> tuple[int, int]:
        """The (entry, play) that played just before `position`."""
        if position.play > 0:
            return position.entry, position.play - 1
        i = (position.entry - 1) % len(self.entries)
        return i, self.entries[i].plays - 1


# The frame


@attrs.frozen
class Layer:
    """One item as drawn in a frame. `still`: the outgoing item of a transition, whose last
    picture is held rather than played on."""

    media_id: int
    entry: int
    slot: int
    time: float
    box: Box
    opacity: float = 1.0
    dx: int = 0
    z_index: int = 0
    still: bool = False


@attrs.frozen
class Scene:
    """What the canvas shows: the background, then the layers in drawing order.

    `media_id` is the item playing now (the one screenshots report), `settled` whether its
    entrance (transition, fade-in) is over.
    """

    background: Color
    layers: tuple[Layer, ...] = ()
    media_id: int | None = None
    settled: bool = True


def place(layout: Layout, source: tuple[int, int], canvas: tuple[int, int]) -> Box:
    """The canvas box of an item laid out on the playlist's `source` canvas."""
    cw, ch = canvas
    sw, sh = source if source[0] > 0 and source[1] > 0 else canvas
    w = layout.width if layout.width > 0 else sw - layout.x
    h = layout.height if layout.height > 0 else sh - layout.y

    def edge(v: float, scale: float, limit: int) -> int:
        # A box far off the canvas is not worth scaling a picture to.
        return min(max(round(v * scale), -2 * limit), 3 * limit)

    x0, x1 = edge(layout.x, cw / sw, cw), edge(layout.x + w, cw / sw, cw)
    y0, y1 = edge(layout.y, ch / sh, ch), edge(layout.y + h, ch / sh, ch)
    return (x0, y0, max(1, x1 - x0), max(1, y1 - y0))


def _ramp(x: float) -> float:
    return min(1.0, max(0.0, x))


def _fades(entry: Entry, t: float) -> float:
    effects, length = entry.item.effects, entry.length
    fade = min(FADE_SECONDS, length / 4)
    opacity = 1.0
    if effects.fade_in:
        opacity *= _ramp(t / fade)
    if effects.fade_out:
        opacity *= _ramp((length - t) / fade)
    return opacity


def scene(
    timeline: Timeline,
    position: Position | None,
    canvas: tuple[int, int],
    source: tuple[int, int],
    background: Color,
) -> Scene:
    """The layers of the frame at `position` (None: the playlist is done, background only)."""
    if position is None:
        return Scene(background)
    entry = timeline.entries[position.entry]
    item, t = entry.item, position.t
    box = place(item.layout, source, canvas)
    current = Layer(
        item.media_id,
        position.entry,
        position.slot,
        entry.media_time(t),
        box,
        _fades(entry, t),
        z_index=item.layout.z_index,
    )
    layers = [current]
    settled = not item.effects.fade_in or t >= min(FADE_SECONDS, entry.length / 4)
    kind = item.effects.transition
    lasts = min(TRANSITION_SECONDS, entry.length / 4)
    if position.slot > 0 and kind in TRANSITIONS and t < lasts:
        settled = False
        p = t / lasts
        i, _ = timeline.previous(position)
        before = timeline.entries[i]
        outgoing = Layer(
            before.item.media_id,
            i,
            position.slot - 1,
            before.media_time(before.length),
            place(before.item.layout, source, canvas),
            _fades(before, before.length),
            z_index=before.item.layout.z_index,
            still=True,
        )
        if kind == "fade":
            current = attrs.evolve(current, opacity=current.opacity * p)
        else:
            shift = round((1 - p) * canvas[0])
            current = attrs.evolve(current, dx=shift)
            outgoing = attrs.evolve(outgoing, dx=shift - canvas[0])
        layers = [outgoing, current]
    layers.sort(key=lambda layer: layer.z_index)
    return Scene(background, tuple(layers), item.media_id, settled)


Pictures = Callable[[Layer], "Image.Image | None"]


def compose(scene: Scene, size: tuple[int, int], pictures: Pictures) -> Image.Image:
    """The frame of `scene`: each layer's picture (already its box's size) pasted in order."""
    frame = Image.new("RGB", size, scene.background)
    for layer in scene.layers:
        if layer.opacity <= 0:
            continue
        picture = pictures(layer)
        if picture is None:
            continue
        x, y, w, h = layer.box
        if picture.size != (w, h):
            picture = picture.resize((w, h))
        mask: Image.Image | None = None
        if picture.mode == "RGBA":
            mask = picture.getchannel("A")
            if layer.opacity < 1:
                mask = mask.point(lambda a, k=layer.opacity: round(a * k))
            picture = picture.convert("RGB")
        elif layer.opacity < 1:
            mask = Image.new("L", picture.size, round(255 * layer.opacity))
        frame.paste(picture, (x + layer.dx, y), mask)
    return frame
