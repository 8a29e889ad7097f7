"""Animation presets and keyframed images, pixel by pixel at known times."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from PIL import Image

from edgebox.ledsign import model as ledsign
from edgebox.ledsign.player import item_length
from edgebox.ledsign.render import Renderer, keyframe_place

RED, BLUE = (255, 0, 0), (0, 0, 255)
W, H = 32, 16


def anim(preset: str, colors: Any = (RED, BLUE), item_id: str = "a", **settings: Any) -> Any:
    return ledsign.parse_item(
        {
            "id": item_id,
            "duration": 60,
            "content": {
                "type": "Animation",
                "data": {"preset": preset, "colors": [list(c) for c in colors], **settings},
            },
        }
    )


def draw(item: Any, t: float, width: int = W, height: int = H) -> Image.Image:
    return Renderer(width, height).render(item, t)


def colours(frame: Image.Image) -> set[tuple[int, int, int]]:
    return {c for _, c in frame.getcolors(frame.width * frame.height)}  # type: ignore[union-attr]


def test_pulse_fills_one_colour_walking_the_palette_at_a_triangle_brightness() -> None:
    item = anim("Pulse", cycle_ms=2000)
    # a quarter cycle: half way from red to blue, at half brightness
    assert colours(draw(item, 0.5)) == {(64, 0, 64)}
    assert colours(draw(item, 1.0)) == {(0, 0, 255)}  # the peak, at the second colour
    assert colours(draw(item, 0.0)) == {(0, 0, 0)}
    assert colours(draw(item, 2.5)) == colours(draw(item, 0.5))  # it loops


def test_dual_pulse_averages_a_second_wave_half_a_cycle_later() -> None:
    item = anim("DualPulse", cycle_ms=2000, phase_offset=0.5)
    assert colours(draw(item, 0.5)) == {(64, 0, 64)}
    assert colours(draw(item, 0.0)) == {(127, 0, 0)}  # one wave dark, the other at its peak


def test_color_fade_walks_the_palette_at_its_drift_speed() -> None:
    item = anim("ColorFade", drift_speed=0.25)
    assert colours(draw(item, 0.0)) == {RED}
    assert colours(draw(item, 1.0)) == {(128, 0, 128)}
    assert colours(draw(item, 2.0)) == {BLUE}


def test_palette_wave_slants_bands_across_and_slides_them_once_a_cycle() -> None:
    item = anim("PaletteWave", cycle_ms=2000, wave_count=3)
    start = draw(item, 0.0)
    assert start.getpixel((0, 0)) == (153, 0, 0)  # red at 0.6 brightness
    assert start.getpixel((W // 4, 0)) == (102, 0, 102)  # a quarter across: mid band, 0.8
    quarter = draw(item, 0.5)  # a quarter cycle later the band at W/4 has reached x=0
    assert quarter.getpixel((0, 0)) == start.getpixel((W // 4, 0))
    # the slant: a row further down is a little further along
    assert start.getpixel((0, 8)) != start.getpixel((0, 0))


def test_strobe_flashes_then_fades_then_takes_the_next_colour() -> None:
    item = anim("Strobe", flash_ms=180, fade_ms=220)
    assert colours(draw(item, 0.1)) == {RED}
    assert colours(draw(item, 0.29)) == {(127, 0, 0)}
    assert colours(draw(item, 0.45)) == {BLUE}
    assert colours(draw(item, 0.85)) == {RED}


def test_a_randomised_strobe_is_the_same_at_the_same_time_and_seed() -> None:
    item = anim("Strobe", flash_ms=100, fade_ms=100, randomize=True, randomization_factor=0.5)
    other = anim(
        "Strobe", flash_ms=100, fade_ms=100, randomize=True, randomization_factor=0.5, item_id="b"
    )
    times = [i * 0.037 for i in range(300)]
    first = [draw(item, t).getpixel((0, 0)) for t in times]
    assert first == [draw(item, t).getpixel((0, 0)) for t in times]
    assert first != [draw(other, t).getpixel((0, 0)) for t in times]
    plain = anim("Strobe", flash_ms=100, fade_ms=100)
    assert first != [draw(plain, t).getpixel((0, 0)) for t in times]
    # a flash starts at full colour: count how many starts fell within 11 s (about 55 cycles)
    flashes = sum(1 for a, b in itertools.pairwise(first) if b[0] + b[2] > a[0] + a[2])
    assert 30 <= flashes <= 80


def scaled_palette(pixel: tuple[int, int, int], palette: tuple[Any, ...]) -> bool:
    """`pixel` is some palette colour at some brightness (each channel floored)."""
    for colour in palette:
        top = max(colour)
        level = max(pixel) / top
        if all(abs(p - c * level) <= 1 for p, c in zip(pixel, colour, strict=True)):
            return True
    return False


def test_sparkle_lights_a_fixed_seeded_share_of_pixels_that_twinkle() -> None:
    item = anim("Sparkle", density=0.25, twinkle_ms=600)
    a, b = draw(item, 1.0, 64, 32), draw(item, 1.3, 64, 32)
    assert a.tobytes() == draw(item, 1.0, 64, 32).tobytes()  # the same frame at the same t
    lit = [(x, y) for y in range(32) for x in range(64) if a.getpixel((x, y)) != (0, 0, 0)]
    assert 0.18 * 64 * 32 < len(lit) < 0.32 * 64 * 32
    lit_b = [(x, y) for y in range(32) for x in range(64) if b.getpixel((x, y)) != (0, 0, 0)]
    assert lit == lit_b  # the same pixels, at other brightnesses
    assert a.tobytes() != b.tobytes()
    assert all(scaled_palette(a.getpixel(p), (RED, BLUE)) for p in lit)  # type: ignore[arg-type]
    reseeded = draw(anim("Sparkle", density=0.25, item_id="other"), 1.0, 64, 32)
    assert reseeded.tobytes() != a.tobytes()


def test_mosaic_twinkle_tiles_with_border_lines_between_them() -> None:
    item = anim("MosaicTwinkle", tile_size=4, border_size=1, border_color=[9, 9, 9])
    frame = draw(item, 2.0)
    assert frame.getpixel((4, 1)) == (9, 9, 9)  # the first border column, inside the canvas
    assert frame.getpixel((1, 4)) == (9, 9, 9)
    assert frame.getpixel((0, 0)) != (9, 9, 9)  # the canvas edge has no border line
    assert frame.getpixel((W - 1, H - 1)) != (9, 9, 9)
    # a tile is one colour inside its border, a palette colour at 0.3..1 brightness
    inner = {frame.getpixel((x, y)) for x in (5, 6) for y in (5, 6)}
    assert len(inner) == 1
    (tile,) = inner
    assert scaled_palette(tile, (RED, BLUE)) and max(tile) >= 0.3 * 255 - 1  # type: ignore[arg-type]
    assert frame.tobytes() == draw(item, 2.0).tobytes()
    assert frame.tobytes() != draw(item, 2.4).tobytes()
    plain = draw(anim("MosaicTwinkle", tile_size=1), 2.0)
    assert (9, 9, 9) not in colours(plain) and (0, 0, 0) not in colours(plain)


def test_plasma_is_reproducible_moves_and_stays_in_the_palette() -> None:
    item = anim("Plasma", colors=(RED,), flow_speed=1.85, noise_scale=1.75)
    frame = draw(item, 3.0, 64, 32)
    assert frame.tobytes() == draw(item, 3.0, 64, 32).tobytes()
    assert frame.tobytes() != draw(item, 3.1, 64, 32).tobytes()
    reds = colours(frame)
    assert all(g == 0 and b == 0 and 0.3 * 255 - 2 <= r <= 255 for r, g, b in reds)
    assert len(reds) > 10  # a field, not a fill
    other = draw(anim("Plasma", colors=(RED,), item_id="b"), 3.0, 64, 32)
    assert other.tobytes() != frame.tobytes()


@pytest.mark.parametrize("preset", list(ledsign.PRESETS))
def test_every_preset_draws_the_canvas_size_at_128x64(preset: str) -> None:
    frame = draw(anim(preset), 7.3, 128, 64)
    assert frame.size == (128, 64) and frame.mode == "RGB"


# Images with a transform and keyframes


def keyframed(*frames: tuple[int, int, int, float], iterations: int | None = None) -> Any:
    return ledsign.parse_item(
        {
            "id": "img",
            "repeat_count": 2,
            "border_effect": {"None": None},
            "content": {
                "type": "Image",
                "data": {
                    "image_id": "pic",
                    "animation": {
                        "keyframes": [
                            {"timestamp_ms": ms, "x": x, "y": y, "scale": s}
                            for ms, x, y, s in frames
                        ],
                        "iterations": iterations,
                    },
                },
            },
        }
    )


def red_square(size: int = 2) -> Image.Image:
    return Image.new("RGBA", (size, size), (255, 0, 0, 255))


def lit(frame: Image.Image) -> set[tuple[int, int]]:
    return {
        (x, y)
        for y in range(frame.height)
        for x in range(frame.width)
        if frame.getpixel((x, y)) != (0, 0, 0)
    }


def test_keyframes_move_the_image_linearly_and_loop() -> None:
    item = keyframed((0, 0, 0, 1.0), (1000, 10, 4, 1.0))
    renderer = Renderer(W, H, lambda _id: red_square())
    assert lit(renderer.render(item, 0.0)) == {(0, 0), (1, 0), (0, 1), (1, 1)}
    assert lit(renderer.render(item, 0.5)) == {(5, 2), (6, 2), (5, 3), (6, 3)}
    assert lit(renderer.render(item, 0.8)) == {(8, 3), (9, 3), (8, 4), (9, 4)}  # 8, 3.2
    assert lit(renderer.render(item, 1.0)) == lit(renderer.render(item, 0.0))  # a new play
    assert lit(renderer.render(item, 1.5)) == lit(renderer.render(item, 0.5))  # the next play


def test_keyframes_scale_the_image_too() -> None:
    item = keyframed((0, 0, 0, 1.0), (1000, 0, 0, 3.0))
    frame = Renderer(W, H, lambda _id: red_square()).render(item, 0.5)
    assert lit(frame) == {(x, y) for x in range(4) for y in range(4)}  # 2x2 at scale 2


def test_after_its_iterations_the_image_rests_on_the_last_keyframe() -> None:
    item = keyframed((0, 0, 0, 1.0), (500, 6, 2, 1.0), (1000, 20, 8, 1.0), iterations=1)
    assert keyframe_place(item.content.animation, 0.25) == (3.0, 1.0, 1.0)
    assert keyframe_place(item.content.animation, 0.75) == (13.0, 5.0, 1.0)
    assert keyframe_place(item.content.animation, 5.0) == (20.0, 8.0, 1.0)
    frame = Renderer(W, H, lambda _id: red_square()).render(item, 5.0)
    assert lit(frame) == {(20, 8), (21, 8), (20, 9), (21, 9)}


def test_a_keyframed_image_counts_its_plays_as_its_length() -> None:
    item = keyframed((0, 0, 0, 1.0), (1500, 10, 0, 1.0))
    assert item_length(item, W, H) == 3.0  # repeat_count 2 x 1.5 s


def test_a_still_image_is_drawn_at_its_transform() -> None:
    item = ledsign.parse_item(
        {
            "id": "still",
            "duration": 5,
            "content": {
                "type": "Image",
                "data": {"image_id": "pic", "transform": {"x": 3, "y": 2, "scale": 2}},
            },
        }
    )
    frame = Renderer(W, H, lambda _id: red_square()).render(item, 0.0)
    assert lit(frame) == {(x, y) for x in range(3, 7) for y in range(2, 6)}
