"""The player: stepping through the playlist, preview, frame rate, and frames on real ptys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.testing

from edgebox.core import config
from edgebox.core.config import CanvasConfig
from edgebox.drivers.framing import Panel
from edgebox.hub import Hub
from edgebox.ledsign.model import LedItem, Rainbow, TextContent
from edgebox.ledsign.player import Cursor, Player, item_length
from edgebox.ledsign.render import Renderer, pass_seconds
from edgebox.runtime import wiring
from tests.support.fakes.panel import MakePanel

WHITE = (255, 255, 255)


def text_item(item_id: str, duration: float | None = None, repeats: int | None = None) -> LedItem:
    content = TextContent(item_id.upper(), scroll=repeats is not None, color=WHITE, speed=32.0)
    return LedItem(item_id, duration, repeats, None, content)


def test_cursor_steps_by_duration_and_wraps_round() -> None:
    cursor = Cursor(64, 32, started=100.0)
    cursor.follow((text_item("a", 2.0), text_item("b", 3.0)), 100.0)
    shown = [
        (cursor.at(100.0 + t)[0].id, round(cursor.at(100.0 + t)[1], 3))
        for t in (0, 1.9, 2, 4.9, 5, 7.5)
    ]  # type: ignore[union-attr]
    assert shown == [("a", 0), ("a", 1.9), ("b", 0), ("b", 2.9), ("a", 0), ("b", 0.5)]


def test_a_scrolling_item_lasts_its_repeat_count_of_full_passes() -> None:
    scrolling = text_item("s", repeats=3)
    one_pass = pass_seconds(scrolling.content, 64, 32)  # type: ignore[arg-type]
    assert one_pass == (64 + (6 + 1) * 2) / 32  # a 6 px glyph (+1 px) at scale 2
    assert item_length(scrolling, 64, 32) == 3 * one_pass
    assert item_length(text_item("f", repeats=0), 64, 32) == float("inf")
    cursor = Cursor(64, 32)
    cursor.follow((scrolling, text_item("b", 1.0)), 0.0)
    assert cursor.at(3 * one_pass - 0.01)[0] == scrolling
    assert cursor.at(3 * one_pass + 0.01)[0].id == "b"  # type: ignore[union-attr]


def test_cursor_keeps_its_item_when_others_change_and_restarts_an_edited_one() -> None:
    a, b, c = text_item("a", 5.0), text_item("b", 5.0), text_item("c", 5.0)
    cursor = Cursor(64, 32)
    cursor.follow((a, b), 0.0)
    assert cursor.at(6.0)[0] == b
    cursor.follow((c, a, b), 6.5)
    assert cursor.at(7.0) == (b, 2.0)
    edited = LedItem("b", 5.0, None, Rainbow(), b.content)
    cursor.follow((c, a, edited), 8.0)
    assert cursor.at(8.0) == (edited, 0.0)
    cursor.follow((c,), 9.0)
    assert cursor.at(9.0) == (c, 0.0)


def make_player(hub: Hub, tmp_path: Path, fps: float = 30.0) -> Player:
    return Player(CanvasConfig(name="main", width=64, height=32, fps=fps), hub, [], tmp_path)


async def test_player_makes_frames_at_the_canvas_rate_without_drift(
    hub: Hub, tmp_path: Path, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    player = make_player(hub, tmp_path, fps=30)
    began = trio.current_time()
    await nursery.start(player.run)
    await trio.sleep_until(began + 10.0 + 0.001)
    assert player.stats.frames == 301
    assert player.stats.skipped == 0
    assert player.stats.showing == "idle"


async def test_player_skips_frames_it_is_too_late_for(
    hub: Hub, tmp_path: Path, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    player = make_player(hub, tmp_path, fps=10)
    original = player.frame

    def slow_once(now: float):  # type: ignore[no-untyped-def]
        if player.stats.frames == 5:
            autojump_clock.jump(0.35)
        return original(now)

    player.frame = slow_once  # type: ignore[method-assign]
    began = trio.current_time()
    with hub.subscribe({"frame"}, maxlen=1):  # someone watches: every frame is drawn
        await nursery.start(player.run)
        await trio.sleep_until(began + 2.0 + 0.001)
    assert player.stats.skipped == 3
    assert player.stats.frames == 21 - 3


async def test_a_canvas_without_panels_is_drawn_only_while_its_frames_are_read(
    hub: Hub, tmp_path: Path, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    await hub.add_led_item(text_item("a", 2.0))
    await hub.add_led_item(text_item("b", 2.0))
    player = make_player(hub, tmp_path, fps=10)
    drawn: list[float] = []
    original = player.frame

    def counted(now: float):  # type: ignore[no-untyped-def]
        drawn.append(now)
        return original(now)

    player.frame = counted  # type: ignore[method-assign]
    began = trio.current_time()
    await nursery.start(player.run)
    await trio.sleep_until(began + 2.55)
    assert drawn == []
    assert player.stats.frames == 26 and player.stats.showing == "b"  # time is kept all along
    with hub.subscribe({"frame"}, maxlen=100) as frames:
        await trio.sleep_until(began + 3.05)
        assert len(drawn) == 5
        got = [await frames.get() for _ in range(5)]
        assert {change.value[0] for change in got} == {"main"}
    await trio.sleep_until(began + 4.05)
    assert len(drawn) == 5
    assert player.stats.showing == "a"


async def test_player_steps_through_the_hub_playlist_and_shows_a_preview_until_it_expires(
    hub: Hub, tmp_path: Path, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    await hub.add_led_item(text_item("a", 2.0))
    await hub.add_led_item(text_item("b", 2.0))
    player = make_player(hub, tmp_path)
    began = trio.current_time()
    await nursery.start(player.run)

    async def at(t: float) -> str | None:
        await trio.sleep_until(began + t)
        await trio.sleep(0.04)  # one frame later
        return player.stats.showing

    assert await at(1.0) == "a"
    assert await at(2.5) == "b"
    lock = await hub.start_preview(text_item("p", 10.0))
    assert await at(2.6) == "preview:p"
    await hub.ping_preview(lock.session_id)
    assert await at(7.0) == "preview:p"
    assert await at(7.7) != "preview:p"  # 5 s after the last ping at 2.6
    # Back on the playlist, from the start of the item that was interrupted.
    assert player.stats.showing == "b"
    assert await at(9.5) == "b"
    assert await at(9.7) == "a"
    await hub.delete_led_item("a")
    await hub.delete_led_item("b")
    assert await at(10.0) == "idle"


async def test_player_draws_the_cloud_overlay_on_top(
    hub: Hub, tmp_path: Path, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    from edgebox.core.values import TextOverlay

    player = make_player(hub, tmp_path)
    await nursery.start(player.run)
    await hub.show_overlay(
        TextOverlay("NEWS", position="top", animation="static", background_color="#00FF00")
    )
    with hub.subscribe({"frame"}) as frames:
        change = await frames.get()
    name, frame = change.value
    assert name == "main"
    assert frame.getpixel((0, 0)) == (0, 255, 0)


# End to end: the whole box, panels on ptys.


@pytest.fixture
async def tiled_box(
    make_config: Callable[..., config.VenueConfig], panels: MakePanel, nursery: trio.Nursery
) -> tuple[wiring.Box, object, object]:
    """A running box whose 128x32 canvas is tiled by two 64x32 virtual panels (Adalight, TPM2)."""
    left = await panels(64, 32, protocol="adalight")
    right = await panels(64, 32, protocol="tpm2", wiring="serpentine", color_order="GRB")
    cfg = make_config(
        canvases=[{"name": "main", "width": 128, "height": 32, "fps": 30.0}],
        panels=[
            {"name": "left", "port": str(left.path), "baudrate": 2_000_000},
            {
                "name": "right", "port": str(right.path), "protocol": "tpm2",
                "baudrate": 2_000_000, "x": 64, "wiring": "serpentine", "color_order": "GRB",
            },
        ],
    )  # fmt: skip
    box = await wiring.open_box(cfg)
    await nursery.start(wiring.run, box)
    return box, left, right


def expected(box: wiring.Box, name: str, item: LedItem, brightness: int) -> bytes:
    """What panel `name` must receive for a still item, from the renderer and the panel model."""
    cfg = next(p for p in box.config.panels if p.name == name)
    canvas = Renderer(128, 32).render(item, 0.0)
    image = Panel.from_config(cfg).picture(canvas, brightness)
    return image.tobytes()


async def test_an_item_added_to_the_hub_appears_on_two_tiled_ptys_and_follows_brightness(
    tiled_box: tuple[wiring.Box, object, object],
) -> None:
    box, left, right = tiled_box
    item = LedItem("hello", 60.0, None, None, TextContent("HELLO WORLD", color=(255, 160, 0)))
    await box.hub.add_led_item(item)
    with trio.fail_after(5):
        for panel, name in ((left, "left"), (right, "right")):
            want = expected(box, name, item, 100)
            await panel.wait_for(lambda p, want=want: p.image().tobytes() == want)  # type: ignore[attr-defined]
        assert left.image().getbbox() and right.image().getbbox()  # type: ignore[attr-defined]
        before = left.last_frame  # type: ignore[attr-defined]
        await box.hub.set_brightness(30)
        for panel, name in ((left, "left"), (right, "right")):
            want = expected(box, name, item, 30)
            await panel.wait_for(lambda p, want=want: p.image().tobytes() == want)  # type: ignore[attr-defined]
    assert left.last_frame != before  # type: ignore[attr-defined]
    assert left.counts.bad == right.counts.bad == 0  # type: ignore[attr-defined]
    assert box.panels["left"].stats.frames_sent > 0


async def test_pulling_one_pty_away_does_not_stop_the_other_and_it_comes_back(
    tiled_box: tuple[wiring.Box, object, object],
) -> None:
    box, left, right = tiled_box
    box.panels["left"].link.reopen_interval = 0.2
    with trio.fail_after(10):
        await left.wait_for(frames=3)  # type: ignore[attr-defined]
        left.unplug()  # type: ignore[attr-defined]
        while box.panels["left"].stats.connected:
            await trio.sleep(0.01)
        await right.wait_for(frames=15)  # type: ignore[attr-defined]
        assert not box.panels["left"].stats.connected
        left.plug()  # type: ignore[attr-defined]
        await left.wait_for(frames=5)  # type: ignore[attr-defined]
        await right.wait_for(frames=5)  # type: ignore[attr-defined]
    assert box.panels["left"].stats.opens == 2
    assert box.supervisor.states["panel:right"].restarts == 0


async def test_a_brightness_change_reaches_the_panels_without_waiting_for_the_next_tick(
    hub: Hub, tmp_path: Path, mock_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    """The clock stands still: no tick comes after the first frame, yet the new level shows."""
    shown: list[int] = []

    class Recorder:
        def show(self, canvas: object, brightness: int) -> None:
            shown.append(brightness)

    canvas = CanvasConfig(name="main", width=64, height=32, fps=1.0)
    player = Player(canvas, hub, [Recorder()], tmp_path)  # type: ignore[list-item]
    await nursery.start(player.run)
    await trio.testing.wait_all_tasks_blocked()
    assert player.stats.frames == 1 and shown == [100]
    await hub.set_brightness(40)
    await trio.testing.wait_all_tasks_blocked()
    assert shown == [100, 40] and player.stats.frames == 1
