"""Values the box's parts share: screens, levels, colours, the text overlay, cloud playlists.

Pure and importing nothing of the box but its errors, so that the cloud protocol, the hub, the
cache and the players can all speak of the same things without importing each other.
"""

from __future__ import annotations

import math
import re
from typing import Any

import attrs

from edgebox.core.errors import ValidationError

SCREENS = ("front", "back", "right", "left")

_HEX_COLOR = set("0123456789abcdefABCDEF")


def check_level(name: str, value: Any) -> int:
    """A 0-100 level (brightness, volume); bools and floats with a fraction are refused."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or (isinstance(value, float) and not math.isfinite(value))
        or value != int(value)
    ):
        raise ValidationError(f"must be an integer 0-100 (got {value!r})", name)
    if not 0 <= value <= 100:
        raise ValidationError(f"must be between 0 and 100 (got {value!r})", name)
    return int(value)


def check_color(name: str, value: str) -> str:
    if not (
        isinstance(value, str)
        and len(value) == 7
        and value[0] == "#"
        and set(value[1:]) <= _HEX_COLOR
    ):
        raise ValidationError(f"must be a colour like '#RRGGBB' (got {value!r})", name)
    return value


@attrs.frozen
class TextOverlay:
    """Text drawn over whatever a canvas shows, as the cloud's `show_text_overlay` asks."""

    text: str
    position: str = "bottom"
    animation: str = "scroll"
    speed: float = 50.0
    font_size: int | None = None
    background_color: str | None = None
    text_color: str | None = "#FFFFFF"

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValidationError("must be non-empty text", "text_overlay.text")
        if len(self.text) > 1000:
            raise ValidationError("must be at most 1000 characters", "text_overlay.text")
        if self.position not in ("top", "bottom", "left", "right"):
            raise ValidationError(
                f"must be top, bottom, left or right (got {self.position!r})",
                "text_overlay.position",
            )
        if self.animation not in ("scroll", "static"):
            raise ValidationError(
                f"must be scroll or static (got {self.animation!r})", "text_overlay.animation"
            )
        if not 0 <= self.speed <= 10_000:
            raise ValidationError("must be between 0 and 10000", "text_overlay.speed")
        if self.font_size is not None and not 4 <= self.font_size <= 512:
            raise ValidationError("must be between 4 and 512", "text_overlay.font_size")
        for name in ("background_color", "text_color"):
            value = getattr(self, name)
            if value is not None:
                check_color(f"text_overlay.{name}", value)


@attrs.frozen
class Layout:
    x: int = 0
    y: int = 0
    width: int = 0
    height: int = 0
    z_index: int = 0


@attrs.frozen
class Timing:
    start_time: float = 0
    duration: float = 10
    loop: bool = False


@attrs.frozen
class Effects:
    fade_in: bool = False
    fade_out: bool = False
    transition: str = "none"


@attrs.frozen
class MediaItem:
    media_id: int
    order: int
    media_name: str
    media_type: str
    mimetype: str
    media_url: str
    file_size: int
    checksum: str
    layout: Layout = Layout()
    timing: Timing = Timing()
    effects: Effects = Effects()
    n_time_play: int = 1


@attrs.frozen
class PlaybackConfig:
    repeat: bool = True
    repeat_count: int = -1
    background_color: str = "#000000"


@attrs.frozen
class Playlist:
    """One playlist, its items in play order; `rejected` names items that failed validation."""

    id: int
    name: str
    width: int
    height: int
    duration: float
    media_items: tuple[MediaItem, ...]
    playback_config: PlaybackConfig = PlaybackConfig()
    rejected: tuple[str, ...] = ()

    @property
    def media_ids(self) -> list[int]:
        return [m.media_id for m in self.media_items]

    @property
    def total_items(self) -> int:
        return len(self.media_items) + len(self.rejected)


@attrs.frozen
class Screen:
    name: str  # front | back | right | left
    screen_id: int
    screen_name: str
    resolution: str
    current_playlist: int | None
    playlists: tuple[Playlist, ...]

    def playlist(self, playlist_id: int | None) -> Playlist | None:
        return next((p for p in self.playlists if p.id == playlist_id), None)


@attrs.frozen
class DeviceScreens:
    sn_number: str
    screens: dict[str, Screen]

    def playlists(self) -> list[tuple[str, Playlist]]:
        """Every playlist once, with the first screen that holds it."""
        seen: dict[int, tuple[str, Playlist]] = {}
        for name in SCREENS:
            screen = self.screens.get(name)
            for p in screen.playlists if screen else ():
                seen.setdefault(p.id, (name, p))
        return list(seen.values())

    def find(self, playlist_id: int) -> tuple[str, Playlist] | None:
        return next(((s, p) for s, p in self.playlists() if p.id == playlist_id), None)


_WINDOW = re.compile(r"^(\d{2}):(\d{2})-(\d{2}):(\d{2})$")
DAY = 86_400


@attrs.frozen
class MaintenanceWindow:
    """Daily local hours in which the box may reboot into an update, e.g. `02:00-05:00`
    (may cross midnight). No window: at once, once nothing plays from the cloud."""

    start: int  # seconds after local midnight
    end: int

    @classmethod
    def parse(cls, text: str) -> MaintenanceWindow | None:
        if not text:
            return None
        match = _WINDOW.match(text)
        if match is None:
            raise ValueError(f"{text!r} is not HH:MM-HH:MM")
        h1, m1, h2, m2 = (int(g) for g in match.groups())
        if h1 > 23 or h2 > 24 or m1 > 59 or m2 > 59 or (h2 == 24 and m2):
            raise ValueError(f"{text!r} is not a time of day")
        start, end = h1 * 3600 + m1 * 60, h2 * 3600 + m2 * 60
        if start == end:
            raise ValueError(f"{text!r} is empty")
        return cls(start, end)

    def wait(self, seconds_into_day: float) -> float:
        """Seconds from now until the window is open (0 inside it)."""
        now = seconds_into_day % DAY
        inside = (
            self.start <= now < self.end
            if self.start < self.end
            else now >= self.start or now < self.end
        )
        return 0.0 if inside else (self.start - now) % DAY
