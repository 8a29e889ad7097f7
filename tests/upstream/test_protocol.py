from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edgebox.core.errors import ProtocolError
from edgebox.core.values import TextOverlay
from edgebox.upstream import protocol as p

ITEM: dict[str, Any] = {
    "media_id": 1001,
    "order": 2,
    "media_name": "logo1.jpg",
    "media_type": "image",
    "mimetype": "image/jpeg",
    "media_url": "/media/images/logo1.jpg",
    "file_size": 524288,
    "checksum": "5d41402abc4b2a76b9719d911017c592",
    "layout": {"x": 0, "y": 0, "width": 1920, "height": 1080, "z_index": 1},
    "timing": {"start_time": 0, "duration": 10, "loop": False},
    "effects": {"fade_in": True, "fade_out": True, "transition": "slide"},
    "n_time_play": 1,
}


def screens(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "sn_number": "SN-1",
        "front_screen": {
            "screen_id": 1,
            "screen_name": "Front Display",
            "resolution": "1920x1080",
            "current_playlist": 101,
            "playlists": [
                {
                    "id": 101,
                    "name": "Morning",
                    "width": 1920,
                    "height": 1080,
                    "duration": 120,
                    "media_items": items,
                }
            ],
        },
        "back_screen": None,
        "right_screen": None,
        "left_screen": None,
    }


def test_the_documents_playlist_example_parses_and_round_trips_through_the_snapshot() -> None:
    second = {**ITEM, "media_id": 1002, "order": 1, "media_name": "ad.mp4", "media_type": "video"}
    parsed = p.parse_screens(screens([ITEM, second]))
    playlist = parsed.screens["front"].playlists[0]
    assert playlist.media_ids == [1002, 1001]
    assert playlist.media_items[1].effects.transition == "slide"
    assert parsed.find(101) == ("front", playlist)
    assert p.parse_screens(p.screens_to_json(parsed)) == parsed


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"checksum": "abc"}, "checksum"),
        ({"checksum": "z" * 32}, "checksum"),
        ({"file_size": "big"}, "file_size"),
        ({"file_size": -1}, "file_size"),
        ({"media_type": "flash"}, "media_type"),
        ({"media_id": True}, "media_id"),
        ({"timing": {"duration": "ten"}}, "timing.duration"),
    ],
)
def test_a_bad_media_item_is_rejected_by_name_and_the_rest_of_the_playlist_kept(
    change: dict[str, Any], reason: str
) -> None:
    bad = {**ITEM, "media_id": 7, "media_name": "bad.jpg", **change}
    playlist = p.parse_screens(screens([ITEM, bad])).screens["front"].playlists[0]
    assert playlist.media_ids == [1001]
    assert playlist.rejected == ("bad.jpg",)
    assert playlist.total_items == 2


def test_a_malformed_screen_is_a_protocol_error_naming_the_field() -> None:
    data = screens([ITEM])
    data["front_screen"]["playlists"] = "none"
    with pytest.raises(ProtocolError, match=r"front_screen\.playlists"):
        p.parse_screens(data)


@pytest.mark.parametrize(
    ("message", "action"),
    [
        ({"action": "play"}, p.Play()),
        ({"action": "pause"}, p.Pause()),
        ({"action": "next"}, p.Next()),
        ({"action": "previous"}, p.Previous()),
        ({"action": "reload_playlist"}, p.ReloadPlaylist()),
        ({"action": "switch_playlist", "playlist_id": 102}, p.SwitchPlaylist(102)),
        ({"action": "play_media", "media_id": 1005, "media_index": 3}, p.PlayMedia(1005, 3)),
        ({"action": "play_media", "media_index": 0}, p.PlayMedia(None, 0)),
        ({"action": "hide_text_overlay"}, p.HideTextOverlay()),
        ({"action": "set_brightness", "brightness": 75}, p.SetBrightness(75)),
        ({"action": "set_volume", "volume": 60}, p.SetVolume(60)),
        (
            {"action": "cleanup_old_playlists", "playlistIdsToKeep": [1, 2]},
            p.CleanupOldPlaylists((1, 2)),
        ),
        (
            {
                "action": "show_text_overlay",
                "text_overlay": {
                    "text": "Special Promotion Today!",
                    "position": "bottom",
                    "animation": "scroll",
                    "speed": 50.0,
                    "font_size": 24,
                    "background_color": "#000000",
                    "text_color": "#FFFFFF",
                },
            },
            p.ShowTextOverlay(
                TextOverlay(
                    "Special Promotion Today!", "bottom", "scroll", 50.0, 24, "#000000", "#FFFFFF"
                )
            ),
        ),
    ],
)
def test_every_documented_action_parses_into_its_typed_value(
    message: dict[str, Any], action: p.Action
) -> None:
    assert p.parse_action(json.dumps(message)) == action


@pytest.mark.parametrize(
    "raw",
    [
        "not json",
        "[1, 2]",
        '{"action": 5}',
        '{"action": "set_brightness", "brightness": 101}',
        '{"action": "set_brightness", "brightness": "75"}',
        '{"action": "set_volume", "volume": true}',
        '{"action": "switch_playlist"}',
        '{"action": "play_media"}',
        '{"action": "show_text_overlay", "text_overlay": {"text": ""}}',
        '{"action": "show_text_overlay", "text_overlay": {"text": "x", "position": "middle"}}',
        '{"action": "cleanup_old_playlists", "playlistIdsToKeep": "all"}',
        "[" * 100 + "]" * 100,
    ],
)
def test_malformed_actions_are_protocol_errors(raw: str) -> None:
    with pytest.raises(ProtocolError):
        p.parse_action(raw)


def test_an_unknown_action_is_its_own_error_so_it_can_be_logged_and_ignored() -> None:
    with pytest.raises(p.UnknownAction, match="reboot"):
        p.parse_action('{"action": "reboot"}')


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda kids: st.lists(kids) | st.dictionaries(st.text(), kids),
    )
)
def test_any_json_is_an_action_or_a_protocol_error(value: Any) -> None:
    try:
        p.parse_action(json.dumps({"action": "set_brightness", "brightness": value}))
        p.parse_screens(value)
    except ProtocolError:
        pass


def test_status_messages_carry_exactly_the_documents_fields() -> None:
    assert p.playlist_status(101, "downloading", 7, 3) == {
        "type": "playlist_status",
        "playlist_id": 101,
        "status": "downloading",
        "total_items": 7,
        "downloaded_items": 3,
    }
    assert p.playlist_status(101, "partial", 7, 5, missing_files=["a.mp4"])["missing_files"] == [
        "a.mp4"
    ]
    failed = p.playlist_status(101, "failed", 7, 0, error="Network error")
    assert failed["error"] == "Network error" and "missing_files" not in failed
    assert p.ready_playlists([103, 101, 101]) == {
        "type": "ready_playlists",
        "playlist_ids": [101, 103],
    }
    assert [p.outcome(3, 3, []), p.outcome(3, 2, ["x"]), p.outcome(3, 0, ["x", "y", "z"])] == [
        "ready",
        "partial",
        "failed",
    ]


def test_tokens_expire_on_the_given_clock_and_are_due_ahead_of_time() -> None:
    tokens = p.parse_tokens({"access": "a" * 20, "refresh": "r" * 20, "expires_in": 3600}, 1000.0)
    assert tokens.expires_at == 4600.0
    assert not tokens.due(4299.0, 300)
    assert tokens.due(4300.0, 300)
    assert "a" * 20 not in repr(tokens)
    with pytest.raises(ProtocolError):
        p.parse_tokens({"access": "a", "expires_in": 3600}, 0)
