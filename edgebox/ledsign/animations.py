"""The LED sign's full-canvas animation presets, drawn as pure functions of time.

`frame(content, width, height, t, seed)` is the picture `t` seconds into the item. Presets that
look random draw from a hash of (seed, pixel or cycle), never from a generator's state, so the
frame at `t` is the same whenever and however often it is drawn (and the same on every panel of
a canvas). What each preset shows, after the LED sign controller's own presets:

- Pulse: the whole canvas in one colour walking the palette, brightness a triangle wave over
  `cycle_ms`.
- DualPulse: as Pulse, with a second triangle wave `phase_offset` of a cycle later averaged in.
- PaletteWave: diagonal bands of the palette (`wave_count` per sweep) sliding once per `cycle_ms`.
- ColorFade: the whole canvas fading through the palette, `drift_speed` palettes per second.
- Strobe: a flash of full colour for `flash_ms`, fading out over `fade_ms`, the next palette
  colour each flash; `randomize` stretches or shrinks each cycle by up to
  `randomization_factor`.
- Sparkle: a `density` share of pixels twinkling in palette colours, each at its own pace
  around `twinkle_ms`.
- MosaicTwinkle: `tile_size` squares shimmering at their own pace (`flow_speed`), parted by
  `border_size` lines of `border_color`.
- Plasma: a slowly swirling field of value noise and rings coloured by the palette
  (`flow_speed`, `noise_scale`).

numpy draws the per-pixel presets: a 128x64 frame is 8192 pixels, far too many for a Python
loop at 30 frames a second.
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image

from edgebox.ledsign.model import AnimationContent, Color

TAU = 2 * math.pi
U32 = np.uint32


def _mix(values: np.ndarray) -> np.ndarray:
    """A 32-bit integer hash (an avalanche finaliser): neighbouring inputs look unrelated."""
    v = values.astype(U32)
    with np.errstate(over="ignore"):
        v ^= v >> U32(16)
        v *= U32(0x7FEB352D)
        v ^= v >> U32(15)
        v *= U32(0x846CA68B)
        v ^= v >> U32(16)
    return v


def _unit(values: np.ndarray) -> np.ndarray:
    """Hash to [0, 1)."""
    return _mix(values).astype(np.float64) / 4294967296.0


def _key(seed: int, *parts: np.ndarray | int) -> np.ndarray:
    """One uint32 per element from a seed and integer coordinates."""
    acc = np.asarray(seed & 0xFFFFFFFF, dtype=U32)
    with np.errstate(over="ignore"):
        for salt, part in enumerate(parts, 1):
            acc = _mix(acc ^ (np.asarray(part).astype(U32) * U32(0x9E3779B1) + U32(salt)))
    return acc


def _triangle(p: float | np.ndarray) -> float | np.ndarray:
    """0 -> 1 -> 0 as p goes 0 -> 0.5 -> 1."""
    return 1 - np.abs(2 * np.asarray(p) - 1) if isinstance(p, np.ndarray) else 1 - abs(2 * p - 1)


def sample(colors: tuple[Color, ...], position: float) -> tuple[float, float, float]:
    """The palette as a loop: `position` 0..1 blends each colour into the next, the last
    back into the first."""
    n = len(colors)
    if n == 1:
        return tuple(float(c) for c in colors[0])  # type: ignore[return-value]
    pos = min(max(position, 0.0), 0.9999) * n
    i = int(pos)
    f = pos - i
    a, b = colors[i], colors[(i + 1) % n]
    return (a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f)


def _sample_array(colors: tuple[Color, ...], position: np.ndarray) -> np.ndarray:
    palette = np.asarray(colors, dtype=np.float64)
    n = len(colors)
    if n == 1:
        return np.broadcast_to(palette[0], (*position.shape, 3))
    pos = np.clip(position, 0.0, 0.9999) * n
    i = pos.astype(np.intp)
    f = (pos - i)[..., None]
    return palette[i] * (1 - f) + palette[(i + 1) % n] * f


def _fill(width: int, height: int, color: tuple[float, float, float], level: float) -> Image.Image:
    level = min(max(level, 0.0), 1.0)
    rgb = tuple(int(round(c) * level) for c in color)
    return Image.new("RGB", (width, height), rgb)  # type: ignore[arg-type]


def _picture(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def frame(content: AnimationContent, width: int, height: int, t: float, seed: int) -> Image.Image:
    """`content` as it looks `t` seconds after the item came on."""
    draw = _PRESETS[content.preset]
    return draw(content, width, height, max(t, 0.0), seed)


def _pulse(c: AnimationContent, w: int, h: int, t: float, seed: int) -> Image.Image:
    p = (t * 1000 / c["cycle_ms"]) % 1.0
    return _fill(w, h, sample(c.colors, p), _triangle(p))  # type: ignore[arg-type]


def _dual_pulse(c: AnimationContent, w: int, h: int, t: float, seed: int) -> Image.Image:
    p = (t * 1000 / c["cycle_ms"]) % 1.0
    q = (p + c["phase_offset"]) % 1.0
    level = (_triangle(p) + _triangle(q)) / 2  # type: ignore[operator]
    return _fill(w, h, sample(c.colors, p), level)


def _color_fade(c: AnimationContent, w: int, h: int, t: float, seed: int) -> Image.Image:
    return _fill(w, h, sample(c.colors, (t * c["drift_speed"]) % 1.0), 1.0)


@functools.lru_cache(maxsize=8)
def _diagonal(w: int, h: int) -> np.ndarray:
    """x across the canvas plus a quarter of y down it, each 0..1: the wave's slant."""
    xs = np.arange(w, dtype=np.float64) / w
    ys = np.arange(h, dtype=np.float64) / h
    return xs[None, :] + 0.25 * ys[:, None]


def _palette_wave(c: AnimationContent, w: int, h: int, t: float, seed: int) -> Image.Image:
    base = (_diagonal(w, h) + (t * 1000 / c["cycle_ms"]) % 1.0) % 1.0
    band = (base * c["wave_count"]) % 1.0
    level = 0.6 + 0.4 * _triangle(base)
    return _picture(np.floor(np.rint(_sample_array(c.colors, band)) * level[..., None]))


@functools.lru_cache(maxsize=16)
def _strobe_starts(cycle_ms: int, factor: float, seed: int, count: int) -> np.ndarray:
    """When each of the first `count` flashes starts (ms), each cycle stretched or shrunk by
    its own hashed share of `factor`."""
    share = _unit(_key(seed, np.arange(count), 0x5742))
    lengths = np.maximum(1, np.rint(cycle_ms * (1 - factor + 2 * factor * share)))
    return np.concatenate(([0.0], np.cumsum(lengths)))


def _strobe(c: AnimationContent, w: int, h: int, t: float, seed: int) -> Image.Image:
    flash, fade = c["flash_ms"], c["fade_ms"]
    cycle = flash + fade
    elapsed = t * 1000
    factor = c["randomization_factor"] if c["randomize"] else 0.0
    if factor > 0:
        count = 1024
        while True:
            starts = _strobe_starts(cycle, factor, seed, count)
            if starts[-1] > elapsed:
                break
            count *= 2
        index = int(np.searchsorted(starts, elapsed, side="right")) - 1
        phase = elapsed - starts[index]
    else:
        index, phase = int(elapsed // cycle), elapsed % cycle
    level = 1.0 if phase < flash else 1.0 - (phase - flash) / fade
    return _fill(w, h, tuple(map(float, c.colors[index % len(c.colors)])), level)  # type: ignore[arg-type]


@functools.lru_cache(maxsize=8)
def _sparkle_field(
    w: int, h: int, seed: int, colors: int, density: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: lit or not, its palette index, its pace and its phase."""
    ys, xs = np.mgrid[0:h, 0:w]
    lit = _unit(_key(seed, xs, ys, 1)) <= max(density, 0.01)
    index = (_mix(_key(seed, xs, ys, 2)) % U32(colors)).astype(np.intp)
    pace = 0.6 + 1.2 * _unit(_key(seed, xs, ys, 3))
    phase = _unit(_key(seed, xs, ys, 4))
    return lit, index, pace, phase


def _sparkle(c: AnimationContent, w: int, h: int, t: float, seed: int) -> Image.Image:
    lit, index, pace, phase = _sparkle_field(w, h, seed, len(c.colors), c["density"])
    p = (t * 1000 / c["twinkle_ms"] * pace + phase) % 1.0
    level = 0.1 + 0.9 * (np.sin(TAU * p) * 0.5 + 0.5) ** 2.2
    palette = np.asarray(c.colors, dtype=np.float64)
    rgb = np.floor(palette[index] * (level * lit)[..., None])
    return _picture(rgb)


@functools.lru_cache(maxsize=8)
def _mosaic(
    w: int, h: int, tile: int, border: int, seed: int, colors: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per pixel: its tile's number and whether it is inside the tile's border; per tile: its
    palette index, pace and phase."""
    cols, rows = -(-w // tile), -(-h // tile)
    edge = 0 if border == 0 else min(border, (tile - 1) // 2)

    def inside(n: int, count: int) -> np.ndarray:
        pos = np.arange(n)
        cell = pos // tile
        local = pos - cell * tile
        span = np.minimum((cell + 1) * tile, n) - cell * tile
        lo = np.where(cell == 0, 0, edge)
        hi = np.where(cell == count - 1, span, span - edge)
        # a tile too small for its border is filled whole
        return ((local >= lo) & (local < hi)) | (lo >= hi)

    tile_of = (np.arange(h) // tile)[:, None] * cols + (np.arange(w) // tile)[None, :]
    inner = inside(h, rows)[:, None] & inside(w, cols)[None, :]
    tr, tc = np.divmod(np.arange(rows * cols), cols)
    index = (_mix(_key(seed, tr, tc, 5)) % U32(colors)).astype(np.intp)
    pace = 0.6 + 0.6 * _unit(_key(seed, tr, tc, 6))
    phase = _unit(_key(seed, tr, tc, 7))
    return tile_of, inner, index, pace, phase


def _mosaic_twinkle(c: AnimationContent, w: int, h: int, t: float, seed: int) -> Image.Image:
    tile_of, inner, index, pace, phase = _mosaic(
        w, h, c["tile_size"], c["border_size"], seed, len(c.colors)
    )
    p = (t * c["flow_speed"] * pace + phase) % 1.0
    shimmer = np.clip(0.65 + 0.35 * np.sin(TAU * p), 0.2, 1.0)
    tiles = np.floor(np.asarray(c.colors, dtype=np.float64)[index] * shimmer[:, None])
    rgb = tiles[tile_of]
    behind = np.asarray(c["border_color"] if c["border_size"] else (0, 0, 0), dtype=np.float64)
    rgb[~inner] = behind
    return _picture(rgb)


def _value_noise(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Smoothly interpolated hashed lattice values, 0..1."""
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = x - x0, y - y0
    sx, sy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    xi, yi = x0.astype(np.int64) & 0xFFFFFFFF, y0.astype(np.int64) & 0xFFFFFFFF

    def corner(dx: int, dy: int) -> np.ndarray:
        return _unit(_key(seed, xi + dx, yi + dy))

    top = corner(0, 0) + (corner(1, 0) - corner(0, 0)) * sx
    bottom = corner(0, 1) + (corner(1, 1) - corner(0, 1)) * sx
    return top + (bottom - top) * sy


def _fractal(x: np.ndarray, y: np.ndarray, octaves: int, seed: int) -> np.ndarray:
    total, amplitude, frequency, norm = np.zeros_like(x), 1.0, 1.0, 0.0
    for octave in range(octaves):
        total += amplitude * _value_noise(x * frequency, y * frequency, seed + octave)
        norm += amplitude
        amplitude *= 0.55
        frequency *= 2.1
    return total / norm


@functools.lru_cache(maxsize=8)
def _polar(w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    ys, xs = np.mgrid[0:h, 0:w]
    cx, cy = xs / w - 0.5, ys / h - 0.5
    return cx, cy, np.minimum(2 * np.hypot(cx, cy), 1.6), np.arctan2(cy, cx)


def _plasma(c: AnimationContent, w: int, h: int, t: float, seed: int) -> Image.Image:
    """The field is smooth, so it is computed on every other pixel and enlarged bilinearly:
    a quarter of the work for a picture an LED pixel cannot tell apart."""
    small = _plasma_field(c, max(1, (w + 1) // 2), max(1, (h + 1) // 2), t, seed)
    return small.resize((w, h), Image.Resampling.BILINEAR)


def _plasma_field(c: AnimationContent, w: int, h: int, t: float, seed: int) -> Image.Image:
    cx, cy, radius, angle = _polar(w, h)
    scale, time = max(c["noise_scale"], 0.1), t * c["flow_speed"]
    spin = angle + time * 0.35
    cos, sin = np.cos(spin), np.sin(spin)
    sx, sy = cx * cos - cy * sin, cx * sin + cy * cos
    field = _fractal(sx * scale * 3.4 + time * 0.6, sy * scale * 3.4 - time * 0.45, 3, seed)
    rings = np.sin(radius * max(scale * 0.8, 0.2) * 6 - time * 0.9 + spin * 0.75) * 0.5 + 0.5
    position = (field * 0.75 + rings * 0.25 + time * 0.05) % 1.0
    energy = np.clip(field * 0.7 + rings * 0.3, 0.0, 1.0)
    shimmer = np.sin(TAU * ((field * 0.6 + rings * 0.4 + time * 0.1) % 1.0)) * 0.5 + 0.5
    level = 0.3 + 0.7 * (0.65 * energy + 0.35 * shimmer)
    return _picture(np.floor(np.rint(_sample_array(c.colors, position)) * level[..., None]))


_PRESETS = {
    "Pulse": _pulse,
    "PaletteWave": _palette_wave,
    "DualPulse": _dual_pulse,
    "ColorFade": _color_fade,
    "Strobe": _strobe,
    "Sparkle": _sparkle,
    "MosaicTwinkle": _mosaic_twinkle,
    "Plasma": _plasma,
}
