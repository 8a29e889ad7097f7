"""Pixel tests of the renderer: what lands where, in which colour, at which time."""

from __future__ import annotations

import datetime as dt

from PIL import Image

from edgebox.core.values import TextOverlay
from edgebox.ledsign.model import (
    ClockContent,
    Gradient,
    ImageContent,
    LedItem,
    Pulse,
    Rainbow,
    Sparkle,
    TextContent,
    TextFormatting,
    TextSegment,
)
from edgebox.ledsign.render import FONT, Renderer, clock_text, pass_seconds, perimeter, text_scale

WHITE = (255, 255, 255)
RED = (255, 0, 0)
BLACK = (0, 0, 0)


def item(content: object, border: object = None) -> LedItem:
    return LedItem("item-1", 10.0, None, border, content)  # type: ignore[arg-type]


def pixels(frame: Image.Image) -> list[tuple[int, ...]]:
    data = frame.tobytes()
    return [tuple(data[i : i + 3]) for i in range(0, len(data), 3)]


def lit_columns(frame: Image.Image) -> list[int]:
    """Columns with any lit pixel, ignoring the border rows and columns."""
    w, h = frame.size
    return [
        x for x in range(w) if any(frame.getpixel((x, y)) != (0, 0, 0) for y in range(1, h - 1))
    ]


def test_font_scale_is_one_on_16_px_rows_and_two_on_32_px_rows() -> None:
    assert text_scale(14) == 1
    assert text_scale(30) == 2
    assert text_scale(30, "12:00:00 PM", 62) == 1


def test_scrolling_text_enters_from_the_right_edge_at_its_speed() -> None:
    renderer = Renderer(64, 32)
    text = item(TextContent("I", scroll=True, color=WHITE, speed=20.0))
    assert lit_columns(renderer.render(text, 0.0)) == []
    # After 1 s at 20 px/s the glyph box starts at column 64 - 20 = 44; 'I' at scale 2.
    glyph = [
        x for x in range(12) if any(FONT.getmask("I").getpixel((x // 2, y)) for y in range(11))
    ]
    assert lit_columns(renderer.render(text, 1.0)) == [44 + x for x in glyph]
    assert lit_columns(renderer.render(text, 2.0)) == [24 + x for x in glyph]


def test_scrolling_text_passes_fully_then_comes_back_from_the_right() -> None:
    renderer = Renderer(64, 16)
    content = TextContent("AB", scroll=True, color=WHITE, speed=10.0)
    width = 2 * 6 + 1
    assert pass_seconds(content, 64, 16) == (64 + width) / 10
    assert lit_columns(renderer.render(item(content), (64 + width) / 10 - 0.05)) == []
    after_one_pass = lit_columns(renderer.render(item(content), (64 + width) / 10 + 1.0))
    assert after_one_pass and min(after_one_pass) >= 54


def test_static_text_is_centred() -> None:
    frame = Renderer(64, 16).render(item(TextContent("HI", color=WHITE)), 0.0)
    cols = lit_columns(frame)
    assert abs((min(cols) + max(cols)) / 2 - 31.5) <= 3


def test_a_segment_colours_only_its_characters_end_exclusive() -> None:
    segs = (TextSegment(1, 2, RED, None),)
    frame = Renderer(64, 16).render(item(TextContent("HHH", color=WHITE, text_segments=segs)), 0.0)
    colours = {x: set() for x in range(64)}
    for x in range(64):
        for y in range(1, 15):
            if frame.getpixel((x, y)) != (0, 0, 0):
                colours[x].add(frame.getpixel((x, y)))
    left = (64 - 19) // 2
    assert set().union(*(colours[x] for x in range(left, left + 6))) == {WHITE}
    assert set().union(*(colours[x] for x in range(left + 6, left + 12))) == {RED}
    assert set().union(*(colours[x] for x in range(left + 12, left + 18))) == {WHITE}


def test_bold_underline_and_strikethrough_add_pixels_where_they_belong() -> None:
    renderer = Renderer(64, 16)

    def lit(fmt: TextFormatting | None) -> set[tuple[int, int]]:
        segs = (TextSegment(0, 2, None, fmt),) if fmt else None
        frame = renderer.render(item(TextContent("ii", color=WHITE, text_segments=segs)), 0.0)
        return {(x, y) for x in range(64) for y in range(16) if frame.getpixel((x, y)) != (0, 0, 0)}

    plain = lit(None)
    bold = lit(TextFormatting(bold=True))
    under = lit(TextFormatting(underline=True))
    strike = lit(TextFormatting(strikethrough=True))
    assert plain < bold and len(bold) > len(plain)
    top = (16 - 11) // 2
    assert under - plain and {y for _, y in under - plain} == {top + 10}
    assert strike - plain and {y for _, y in strike - plain} == {top + 5}


def test_rainbow_border_goes_round_the_edge_and_moves_with_time() -> None:
    renderer = Renderer(32, 16)
    border = item(TextContent("", color=WHITE), Rainbow())
    a = renderer.render(border, 0.0)
    assert a.getpixel((0, 0)) == (255, 0, 0)
    edge = {a.getpixel((x, 0)) for x in range(32)} | {a.getpixel((31, y)) for y in range(16)}
    assert len(edge) > 20
    assert a.getpixel((5, 5)) == (0, 0, 0)
    b = renderer.render(border, 1.0)
    # One lap in 4 s: after 1 s the colour of the top-left corner has moved a quarter round.
    quarter = perimeter(32, 16) // 4
    assert b.getpixel((quarter, 0)) == a.getpixel((0, 0))


def test_pulse_border_is_full_colour_then_dark_then_the_next_colour() -> None:
    renderer = Renderer(16, 8)
    border = item(TextContent("", color=WHITE), Pulse(((200, 0, 0), (0, 0, 100))))
    assert renderer.render(border, 0.0).getpixel((0, 4)) == (200, 0, 0)
    assert renderer.render(border, 1.0).getpixel((0, 4)) == (0, 0, 0)
    assert renderer.render(border, 0.5).getpixel((0, 4)) == (100, 0, 0)
    assert renderer.render(border, 2.0).getpixel((15, 7)) == (0, 0, 100)


def test_sparkle_border_is_the_same_for_the_same_time_and_changes_with_it() -> None:
    renderer = Renderer(32, 16)
    border = item(TextContent("", color=WHITE), Sparkle(((0, 255, 0),)))
    a, b = renderer.render(border, 1.23), renderer.render(border, 1.23)
    assert a.tobytes() == b.tobytes()
    lit = [p for p in pixels(a) if p != (0, 0, 0)]
    assert set(lit) == {(0, 255, 0)} and len(lit) == perimeter(32, 16) // 6
    assert renderer.render(border, 1.5).tobytes() != a.tobytes()


def test_gradient_border_blends_its_colours_round_the_edge() -> None:
    renderer = Renderer(20, 10)
    border = item(TextContent("", color=WHITE), Gradient(((255, 0, 0), (0, 0, 255))))
    frame = renderer.render(border, 0.0)
    assert frame.getpixel((0, 0)) == (255, 0, 0)
    half = perimeter(20, 10) // 2  # clockwise: 20 along the top, 9 down, then along the bottom
    assert frame.getpixel((19 - (half - 28), 9)) == (0, 0, 255)
    assert frame.getpixel((10, 0))[0] < 255 and frame.getpixel((10, 0))[2] > 0


def test_clock_shows_12_and_24_hour_time_with_optional_seconds() -> None:
    at = dt.datetime(2026, 3, 1, 15, 7, 9)
    assert clock_text(ClockContent("24h", False), at) == "15:07"
    assert clock_text(ClockContent("24h", True), at) == "15:07:09"
    assert clock_text(ClockContent("12h", True), at) == "3:07:09 PM"
    assert clock_text(ClockContent("12h", False), at.replace(hour=0)) == "12:07 AM"
    frame = Renderer(64, 32).render(item(ClockContent("24h", False, RED)), 0.0, at)
    assert {p for p in pixels(frame) if p != (0, 0, 0)} == {RED}


def test_an_image_is_drawn_at_its_position_and_scale() -> None:
    picture = Image.new("RGB", (2, 2), (0, 200, 0))
    renderer = Renderer(16, 8, {"logo": picture}.get)
    frame = renderer.render(item(ImageContent("logo", x=3, y=1, scale=2.0)), 0.0)
    lit = {(x, y) for x in range(16) for y in range(8) if frame.getpixel((x, y)) != (0, 0, 0)}
    assert lit == {(x, y) for x in range(3, 7) for y in range(1, 5)}
    missing = Renderer(16, 8).render(item(ImageContent("gone")), 0.0)
    assert missing.getbbox() is None


def test_overlay_band_sits_on_its_edge_with_its_colours() -> None:
    renderer = Renderer(64, 32)
    frame = renderer.blank()
    overlay = TextOverlay("Hi", position="top", animation="static", background_color="#000080")
    renderer.overlay(frame, overlay, 0.0)
    assert frame.getpixel((0, 0)) == (0, 0, 128)
    assert frame.getpixel((0, 10)) == (0, 0, 128) and frame.getpixel((0, 11)) == (0, 0, 0)
    assert (255, 255, 255) in {frame.getpixel((x, y)) for x in range(64) for y in range(11)}
    bottom = renderer.overlay(renderer.blank(), TextOverlay("Hi", animation="static"), 0.0)
    assert bottom.getbbox()[1] >= 21  # type: ignore[index]


def test_scrolling_overlay_moves_left_at_its_speed() -> None:
    renderer = Renderer(64, 32)
    overlay = TextOverlay("I", position="bottom", animation="scroll", speed=10.0)
    at_1 = lit_columns(renderer.overlay(renderer.blank(), overlay, 1.0))
    at_2 = lit_columns(renderer.overlay(renderer.blank(), overlay, 2.0))
    assert at_1 and [x - 10 for x in at_1] == at_2


def test_idle_card_is_not_blank_and_moves() -> None:
    renderer = Renderer(64, 32)
    assert renderer.idle(0.0).getbbox() is not None
    assert renderer.idle(0.0).tobytes() != renderer.idle(1.0).tobytes()
