"""The cloud API as plain values: tokens, playlists, control actions and status messages.

Pure: nothing here opens a socket, reads a clock or sleeps, so every rule is tested with plain
values. Nothing from the cloud is trusted: every field is type-checked and bounded, and one bad
media item is dropped with a reason instead of spoiling its whole playlist.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

import attrs

from edgebox.core.errors import ProtocolError, ValidationError
from edgebox.core.jsontext import depth
from edgebox.core.values import (
    SCREENS,
    DeviceScreens,
    Effects,
    Layout,
    MediaItem,
    PlaybackConfig,
    Playlist,
    Screen,
    TextOverlay,
    Timing,
    check_level,
)

MAX_MESSAGE_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32
MAX_ITEMS_PER_PLAYLIST = 10_000
_MD5 = re.compile(r"^[0-9a-fA-F]{32}$")
_INT_MAX = 2**53


# Tokens


@attrs.frozen
class Tokens:
    """A JWT pair and the wall-clock second the access token stops working."""

    access: str = attrs.field(repr=False)
    refresh: str = attrs.field(repr=False)
    expires_at: float

    def due(self, now: float, margin: float) -> bool:
        return now >= self.expires_at - margin

    def to_json(self) -> dict[str, Any]:
        return {"access": self.access, "refresh": self.refresh, "expires_at": self.expires_at}

    @classmethod
    def from_json(cls, data: Any) -> Tokens:
        obj = _object(data, "tokens")
        return cls(
            _string(obj.get("access"), "tokens.access", 8192, empty=False),
            _string(obj.get("refresh"), "tokens.refresh", 8192, empty=False),
            _number(obj.get("expires_at"), "tokens.expires_at"),
        )


def parse_tokens(data: Any, now: float) -> Tokens:
    """The answer of login or refresh; a refresh may leave out a new refresh token."""
    obj = _object(data, "auth")
    expires_in = obj.get("expires_in", 3600)
    if isinstance(expires_in, bool) or not isinstance(expires_in, int | float):
        raise ProtocolError(f"auth.expires_in: must be a number (got {expires_in!r})")
    return Tokens(
        _string(obj.get("access"), "auth.access", 8192, empty=False),
        _string(obj.get("refresh"), "auth.refresh", 8192, empty=False),
        now + max(0.0, min(float(expires_in), 365 * 86_400.0)),
    )


# Device registration


@attrs.frozen
class DeviceFacts:
    """What POST /admin/cloud/device/register/ is told; storage and IP are measured live."""

    sn_number: str
    brand: str
    model: str
    manufacturer: str
    os_version: str
    screen_resolution: str
    total_storage: str
    free_storage: str
    app_version: str
    brightness: int
    volume: int
    mac_address: str | None = None
    ip_address: str | None = None

    def to_json(self) -> dict[str, Any]:
        body = attrs.asdict(self)
        return {k: v for k, v in body.items() if v is not None}


def human_bytes(n: int) -> str:
    """Storage the way the document writes it ("32GB"), with one decimal below 10."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.1f}{unit}" if n < 10 and unit != "B" else f"{n:.0f}{unit}"
        n /= 1024  # type: ignore[assignment]
    raise AssertionError("unreachable")


# Playlists


def parse_screens(data: Any) -> DeviceScreens:
    """GET /admin/cloud/playlists; a malformed screen or playlist is a ProtocolError."""
    obj = _object(data, "playlists")
    screens: dict[str, Screen] = {}
    for name in SCREENS:
        raw = obj.get(f"{name}_screen")
        if raw is not None:
            screens[name] = _screen(name, raw, f"{name}_screen")
    sn = obj.get("sn_number", "")
    return DeviceScreens(_string(sn, "sn_number", 256), screens)


def screens_to_json(screens: DeviceScreens) -> dict[str, Any]:
    """The snapshot kept in the store; it reads back through `parse_screens`."""
    out: dict[str, Any] = {"sn_number": screens.sn_number}
    for name in SCREENS:
        screen = screens.screens.get(name)
        out[f"{name}_screen"] = None if screen is None else _screen_to_json(screen)
    return out


def _screen_to_json(screen: Screen) -> dict[str, Any]:
    return {
        "screen_id": screen.screen_id,
        "screen_name": screen.screen_name,
        "resolution": screen.resolution,
        "current_playlist": screen.current_playlist,
        "playlists": [
            {
                **{k: getattr(p, k) for k in ("id", "name", "width", "height", "duration")},
                "media_items": [attrs.asdict(m) for m in p.media_items],
                "playback_config": attrs.asdict(p.playback_config),
                "rejected": list(p.rejected),
            }
            for p in screen.playlists
        ],
    }


def _screen(name: str, raw: Any, path: str) -> Screen:
    obj = _object(raw, path)
    playlists_raw = obj.get("playlists", [])
    if not isinstance(playlists_raw, list):
        raise ProtocolError(f"{path}.playlists: must be a list")
    current = obj.get("current_playlist")
    return Screen(
        name=name,
        screen_id=_int(obj.get("screen_id", 0), f"{path}.screen_id"),
        screen_name=_string(obj.get("screen_name", ""), f"{path}.screen_name", 256),
        resolution=_string(obj.get("resolution", ""), f"{path}.resolution", 64),
        current_playlist=None if current is None else _int(current, f"{path}.current_playlist"),
        playlists=tuple(
            _playlist(p, f"{path}.playlists[{i}]") for i, p in enumerate(playlists_raw)
        ),
    )


def _playlist(raw: Any, path: str) -> Playlist:
    obj = _object(raw, path)
    items_raw = obj.get("media_items", [])
    if not isinstance(items_raw, list):
        raise ProtocolError(f"{path}.media_items: must be a list")
    if len(items_raw) > MAX_ITEMS_PER_PLAYLIST:
        raise ProtocolError(f"{path}.media_items: more than {MAX_ITEMS_PER_PLAYLIST} items")
    items: list[MediaItem] = []
    rejected: list[str] = []
    for i, item in enumerate(items_raw):
        try:
            items.append(_media_item(item, f"{path}.media_items[{i}]"))
        except ProtocolError as exc:
            name = item.get("media_name") if isinstance(item, dict) else None
            rejected.append(name if isinstance(name, str) and name else str(exc))
    items.sort(key=lambda m: m.order)
    ids = [m.media_id for m in items]
    if len(set(ids)) != len(ids):
        raise ProtocolError(f"{path}.media_items: media_id values must be unique")
    config = _object(obj.get("playback_config") or {}, f"{path}.playback_config")
    return Playlist(
        id=_int(obj.get("id"), f"{path}.id"),
        name=_string(obj.get("name", ""), f"{path}.name", 512),
        width=_int(obj.get("width", 0), f"{path}.width", 0, 65_535),
        height=_int(obj.get("height", 0), f"{path}.height", 0, 65_535),
        duration=_number(obj.get("duration", 0), f"{path}.duration"),
        media_items=tuple(items),
        playback_config=PlaybackConfig(
            repeat=_bool(config.get("repeat", True), f"{path}.playback_config.repeat"),
            repeat_count=_int(
                config.get("repeat_count", -1), f"{path}.playback_config.repeat_count", -1
            ),
            background_color=_string(
                config.get("background_color", "#000000"),
                f"{path}.playback_config.background_color",
                16,
            ),
        ),
        rejected=(*rejected, *_strings(obj.get("rejected", []), f"{path}.rejected")),
    )


def parse_media_item(raw: Any) -> MediaItem:
    """One media item as a playlist carries it; a ProtocolError names the bad field."""
    return _media_item(raw, "media_item")


def _media_item(raw: Any, path: str) -> MediaItem:
    obj = _object(raw, path)
    checksum = _string(obj.get("checksum"), f"{path}.checksum", 64)
    if not _MD5.match(checksum):
        raise ProtocolError(f"{path}.checksum: must be 32 hex digits (an MD5)")
    media_type = _string(obj.get("media_type"), f"{path}.media_type", 32)
    if media_type not in ("image", "video"):
        raise ProtocolError(f"{path}.media_type: must be image or video (got {media_type!r})")
    layout = _object(obj.get("layout") or {}, f"{path}.layout")
    timing = _object(obj.get("timing") or {}, f"{path}.timing")
    effects = _object(obj.get("effects") or {}, f"{path}.effects")
    return MediaItem(
        media_id=_int(obj.get("media_id"), f"{path}.media_id", 0),
        order=_int(obj.get("order", 0), f"{path}.order", -_INT_MAX),
        media_name=_string(obj.get("media_name"), f"{path}.media_name", 1024, empty=False),
        media_type=media_type,
        mimetype=_string(obj.get("mimetype", ""), f"{path}.mimetype", 128),
        media_url=_string(obj.get("media_url"), f"{path}.media_url", 4096, empty=False),
        file_size=_int(obj.get("file_size"), f"{path}.file_size", 0),
        checksum=checksum.lower(),
        layout=Layout(
            **{
                k: _int(layout.get(k, 0), f"{path}.layout.{k}", -_INT_MAX)
                for k in ("x", "y", "width", "height", "z_index")
            }
        ),
        timing=Timing(
            start_time=_number(timing.get("start_time", 0), f"{path}.timing.start_time"),
            duration=_number(timing.get("duration", 10), f"{path}.timing.duration"),
            loop=_bool(timing.get("loop", False), f"{path}.timing.loop"),
        ),
        effects=Effects(
            fade_in=_bool(effects.get("fade_in", False), f"{path}.effects.fade_in"),
            fade_out=_bool(effects.get("fade_out", False), f"{path}.effects.fade_out"),
            transition=_string(effects.get("transition", "none"), f"{path}.effects.transition", 32),
        ),
        n_time_play=_int(obj.get("n_time_play", 1), f"{path}.n_time_play", 0, 1_000_000),
    )


# Control actions (server -> box)


@attrs.frozen
class Play:
    pass


@attrs.frozen
class Pause:
    pass


@attrs.frozen
class Next:
    pass


@attrs.frozen
class Previous:
    pass


@attrs.frozen
class ReloadPlaylist:
    pass


@attrs.frozen
class SwitchPlaylist:
    playlist_id: int


@attrs.frozen
class PlayMedia:
    media_id: int | None
    media_index: int | None


@attrs.frozen
class ShowTextOverlay:
    overlay: TextOverlay


@attrs.frozen
class HideTextOverlay:
    pass


@attrs.frozen
class SetBrightness:
    brightness: int


@attrs.frozen
class SetVolume:
    volume: int


@attrs.frozen
class CleanupOldPlaylists:
    keep: tuple[int, ...]


Action = (
    Play
    | Pause
    | Next
    | Previous
    | ReloadPlaylist
    | SwitchPlaylist
    | PlayMedia
    | ShowTextOverlay
    | HideTextOverlay
    | SetBrightness
    | SetVolume
    | CleanupOldPlaylists
)

_SIMPLE: dict[str, Action] = {
    "play": Play(),
    "pause": Pause(),
    "next": Next(),
    "previous": Previous(),
    "reload_playlist": ReloadPlaylist(),
    "hide_text_overlay": HideTextOverlay(),
}


class UnknownAction(ProtocolError):
    """A well-formed message whose action this box does not know; logged and ignored."""


def decode_message(raw: str | bytes) -> dict[str, Any]:
    """One WebSocket text frame as a JSON object, bounded in size and depth."""
    if len(raw) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message larger than {MAX_MESSAGE_BYTES} bytes")
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ProtocolError(f"not valid JSON ({exc})") from None
    if depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
        raise ProtocolError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return _object(value, "message")


def parse_action(raw: str | bytes) -> Action:
    """A server -> box message as a typed action, or ProtocolError saying what is wrong."""
    msg = decode_message(raw)
    name = msg.get("action")
    if not isinstance(name, str):
        raise ProtocolError(f"action: must be a string (got {name!r})")
    if name in _SIMPLE:
        return _SIMPLE[name]
    try:
        match name:
            case "switch_playlist":
                return SwitchPlaylist(_int(msg.get("playlist_id"), "playlist_id", 0))
            case "play_media":
                media_id, index = msg.get("media_id"), msg.get("media_index")
                if media_id is None and index is None:
                    raise ProtocolError("play_media: needs media_id or media_index")
                return PlayMedia(
                    None if media_id is None else _int(media_id, "media_id", 0),
                    None if index is None else _int(index, "media_index", 0),
                )
            case "show_text_overlay":
                return ShowTextOverlay(_overlay(msg.get("text_overlay")))
            case "set_brightness":
                return SetBrightness(check_level("brightness", msg.get("brightness")))
            case "set_volume":
                return SetVolume(check_level("volume", msg.get("volume")))
            case "cleanup_old_playlists":
                keep = msg.get("playlistIdsToKeep", msg.get("playlist_ids_to_keep"))
                if not isinstance(keep, list):
                    raise ProtocolError("playlistIdsToKeep: must be a list of playlist ids")
                return CleanupOldPlaylists(
                    tuple(_int(k, f"playlistIdsToKeep[{i}]", 0) for i, k in enumerate(keep))
                )
    except ValidationError as exc:
        raise ProtocolError(str(exc)) from None
    raise UnknownAction(f"unknown action {name[:64]!r}")


def _overlay(raw: Any) -> TextOverlay:
    obj = _object(raw, "text_overlay")
    fields: dict[str, Any] = {"text": obj.get("text")}
    for key, kind in (
        ("position", str),
        ("animation", str),
        ("speed", float),
        ("font_size", int),
        ("background_color", str),
        ("text_color", str),
    ):
        if obj.get(key) is None:
            continue
        value = obj[key]
        if kind is float:
            value = _number(value, f"text_overlay.{key}")
        elif kind is int:
            value = _int(value, f"text_overlay.{key}")
        elif not isinstance(value, str):
            raise ProtocolError(f"text_overlay.{key}: must be a string (got {value!r})")
        fields[key] = value
    if not isinstance(fields["text"], str):
        raise ProtocolError("text_overlay.text: must be a string")
    return TextOverlay(**fields)


# Status messages (box -> server)

STATUSES = ("downloading", "ready", "partial", "failed")


def playlist_status(
    playlist_id: int,
    status: str,
    total_items: int,
    downloaded_items: int,
    *,
    missing_files: Iterable[str] = (),
    error: str | None = None,
) -> dict[str, Any]:
    """A `playlist_status` message with exactly the fields the document lists for `status`."""
    if status not in STATUSES:
        raise ValueError(f"unknown playlist status {status!r}")
    msg: dict[str, Any] = {
        "type": "playlist_status",
        "playlist_id": playlist_id,
        "status": status,
        "total_items": total_items,
        "downloaded_items": downloaded_items,
    }
    if status == "partial":
        msg["missing_files"] = list(missing_files)
    if status == "failed" and error:
        msg["error"] = error
    return msg


def ready_playlists(playlist_ids: Iterable[int]) -> dict[str, Any]:
    return {"type": "ready_playlists", "playlist_ids": sorted(set(playlist_ids))}


def device_storage(total_bytes: int, free_bytes: int, used_by_media: int) -> dict[str, Any]:
    return {
        "type": "device_storage",
        "total_storage": human_bytes(total_bytes),
        "free_storage": human_bytes(free_bytes),
        "media_bytes": used_by_media,
    }


def outcome(total: int, downloaded: int, missing: list[str]) -> str:
    """ready / partial / failed once every item of a playlist has been tried."""
    if not missing:
        return "ready"
    return "partial" if downloaded > 0 else "failed"


# Plain checks; every message names the field.


def _object(value: Any, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ProtocolError(f"{path}: must be a JSON object (got {type(value).__name__})")
    return value


def _string(value: Any, path: str, max_len: int, *, empty: bool = True) -> str:
    if not isinstance(value, str):
        raise ProtocolError(f"{path}: must be a string (got {type(value).__name__})")
    if len(value) > max_len:
        raise ProtocolError(f"{path}: longer than {max_len} characters")
    if not empty and not value:
        raise ProtocolError(f"{path}: must not be empty")
    return value


def _strings(value: Any, path: str) -> list[str]:
    if not isinstance(value, list):
        raise ProtocolError(f"{path}: must be a list")
    return [_string(v, f"{path}[{i}]", 1024) for i, v in enumerate(value)]


def _int(value: Any, path: str, low: int = -_INT_MAX, high: int = _INT_MAX) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ProtocolError(f"{path}: must be an integer (got {value!r:.40})")
    if not low <= value <= high:
        raise ProtocolError(f"{path}: must be between {low} and {high} (got {value})")
    return value


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ProtocolError(f"{path}: must be a number (got {value!r:.40})")
    if not -_INT_MAX <= value <= _INT_MAX:
        raise ProtocolError(f"{path}: out of range")
    return float(value)


def _bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise ProtocolError(f"{path}: must be true or false (got {value!r:.40})")
    return value
