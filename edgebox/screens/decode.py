"""Media files of the cloud's playlists as pictures of a given size: images and video frames.

Everything here blocks (file reads, decoding, scaling): call it from a worker thread. A video is
read as a stream, a frame at a time, and each frame is scaled down as soon as it is decoded.
"""

from __future__ import annotations

import logging
from pathlib import Path

import av
import av.error
from av.video.reformatter import Interpolation
from PIL import Image, ImageOps

log = logging.getLogger(__name__)

# Errors that mean "this file cannot be shown", from Pillow and from FFmpeg.
MEDIA_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, av.error.FFmpegError)

EPSILON = 1e-3  # a frame due at 0.5 s shows at t = 0.4999…, however t was summed up


def load_image(path: Path, size: tuple[int, int]) -> Image.Image:
    """An image file decoded and scaled to `size`, RGBA when it has transparency."""
    with Image.open(path) as source:
        source.draft("RGB", size)  # JPEG: decode at a fraction of full size, much faster
        picture = ImageOps.exif_transpose(source)
        picture.load()
    has_alpha = picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info
    picture = picture.convert("RGBA" if has_alpha else "RGB")
    if picture.size != size:
        picture = picture.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return picture


def probe_video(path: Path) -> float | None:
    """A video's length in seconds (None if the file does not say); raises if it has no video."""
    with av.open(str(path)) as container:
        if not container.streams.video:
            raise ValueError(f"{path.name}: no video stream")
        stream = container.streams.video[0]
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if container.duration is not None:
            return container.duration / av.time_base
        return None


class VideoReader:
    """One video file read forward a frame at a time; one call at a time (not thread-safe).

    `read(size)` decodes the next frame and scales it to `size` (FFmpeg's area filter, which
    averages every source pixel into the small canvas); `seek(t)` goes back or ahead.
    """

    def __init__(self, path: Path, threads: int = 2) -> None:
        self.path = path
        self._container = av.open(str(path))
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._stream.thread_count = threads
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.frame_seconds = float(1 / rate) if rate else 1 / 30
        self._frames = self._container.decode(self._stream)
        self._closed = False

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._container.close()

    def seek(self, t: float) -> None:
        """Go to the key frame at or before `t`; `read` then goes on from there."""
        stream = self._stream
        target = int(t / stream.time_base) if stream.time_base else 0
        self._container.seek(max(0, target), stream=stream, backward=True, any_frame=False)
        self._frames = self._container.decode(stream)

    def read(self, size: tuple[int, int]) -> tuple[float, Image.Image] | None:
        """The next frame: seconds into the file and the picture; None at the end."""
        try:
            frame = next(self._frames)
        except StopIteration:
            return None
        except av.error.InvalidDataError as exc:
            log.warning("video %s: undecodable (%s); ending it here", self.path, exc)
            return None
        seconds = float(frame.time) if frame.time is not None else 0.0
        picture = frame.to_image(width=size[0], height=size[1], interpolation=Interpolation.AREA)
        return seconds, picture
