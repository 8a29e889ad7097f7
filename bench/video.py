"""Video on the panels: decode + scale + encode per frame of a 1080p H.264 file to 128x64, and
the screen player at 30 fps for a minute: CPU % of one core and frames dropped.

The video is made here with PyAV (10 s, 1920x1080, 30 fps, x264 "veryfast" at CRF 23) from a
moving, noisy picture, so that the decoder has real detail and motion to work on.

Run: .venv/bin/python bench/video.py [--seconds 60]
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import trio
from PIL import Image, ImageDraw

from edgebox.cache.store import Store
from edgebox.core.config import CanvasConfig, PanelConfig
from edgebox.core.values import MediaItem, PlaybackConfig, Playlist, Timing
from edgebox.drivers.driver import PanelDriver
from edgebox.drivers.framing import Panel
from edgebox.hub import Hub
from edgebox.screens.decode import VideoReader, probe_video
from edgebox.screens.player import ScreenPlayer

WIDTH, HEIGHT, FPS, SECONDS = 1920, 1080, 30, 10
CANVAS = (128, 64)


def make_video(path: Path) -> Path:
    """A 10 s 1080p clip: a textured, coloured scene panning and a bar sweeping across it."""
    noise = Image.effect_noise((WIDTH + 600, HEIGHT + 300), 60).convert("RGB")
    backdrop = Image.linear_gradient("L").resize(noise.size).convert("RGB")
    scene = Image.blend(noise, backdrop, 0.5)
    draw = ImageDraw.Draw(scene)
    for i in range(0, scene.width, 120):
        draw.rectangle([i, 200, i + 60, 500], fill=((i * 7) % 256, 90, 255 - (i * 3) % 256))
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(FPS))
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for n in range(SECONDS * FPS):
            x, y = (n * 2) % 600, (n // 2) % 300
            frame = scene.crop((x, y, x + WIDTH, y + HEIGHT))
            ImageDraw.Draw(frame).rectangle([n * 6 % WIDTH, 0, n * 6 % WIDTH + 80, HEIGHT], "red")
            for packet in stream.encode(av.VideoFrame.from_image(frame)):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def per_frame(path: Path) -> None:
    """Every frame of the file, unpaced: decode, scale to the canvas, encode for the panel."""
    panel = Panel("all", *CANVAS, protocol="adalight", wiring="serpentine", color_order="GRB")
    reader = VideoReader(path)
    times: list[float] = []
    cpu0 = time.process_time()
    for n in range(SECONDS * FPS):
        began = time.perf_counter()
        got = reader.read(CANVAS)
        assert got is not None, f"the clip ended at frame {n}"
        panel.frame(got[1], 80)
        times.append(time.perf_counter() - began)
    cpu = time.process_time() - cpu0
    reader.close()
    times.sort()
    frames = len(times)
    print(
        f"decode+scale+encode 1080p H.264 -> {CANVAS[0]}x{CANVAS[1]} serpentine GRB Adalight,"
        f" {frames} frames: median {statistics.median(times) * 1e3:.2f} ms,"
        f" p95 {times[int(0.95 * frames)] * 1e3:.2f} ms, max {times[-1] * 1e3:.2f} ms,"
        f" CPU {cpu / frames * 1e3:.2f} ms per frame"
        f" (= {100 * cpu / frames * FPS:.1f} % of one core at {FPS} fps)"
    )


async def player_for(path: Path, tmp: Path, seconds: float) -> None:
    """The screen player at 30 fps with the clip looping, to a panel-sim in another process."""
    tty = tmp / "tty"
    sim = subprocess.Popen(
        [sys.executable, "-m", "edgebox", "panel-sim", "--path", str(tty),
         "--width", str(CANVAS[0]), "--height", str(CANVAS[1])],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        sim.stdout.readline()  # type: ignore[union-attr]
        data = path.read_bytes()
        item = MediaItem(
            1, 1, path.name, "video", "video/mp4", "/media/clip.mp4", len(data),
            hashlib.md5(data).hexdigest(), timing=Timing(0, 3600, True),
        )  # fmt: skip
        playlist = Playlist(7, "bench", WIDTH, HEIGHT, 0, (item,), PlaybackConfig())
        store = await Store.open(tmp / "state")
        hub = await Hub.load(store)
        await hub.set_playlist("front", 7, [1])
        cfg = PanelConfig(
            name="p", port=str(tty), baudrate=12_000_000, width=CANVAS[0], height=CANVAS[1],
            wiring="serpentine", color_order="GRB",
        )  # fmt: skip
        driver = PanelDriver.from_config(cfg)
        canvas = CanvasConfig(name="main", width=CANVAS[0], height=CANVAS[1], fps=FPS)
        player = ScreenPlayer(canvas, "front", hub, [driver], {7: playlist}.get, lambda _item: path)
        async with trio.open_nursery() as nursery:
            await nursery.start(driver.run)
            await nursery.start(player.run)
            await trio.sleep(2.0)
            cpu0, wall0 = time.process_time(), time.perf_counter()
            frames0, skipped0 = player.stats.frames, player.stats.skipped
            late0 = player.stats.video_late
            sent0, link0 = driver.stats.frames_sent, driver.stats.frames_dropped
            await trio.sleep(seconds)
            cpu = time.process_time() - cpu0
            wall = time.perf_counter() - wall0
            frames = player.stats.frames - frames0
            skipped = player.stats.skipped - skipped0
            late = player.stats.video_late - late0
            sent = driver.stats.frames_sent - sent0
            link_dropped = driver.stats.frames_dropped - link0
            nursery.cancel_scope.cancel()
        store.close_sync()
    finally:
        sim.terminate()
        sim.wait()
    print(
        f"screen player, 1080p H.264 looping -> {CANVAS[0]}x{CANVAS[1]} at {FPS} fps for"
        f" {wall:.0f} s (panel on a 12 Mbaud pty, panel in another process):"
        f" {frames / wall:.1f} frames/s rendered, CPU {100 * cpu / wall:.1f} % of one core,"
        f" {skipped * 60 / wall:.1f} ticks dropped per minute by the player,"
        f" {late * 60 / wall:.1f} ticks per minute on a late video frame,"
        f" {sent / wall:.1f} frames/s sent, {link_dropped * 60 / wall:.1f} dropped per minute"
        f" by the serial link"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        path = make_video(Path(tmp) / "clip.mp4")
        size = path.stat().st_size
        print(
            f"made {WIDTH}x{HEIGHT} H.264 {SECONDS} s at {FPS} fps: {size / 1e6:.1f} MB"
            f" ({size * 8 / SECONDS / 1e6:.1f} Mbit/s), length {probe_video(path):.2f} s,"
            f" in {time.perf_counter() - began:.0f} s"
        )
        per_frame(path)
        trio.run(player_for, path, Path(tmp), args.seconds)


if __name__ == "__main__":
    main()
