"""Media files of the cloud's playlists as pictures of a given size: images and video frames.

Everything here blocks (file reads, decoding, scaling): call it from a worker thread. A video is
read as a stream, a frame at a time, and only the frames shown are scaled.
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

SEEK_AHEAD_SECONDS = 5.0  # further ahead than this, seek instead of decoding every frame
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
    """One video file read forward frame by frame; one call at a time (it is not thread-safe).

    `frame_at(t, size)` gives the last frame due by `t` seconds in, scaled to `size`: it decodes
    forward to it, seeks only to go back (a loop) or far ahead, and holds the last frame past
    the end. A frame already scaled is not scaled again.
    """

    def __init__(self, path: Path, threads: int = 2) -> None:
        self.path = path
        self._container = av.open(str(path))
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        self._stream.thread_count = threads
        self._frames = self._container.decode(self._stream)
        self._current: av.VideoFrame | None = None
        self._next: av.VideoFrame | None = None
        self._ended = False
        self._shown: tuple[object, tuple[int, int], Image.Image] | None = None
        self.decoded = 0

    def close(self) -> None:
        self._container.close()

    def _time(self, frame: av.VideoFrame) -> float:
        return float(frame.time) if frame.time is not None else 0.0

    def _seek(self, t: float) -> None:
        """Restart decoding at the key frame at or before `t`."""
        stream = self._stream
        target = int(t / stream.time_base) if stream.time_base else 0
        self._container.seek(max(0, target), stream=stream, backward=True, any_frame=False)
        self._frames = self._container.decode(stream)
        self._current = self._next = None
        self._ended = False

    def _advance(self) -> av.VideoFrame | None:
        if self._next is None and not self._ended:
            try:
                self._next = next(self._frames)
                self.decoded += 1
            except StopIteration:
                self._ended = True
            except av.error.InvalidDataError as exc:
                log.warning("video %s: undecodable (%s); holding its last frame", self.path, exc)
                self._ended = True
        return self._next

    def frame_at(self, t: float, size: tuple[int, int]) -> Image.Image | None:
        current = self._current
        if current is not None:
            shown = self._time(current)
            if t + EPSILON < shown or t - shown > SEEK_AHEAD_SECONDS:
                self._seek(t)
        while (upcoming := self._advance()) is not None:
            if self._current is not None and self._time(upcoming) > t + EPSILON:
                break
            self._current, self._next = upcoming, None
        frame = self._current
        if frame is None:
            return None
        if self._shown is not None and self._shown[0] is frame and self._shown[1] == size:
            return self._shown[2]
        picture = frame.to_image(width=size[0], height=size[1], interpolation=Interpolation.AREA)
        self._shown = (frame, size, picture)
        return picture
