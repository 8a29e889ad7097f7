"""The cloud screen player: order and durations, control, overlay, screenshots, restart."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing
from PIL import Image

from edgebox.cache.store import Store
from edgebox.core import config
from edgebox.core.backoff import Backoff
from edgebox.core.config import CanvasConfig, PanelConfig
from edgebox.core.errors import UpstreamError
from edgebox.core.values import (
    DeviceScreens,
    Effects,
    MediaItem,
    PlaybackConfig,
    Playlist,
    Screen,
    TextOverlay,
)
from edgebox.drivers.driver import PanelDriver
from edgebox.drivers.framing import level_table
from edgebox.hub import Hub
from edgebox.runtime import wiring
from edgebox.screens.player import ScreenPlayer
from edgebox.screens.screenshots import Screenshots
from edgebox.sim.cloud import SimCloud
from edgebox.sim.panel import VirtualPanel
from edgebox.upstream.client import CloudClient
from tests.support.fakes.panel import MakePanel
from tests.support.mediafiles import close, media_item, write_image, write_video
from tests.upstream.test_client import cloud_config

RED, GREEN, BLUE, YELLOW = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0)
GREY = (32, 32, 32)
CYCLE = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255), (255, 0, 255)]


async def inline(fn: Callable[..., Any], *args: Any) -> Any:
    """Runs blocking work on the trio thread, so MockClock time cannot move while it runs."""
    return fn(*args)


def playlist(*items: MediaItem, repeat_count: int = -1, background: str = "#000000") -> Playlist:
    return Playlist(7, "test", 1920, 1080, 0, items, PlaybackConfig(True, repeat_count, background))


def locate_in(shelf: dict[int, Path]) -> Callable[[MediaItem], Path | None]:
    return lambda item: shelf.get(item.media_id)


def make_player(
    hub: Hub,
    plays: Playlist,
    shelf: dict[int, Path],
    panels: tuple[PanelDriver, ...] = (),
    *,
    fps: float = 20.0,
    offload: Any = inline,
) -> ScreenPlayer:
    canvas = CanvasConfig(name="main", width=64, height=32, source="cloud:front", fps=fps)
    return ScreenPlayer(
        canvas,
        "front",
        hub,
        list(panels),
        {plays.id: plays}.get,
        locate_in(shelf),
        offload=offload,
    )


def shelf_of(plays: Playlist, media_dir: Path) -> dict[int, Path]:
    """Every item of `plays` in the cache: its file, as `media_item` wrote it."""
    return {item.media_id: media_dir / item.media_name for item in plays.media_items}


@pytest.fixture
def media_dir(tmp_path: Path) -> Path:
    path = tmp_path / "media"
    path.mkdir()
    return path


def centre(player: ScreenPlayer) -> tuple[int, int, int]:
    assert player.last_frame is not None
    return player.last_frame.getpixel((32, 16))  # type: ignore[return-value]


# Order and durations, on MockClock time


async def test_images_and_a_video_play_in_order_for_their_durations_and_passes(
    hub: Hub, media_dir: Path, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    red = media_item(
        1,
        write_image(media_dir / "red.png", RED),
        duration=2.0,
        n_time_play=2,
        effects=Effects(fade_in=True),
    )
    video = media_item(2, write_video(media_dir / "clip.mp4", [BLUE, YELLOW], 0.5), duration=0)
    green = media_item(3, write_image(media_dir / "green.png", GREEN), duration=1.5)
    plays = playlist(red, video, green, repeat_count=1, background="#202020")
    await hub.set_playlist("front", 7, plays.media_ids)
    player = make_player(hub, plays, shelf_of(plays, media_dir))
    began = trio.current_time()
    await nursery.start(player.run)

    async def at(t: float) -> tuple[int | None, tuple[int, int, int]]:
        await trio.sleep_until(began + t)
        return player.media_id, centre(player)

    # Red twice (each play fades in again), the video for its own 1 s, green 1.5 s; twice.
    for lap in (0.0, 6.5):
        media, color = await at(lap + 0.12)
        assert media == 1 and color[0] < 120  # fading in
        assert await at(lap + 1.97) == (1, RED)
        media, color = await at(lap + 2.12)
        assert media == 1 and color[0] < 120  # the second play fades in again
        assert player.position is not None and player.position.play == 1
        assert await at(lap + 3.97) == (1, RED)
        media, color = await at(lap + 4.07)
        assert media == 2 and close(color, BLUE)
        media, color = await at(lap + 4.57)
        assert media == 2 and close(color, YELLOW)
        media, color = await at(lap + 4.97)
        assert media == 2 and close(color, YELLOW)
        assert await at(lap + 5.07) == (3, GREEN)
        assert await at(lap + 6.47) == (3, GREEN)
    # repeat_count 1: two passes, then the background colour and no media.
    assert await at(13.07) == (None, GREY)
    assert await at(30.0) == (None, GREY)
    assert player.stats.showing == "done"
    assert player.stats.skipped == 0


async def test_a_looping_video_loops_in_its_slot_and_a_video_played_twice_starts_again(
    hub: Hub, media_dir: Path, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    looping = media_item(
        1, write_video(media_dir / "a.mp4", [BLUE, YELLOW], 0.5), duration=2.5, loop=True
    )
    twice = media_item(
        2, write_video(media_dir / "b.mp4", [GREEN, RED], 0.5), duration=1.5, n_time_play=2
    )
    plays = playlist(looping, twice)
    await hub.set_playlist("front", 7, plays.media_ids)
    player = make_player(hub, plays, shelf_of(plays, media_dir))
    began = trio.current_time()
    await nursery.start(player.run)

    async def at(t: float) -> tuple[int, int, int]:
        await trio.sleep_until(began + t)
        return centre(player)

    for t, color in [
        *[(0.07, BLUE), (0.57, YELLOW), (1.07, BLUE), (1.57, YELLOW), (2.07, BLUE)],
        # 1 s of video in a 1.5 s slot holds its last frame; the second play starts over.
        *[(2.57, GREEN), (3.07, RED), (3.87, RED), (4.07, GREEN), (4.57, RED), (5.37, RED)],
        (5.57, BLUE),
    ]:
        assert close(await at(t), color), t
    assert player.stats.skipped == 0 and player.stats.video_late == 0


async def test_a_playlist_refreshed_upstream_keeps_the_video_where_it_was(
    hub: Hub, media_dir: Path, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    clip = media_item(1, write_video(media_dir / "a.mp4", CYCLE[:4], 0.5), duration=10, loop=True)
    red = media_item(2, write_image(media_dir / "red.png", RED), duration=5)
    snapshot = {7: playlist(clip)}
    canvas = CanvasConfig(name="main", width=64, height=32, source="cloud:front", fps=20)
    shelf = {1: media_dir / "a.mp4", 2: media_dir / "red.png"}
    player = ScreenPlayer(canvas, "front", hub, [], snapshot.get, locate_in(shelf), offload=inline)
    await hub.set_playlist("front", 7, [1])
    began = trio.current_time()
    await nursery.start(player.run)
    await trio.sleep_until(began + 1.27)
    assert close(centre(player), CYCLE[2])
    snapshot[7] = playlist(clip, red)  # the sync stores the new snapshot, then tells the hub
    await hub.refresh_playlist("front", [1, 2])
    # (The store writes in a thread, and MockClock time may run on meanwhile: read the time.)
    while len(player.timeline.entries) < 2:
        await trio.sleep(0.05)
    await trio.sleep(0.12)
    position = player.position
    assert position is not None and position.entry == 0
    assert abs(position.t - (trio.current_time() - began)) < 0.06  # not started over
    if 0.05 < position.t % 0.5 < 0.45:
        assert close(centre(player), CYCLE[int(position.t / 0.5) % 4])
    await trio.sleep_until(began + 10.2)
    assert centre(player) == RED


async def test_an_ended_playlist_pauses_on_its_background_and_play_starts_it_again(
    hub: Hub, media_dir: Path, panel: VirtualPanel, nursery: trio.Nursery
) -> None:
    plays = playlist(
        media_item(1, write_image(media_dir / "red.png", RED), duration=0.4),
        media_item(2, write_image(media_dir / "green.png", GREEN), duration=0.4),
        repeat_count=0,
        background="#202020",
    )
    await hub.set_playlist("front", 7, plays.media_ids)
    driver = await panel_driver(panel, nursery)
    player = make_player(
        hub, plays, shelf_of(plays, media_dir), (driver,), offload=trio.to_thread.run_sync
    )
    await nursery.start(player.run)
    await shows(panel, RED)
    await shows(panel, GREEN)
    await shows(panel, GREY)
    with trio.fail_after(5):
        while hub.playback["front"].playing:
            await trio.sleep(0.01)
    # The hub followed the player as it moved on by itself.
    assert hub.playback["front"].index == 1
    await hub.play()
    await shows(panel, RED)
    await shows(panel, GREEN)
    await shows(panel, GREY)


async def test_missing_media_is_skipped_and_joins_once_it_is_in_the_cache(
    hub: Hub, media_dir: Path, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    items = [
        media_item(i + 1, write_image(media_dir / f"{i}.png", color), duration=2.0)
        for i, color in enumerate((RED, GREEN, BLUE))
    ]
    plays = playlist(*items)
    shelf = {1: media_dir / "0.png", 3: media_dir / "2.png"}
    await hub.set_playlist("front", 7, plays.media_ids)
    player = make_player(hub, plays, shelf)
    began = trio.current_time()
    await nursery.start(player.run)

    async def at(t: float) -> int | None:
        await trio.sleep_until(began + t)
        return player.media_id

    assert [await at(t) for t in (1.0, 3.0, 4.5)] == [1, 3, 1]
    shelf[2] = media_dir / "1.png"  # downloaded meanwhile; red plays on till 6.0
    assert [await at(t) for t in (7.0, 9.0, 11.0)] == [2, 3, 1]
    assert centre(player) == RED


async def test_a_file_that_does_not_decode_is_skipped(
    hub: Hub, media_dir: Path, autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    broken = media_dir / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    items = [
        media_item(1, broken, duration=0),
        media_item(2, write_image(media_dir / "g.png", GREEN), duration=2.0),
    ]
    plays = playlist(*items)
    await hub.set_playlist("front", 7, plays.media_ids)
    player = make_player(hub, plays, shelf_of(plays, media_dir))
    began = trio.current_time()
    await nursery.start(player.run)
    await trio.sleep_until(began + 1.0)
    assert player.media_id == 2
    assert centre(player) == GREEN


# Control, overlay and brightness on a virtual panel (real time, real pty)


async def panel_driver(
    panel: VirtualPanel, nursery: trio.Nursery, *, width: int = 64, height: int = 32
) -> PanelDriver:
    cfg = PanelConfig(
        name="p",
        port=str(panel.path),
        baudrate=2_000_000,
        width=width,
        height=height,
        gamma=1.0,
    )
    driver = PanelDriver.from_config(cfg)
    await nursery.start(driver.run)
    return driver


async def shows(panel: VirtualPanel, color: tuple[int, int, int], xy: tuple[int, int] = (32, 16)):  # type: ignore[no-untyped-def]
    with trio.fail_after(10):
        await panel.wait_for(lambda p: close(p.pixel(*xy), color))


async def test_each_control_action_changes_what_the_panel_shows(
    hub: Hub, media_dir: Path, panel: VirtualPanel, nursery: trio.Nursery
) -> None:
    items = [
        media_item(i + 1, write_image(media_dir / f"{i}.png", color), duration=600)
        for i, color in enumerate((RED, GREEN, BLUE))
    ]
    cycling = write_video(media_dir / "cycle.mp4", CYCLE, 0.25, fps=20)
    items.append(media_item(4, cycling, duration=600, loop=True))
    plays = playlist(*items)
    await hub.set_playlist("front", 7, plays.media_ids)
    driver = await panel_driver(panel, nursery)
    player = make_player(
        hub, plays, shelf_of(plays, media_dir), (driver,), offload=trio.to_thread.run_sync
    )
    await nursery.start(player.run)
    await shows(panel, RED)
    await hub.next()
    await shows(panel, GREEN)
    await hub.next()
    await shows(panel, BLUE)
    await hub.previous()
    await shows(panel, GREEN)
    await hub.play_media(media_id=1)
    await shows(panel, RED)
    await hub.play_media(media_index=2)
    await shows(panel, BLUE)
    await hub.play_media(media_id=4)
    await shows(panel, CYCLE[1])  # the video runs through its colours
    await shows(panel, CYCLE[3])
    await hub.pause()
    with trio.fail_after(5):
        await panel.wait_for(frames=2)
        held = panel.image().tobytes()
        for _ in range(3):
            await trio.sleep(0.3)  # more than a colour of the video
            await panel.wait_for(frames=1)
            assert panel.image().tobytes() == held
    assert player.stats.paused
    await hub.play()
    with trio.fail_after(5):
        await panel.wait_for(lambda p: p.image().tobytes() != held)
    await hub.pause()
    await hub.next()  # a jump while paused shows the new item, still paused
    await shows(panel, RED)
    assert not hub.playback["front"].playing
    assert panel.counts.bad == 0


async def test_a_text_overlay_appears_over_a_video_and_goes_away_on_hide(
    hub: Hub, media_dir: Path, panel: VirtualPanel, nursery: trio.Nursery
) -> None:
    clip = write_video(media_dir / "blue.mp4", [BLUE, BLUE], 0.5, fps=10)
    plays = playlist(media_item(1, clip, duration=600, loop=True))
    await hub.set_playlist("front", 7, plays.media_ids)
    driver = await panel_driver(panel, nursery)
    await nursery.start(
        make_player(
            hub, plays, shelf_of(plays, media_dir), (driver,), offload=trio.to_thread.run_sync
        ).run
    )
    await shows(panel, BLUE, (1, 1))
    await hub.show_overlay(
        TextOverlay("SALE", position="top", animation="static", background_color="#FF00FF")
    )
    await shows(panel, (255, 0, 255), (1, 1))
    assert close(panel.pixel(32, 28), BLUE)  # the video goes on below the band
    await hub.set_brightness(40)  # every panel follows the hub's brightness
    dimmed = level_table(1.0, 40)[255]
    await shows(panel, (dimmed, 0, dimmed), (1, 1))
    await hub.hide_overlay()
    await shows(panel, (0, 0, dimmed), (1, 1))


# Screenshots


async def test_screenshots_wait_one_at_a_time_and_are_retried_after_a_backoff(
    autojump_clock: trio.testing.MockClock, nursery: trio.Nursery
) -> None:
    frames = iter(range(1000))
    attempts: list[tuple[float, int | None, bytes]] = []
    failing = [True]

    def capture() -> tuple[Image.Image, int]:
        return Image.new("RGB", (4, 4), (next(frames), 0, 0)), 5

    async def upload(media_id: int | None, jpeg: bytes) -> None:
        attempts.append((trio.current_time() - began, media_id, jpeg))
        if failing[0]:
            raise UpstreamError("the cloud is down")

    shots = Screenshots(
        capture,
        upload,
        interval=10.0,
        on_change=True,
        backoff=Backoff(initial=25.0, cap=25.0, jitter=0.0),
        offload=inline,
    )
    began = trio.current_time()
    await nursery.start(shots.run)
    await trio.sleep(10.5)
    assert [a[0] for a in attempts] == [10.0]
    for _ in range(5):  # media changes while the upload waits for its retry
        shots.media_changed()
        await trio.sleep(1.0)
    await trio.sleep_until(began + 60.5)
    # Captured every 10 s and on each change, but tried only at 10 s, then 25 s apart.
    assert [a[0] for a in attempts] == [10.0, 35.0, 60.0]
    assert shots.stats.taken == 11
    failing[0] = False
    await trio.sleep_until(began + 85.5)
    assert len(attempts) == 4
    assert shots.stats.uploaded == 1 and shots.pending is None
    newest = Image.open(io.BytesIO(attempts[-1][2])).getpixel((1, 1))
    assert abs(newest[0] - (shots.stats.taken - 1)) <= 3  # the latest capture, not an old one
    await trio.sleep_until(began + 90.5)
    assert len(attempts) == 5  # back on the period
    shots.media_changed()
    await trio.sleep(0.1)
    assert len(attempts) == 6


async def test_the_cloud_receives_screenshots_whose_pixels_match_the_panel(
    cloud: SimCloud,
    store: Store,
    hub: Hub,
    media_dir: Path,
    panel: VirtualPanel,
    nursery: trio.Nursery,
    tmp_path: Path,
) -> None:
    picture = Image.new("RGB", (320, 160), (255, 255, 255))
    for i, color in enumerate(CYCLE[:4]):
        picture.paste(color, (i * 80, 0, i * 80 + 80, 80))
        picture.paste(CYCLE[3 - i], (i * 80, 80, i * 80 + 80, 160))
    picture.save(media_dir / "blocks.png")
    plays = playlist(
        media_item(11, write_image(media_dir / "red.png", RED), duration=1.0),
        media_item(12, media_dir / "blocks.png", duration=600),
    )
    await hub.set_playlist("front", 7, plays.media_ids)
    driver = await panel_driver(panel, nursery)
    player = make_player(
        hub, plays, shelf_of(plays, media_dir), (driver,), offload=trio.to_thread.run_sync
    )
    cfg = cloud_config(cloud, tmp_path)
    async with CloudClient.make_http(cfg) as http:
        client = CloudClient(cfg, "SN-TEST-1", store, http)
        shots = Screenshots(player.snapshot, client.upload_screenshot, interval=0, on_change=True)
        player.on_media_change = shots.media_changed
        await nursery.start(shots.run)
        await nursery.start(player.run)
        with trio.fail_after(10):
            await cloud.wait_for(lambda: len(cloud.screenshots) >= 2)
        await shows(panel, CYCLE[0], (1, 1))
        shown = panel.image()
    first, second = cloud.screenshots[:2]
    assert (first.device_id, first.media_id, second.media_id) == ("SN-TEST-1", "11", "12")
    assert second.content_type == "image/jpeg"
    uploaded = Image.open(io.BytesIO(second.data))
    assert uploaded.size == shown.size
    for x in range(0, 64, 3):
        for y in range(0, 32, 3):
            assert close(uploaded.getpixel((x, y)), shown.getpixel((x, y)), 24), (x, y)
    assert close(Image.open(io.BytesIO(first.data)).getpixel((32, 16)), RED)


# The whole box: wiring and a restart


class Snapshot:
    """Stands in for the cloud sync: only the playlist snapshot it owns."""

    def __init__(self, screens: DeviceScreens) -> None:
        self.screens = screens


class Shelf:
    """Stands in for the media cache's lookup: the box's own files, by media id."""

    def __init__(self, paths: dict[int, Path]) -> None:
        self.paths = paths

    def locate(self, item: MediaItem) -> Path | None:
        return self.paths.get(item.media_id)


async def test_after_a_restart_the_box_resumes_the_screens_last_playlist_from_the_cache(
    make_config: Callable[..., config.VenueConfig], panels: MakePanel, media_dir: Path
) -> None:
    panel = await panels(64, 32)
    cfg = make_config(
        canvases=[{"name": "front", "width": 64, "height": 32, "source": "cloud:front"}],
        panels=[
            {"name": "p", "port": str(panel.path), "canvas": "front", "baudrate": 2_000_000,
             "gamma": 1.0},
        ],
    )  # fmt: skip
    items = [
        media_item(i + 1, write_image(media_dir / f"{i}.png", color), duration=600)
        for i, color in enumerate((RED, GREEN, BLUE))
    ]
    plays = playlist(*items)
    screens = DeviceScreens(
        "SN-TEST-1", {"front": Screen("front", 1, "Front", "64x32", 7, (plays,))}
    )
    shelf = Shelf({i + 1: media_dir / f"{i}.png" for i in range(3)})

    box = await wiring.open_box(cfg)
    async with trio.open_nursery() as running:
        await running.start(wiring.run, box)
        with trio.fail_after(5):
            await panel.wait_for(frames=2)
        assert box.players["front"].stats.showing == "idle"
        # The cloud side sets these once it runs; the player reads them when it needs them.
        box.sync, box.media = Snapshot(screens), shelf  # type: ignore[assignment]
        await box.hub.set_playlist("front", 7, plays.media_ids)
        await shows(panel, RED)
        await box.hub.next()
        await shows(panel, GREEN)
        await box.hub.pause()
        running.cancel_scope.cancel()
    box.store.close_sync()

    box = await wiring.open_box(cfg)
    box.sync, box.media = Snapshot(screens), shelf  # type: ignore[assignment]
    async with trio.open_nursery() as running:
        await running.start(wiring.run, box)
        await shows(panel, GREEN)
        player = box.players["front"]
        assert player.stats.showing == "media:2" and player.stats.paused  # type: ignore[union-attr]
        await box.hub.play()
        await box.hub.next()
        await shows(panel, BLUE)
        running.cancel_scope.cancel()
    box.store.close_sync()


async def test_a_box_plays_the_clouds_playlist_obeys_its_control_and_sends_it_screenshots(
    cloud: SimCloud,
    make_config: Callable[..., config.VenueConfig],
    panels: MakePanel,
    media_dir: Path,
    nursery: trio.Nursery,
) -> None:
    blocks = Image.new("RGB", (320, 160))
    for i, color in enumerate(CYCLE[:4]):
        blocks.paste(color, (i * 80, 0, i * 80 + 80, 160))
    blocks.save(media_dir / "blocks.png")
    write_image(media_dir / "green.png", GREEN)
    items = [
        cloud.add_media("blocks.png", (media_dir / "blocks.png").read_bytes(), duration=600),
        cloud.add_media("green.png", (media_dir / "green.png").read_bytes(), duration=600),
    ]
    cloud.set_playlists("front", [cloud.playlist(101, "Lobby", items)])
    panel = await panels(64, 32)
    cfg = make_config(
        cloud={"base_url": cloud.base_url, "ws_url": cloud.ws_url, "enabled": True,
               "screenshot_on_change": True},
        canvases=[{"name": "front", "width": 64, "height": 32, "source": "cloud:front"}],
        panels=[{"name": "p", "port": str(panel.path), "canvas": "front", "baudrate": 2_000_000,
                 "gamma": 1.0}],
    )  # fmt: skip
    box = await wiring.open_box(cfg)
    await nursery.start(wiring.run, box)
    with trio.fail_after(20):
        await shows(panel, CYCLE[0], (4, 16))
        await shows(panel, CYCLE[3], (60, 16))
        await cloud.wait_for(lambda: len(cloud.screenshots) >= 1)
    shown = panel.image()
    shot = cloud.screenshots[0]
    assert (shot.device_id, shot.media_id) == ("SN-TEST-1", str(items[0]["media_id"]))
    uploaded = Image.open(io.BytesIO(shot.data))
    assert uploaded.size == shown.size
    for x in range(0, 64, 3):
        for y in range(0, 32, 3):
            assert close(uploaded.getpixel((x, y)), shown.getpixel((x, y)), 24), (x, y)
    await cloud.wait_connected()
    await cloud.send_action({"action": "next"})
    await shows(panel, GREEN)
    with trio.fail_after(10):
        await cloud.wait_for(lambda: len(cloud.screenshots) >= 2)
    assert cloud.screenshots[1].media_id == str(items[1]["media_id"])
    assert close(Image.open(io.BytesIO(cloud.screenshots[1].data)).getpixel((32, 16)), GREEN)
