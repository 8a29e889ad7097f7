"""Real media files for playback tests: solid-colour images and H.264 videos made with PyAV."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
from PIL import Image

from edgebox.core.values import Effects, Layout, MediaItem, Timing

Color = tuple[int, int, int]
NO_LAYOUT, NO_EFFECTS = Layout(), Effects()


def write_image(path: Path, color: Color, size: tuple[int, int] = (320, 160)) -> Path:
    Image.new("RGB", size, color).save(path)
    return path


def write_video(
    path: Path,
    colors: Sequence[Color],
    seconds_each: float,
    *,
    fps: int = 20,
    size: tuple[int, int] = (320, 160),
) -> Path:
    """An H.264 MP4 that shows each colour in turn for `seconds_each`."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps))
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "qp": "10"}
        per_color = round(seconds_each * fps)
        for color in colors:
            still = Image.new("RGB", size, color)
            for _ in range(per_color):
                for packet in stream.encode(av.VideoFrame.from_image(still)):
                    out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def media_item(
    media_id: int,
    path: Path,
    *,
    order: int | None = None,
    duration: float = 10.0,
    n_time_play: int = 1,
    loop: bool = False,
    layout: Layout = NO_LAYOUT,
    effects: Effects = NO_EFFECTS,
) -> MediaItem:
    video = path.suffix == ".mp4"
    data = path.read_bytes()
    return MediaItem(
        media_id=media_id,
        order=media_id if order is None else order,
        media_name=path.name,
        media_type="video" if video else "image",
        mimetype="video/mp4" if video else "image/png",
        media_url=f"/media/{path.name}",
        file_size=len(data),
        checksum=hashlib.md5(data).hexdigest(),
        layout=layout,
        timing=Timing(0, duration, loop),
        effects=effects,
        n_time_play=n_time_play,
    )


def close(a: Sequence[int], b: Sequence[int], tolerance: int = 12) -> bool:
    """Two colours equal but for video or JPEG rounding."""
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))
