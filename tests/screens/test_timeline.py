"""The cloud playlist timeline and frame composition, with plain values and hypothesis."""

from __future__ import annotations

import math

import attrs
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from edgebox.core.values import Effects, Layout, MediaItem, PlaybackConfig, Timing
from edgebox.screens import timeline as tl

NO_LAYOUT, NO_EFFECTS = Layout(), Effects()


def item(
    media_id: int,
    duration: float = 10.0,
    *,
    video: bool = False,
    plays: int = 1,
    loop: bool = False,
    start_time: float = 0,
    layout: Layout = NO_LAYOUT,
    effects: Effects = NO_EFFECTS,
) -> MediaItem:
    return MediaItem(
        media_id=media_id,
        order=media_id,
        media_name=f"m{media_id}",
        media_type="video" if video else "image",
        mimetype="",
        media_url=f"/m/{media_id}",
        file_size=1,
        checksum="0" * 32,
        layout=layout,
        timing=Timing(start_time, duration, loop),
        effects=effects,
        n_time_play=plays,
    )


def shown(timeline: tl.Timeline, at: float, start: tuple[int, int] = (0, 0)) -> object:
    position = timeline.position(*start, at)
    if position is None:
        return None
    return (timeline.entries[position.entry].item.media_id, position.play, round(position.t, 6))


def test_a_slot_lasts_its_duration_a_video_without_one_its_length_an_image_without_one_10s() -> (
    None
):
    assert tl.Entry(item(1, 4.0)).length == 4.0
    assert tl.Entry(item(1, 0)).length == tl.IMAGE_SECONDS
    assert tl.Entry(item(1, 0, video=True), media_length=7.5).length == 7.5
    assert tl.Entry(item(1, 0, video=True, start_time=2), media_length=7.5).length == 5.5
    assert tl.Entry(item(1, 3.0, video=True), media_length=7.5).length == 3.0
    assert tl.Entry(item(1, 0, video=True), media_length=None).length == tl.IMAGE_SECONDS
    assert tl.Entry(item(1, 0.001)).length == tl.MIN_SLOT_SECONDS


def test_a_short_video_loops_or_holds_its_last_frame_and_starts_at_its_start_time() -> None:
    looping = tl.Entry(item(1, 10, video=True, loop=True), media_length=4.0)
    holding = tl.Entry(item(1, 10, video=True), media_length=4.0)
    offset = tl.Entry(item(1, 10, video=True, start_time=1, loop=True), media_length=4.0)
    assert [looping.media_time(t) for t in (0, 3.5, 4.5, 9)] == [0, 3.5, 0.5, 1]
    assert [holding.media_time(t) for t in (0, 3.5, 4.5, 9)] == [0, 3.5, 4, 4]
    assert [offset.media_time(t) for t in (0, 2.5, 3.5)] == [1, 3.5, 1.5]
    assert tl.Entry(item(1, 10, video=True, start_time=9), media_length=4.0).start == 0


def test_repeat_and_repeat_count_give_the_number_of_passes() -> None:
    assert tl.passes(PlaybackConfig(repeat=False, repeat_count=-1)) == 1
    assert tl.passes(PlaybackConfig(repeat=True, repeat_count=-1)) is None
    assert tl.passes(PlaybackConfig(repeat=True, repeat_count=0)) == 1
    assert tl.passes(PlaybackConfig(repeat=True, repeat_count=2)) == 3


def test_items_play_in_turn_each_n_time_play_times_for_the_set_passes_then_stop() -> None:
    timeline = tl.Timeline((tl.Entry(item(1, 2.0, plays=2)), tl.Entry(item(2, 3.0))), passes=2)
    assert [shown(timeline, t) for t in (0, 1.5, 2, 3.9, 4, 6.9, 7, 11.5, 13.9, 14, 99)] == [
        (1, 0, 0),
        (1, 0, 1.5),
        (1, 1, 0),
        (1, 1, 1.9),
        (2, 0, 0),
        (2, 0, 2.9),
        (1, 0, 0),
        (2, 0, 0.5),
        (2, 0, 2.9),
        None,
        None,
    ]
    forever = attrs.evolve(timeline, passes=None)
    assert shown(forever, 7 * 1000 + 5) == (2, 0, 1)


def test_a_pass_begun_in_the_middle_of_the_list_ends_at_its_end() -> None:
    timeline = tl.Timeline(tuple(tl.Entry(item(i, 1.0)) for i in (1, 2, 3)), passes=1)
    assert shown(timeline, 0.5, start=(2, 0)) == (3, 0, 0.5)
    assert shown(timeline, 1.0, start=(2, 0)) is None
    position = timeline.position(1, 0, 1.2)
    assert position == tl.Position(entry=2, play=0, t=position.t, slot=1, lap=0)  # type: ignore[union-attr]


entries_strategy = st.lists(
    st.builds(
        lambda length, plays: tl.Entry(item(1, length, plays=plays)),
        st.floats(0.04, 100, allow_nan=False),
        st.integers(1, 4),
    ),
    min_size=1,
    max_size=8,
)


@given(
    entries_strategy,
    st.data(),
    st.floats(0, 10_000, allow_nan=False),
    st.one_of(st.none(), st.integers(1, 5)),
)
def test_a_position_is_always_inside_a_play_and_accounts_for_all_the_time(
    entries: list[tl.Entry], data: st.DataObject, elapsed: float, passes: int | None
) -> None:
    timeline = tl.Timeline(tuple(entries), passes)
    entry = data.draw(st.integers(0, len(entries) - 1))
    play = data.draw(st.integers(0, entries[entry].plays - 1))
    position = timeline.position(entry, play, elapsed)
    # Seconds from the start of the first lap to the anchor, and to the position.
    lap = timeline.lap_seconds

    def offset(i: int, k: int) -> float:
        return sum(e.plays * e.length for e in entries[:i]) + k * entries[i].length

    origin = offset(entry, play)
    if position is None:
        assert passes is not None
        assert origin + elapsed >= passes * lap * (1 - 1e-9)
        return
    e = entries[position.entry]
    assert 0 <= position.play < e.plays
    assert 0 <= position.t < e.length
    reached = position.lap * lap + offset(position.entry, position.play) + position.t
    assert math.isclose(reached, origin + elapsed, rel_tol=1e-9, abs_tol=1e-6)
    assert position.slot >= 0
    if passes is not None:
        assert position.lap < passes


@given(
    entries_strategy,
    st.lists(st.floats(0, 1000, allow_nan=False), min_size=2, max_size=20),
)
def test_plays_only_move_forward_as_time_goes_on(
    entries: list[tl.Entry], times: list[float]
) -> None:
    timeline = tl.Timeline(tuple(entries))
    slots = [timeline.position(0, 0, t).slot for t in sorted(times)]  # type: ignore[union-attr]
    assert slots == sorted(slots)


def test_layouts_are_stretched_from_the_playlist_canvas_onto_the_panel_canvas() -> None:
    source, canvas = (1920, 1080), (128, 64)
    assert tl.place(Layout(0, 0, 1920, 1080), source, canvas) == (0, 0, 128, 64)
    assert tl.place(Layout(960, 0, 960, 540), source, canvas) == (64, 0, 64, 32)
    assert tl.place(Layout(0, 540, 0, 0), source, canvas) == (0, 32, 128, 32)
    assert tl.place(Layout(0, 0, 0, 0), (0, 0), canvas) == (0, 0, 128, 64)
    assert tl.place(Layout(10, 5, 20, 10), (0, 0), canvas) == (10, 5, 20, 10)
    huge = tl.place(Layout(-(2**50), 0, 2**51, 10), source, canvas)
    assert huge[0] >= -2 * 128 and huge[2] <= 5 * 128


def test_background_colours_parse_and_bad_ones_fall_back() -> None:
    assert tl.parse_color("#10aBff") == (0x10, 0xAB, 0xFF)
    assert tl.parse_color("#f80") == (0xFF, 0x88, 0x00)
    assert tl.parse_color("red") == (0, 0, 0)
    assert tl.parse_color("#12345z", (1, 2, 3)) == (1, 2, 3)


def one_scene(timeline: tl.Timeline, at: float) -> tl.Scene:
    return tl.scene(timeline, timeline.position(0, 0, at), (128, 64), (0, 0), (9, 9, 9))


def test_fade_in_and_fade_out_ramp_the_item_over_half_a_second() -> None:
    timeline = tl.Timeline((tl.Entry(item(1, 4.0, effects=Effects(fade_in=True, fade_out=True))),))
    opacity = [one_scene(timeline, t).layers[0].opacity for t in (0, 0.25, 1, 3.75, 3.999)]
    assert [round(o, 3) for o in opacity] == [0, 0.5, 1, 0.5, 0.002]
    assert not one_scene(timeline, 0.25).settled
    assert one_scene(timeline, 0.5).settled
    short = tl.Timeline((tl.Entry(item(1, 1.0, effects=Effects(fade_in=True))),))
    assert one_scene(short, 0.125).layers[0].opacity == 0.5  # a quarter of the slot at most


def test_fade_transition_lays_the_incoming_item_over_the_outgoing_one() -> None:
    timeline = tl.Timeline(
        (tl.Entry(item(1, 2.0)), tl.Entry(item(2, 2.0, effects=Effects(transition="fade"))))
    )
    assert len(one_scene(timeline, 1.0).layers) == 1
    scene = one_scene(timeline, 2.25)
    outgoing, incoming = scene.layers
    assert (outgoing.media_id, outgoing.still, outgoing.opacity) == (1, True, 1.0)
    assert (incoming.media_id, incoming.opacity) == (2, 0.5)
    assert scene.media_id == 2 and not scene.settled
    assert len(one_scene(timeline, 2.5).layers) == 1
    # The first item after a start or a jump has nothing to cross-fade from.
    assert (
        len(tl.scene(timeline, timeline.position(1, 0, 0.1), (128, 64), (0, 0), (0, 0, 0)).layers)
        == 1
    )


def test_slide_transition_pushes_the_outgoing_item_out_to_the_left() -> None:
    timeline = tl.Timeline(
        (tl.Entry(item(1, 2.0)), tl.Entry(item(2, 2.0, effects=Effects(transition="slide"))))
    )
    outgoing, incoming = one_scene(timeline, 2.125).layers
    assert (incoming.dx, outgoing.dx) == (96, -32)
    assert one_scene(timeline, 2.5).layers[0].dx == 0


def test_higher_z_index_is_drawn_on_top_even_when_outgoing() -> None:
    timeline = tl.Timeline(
        (
            tl.Entry(item(1, 2.0, layout=Layout(0, 0, 0, 0, z_index=5))),
            tl.Entry(item(2, 2.0, effects=Effects(transition="fade"))),
        )
    )
    assert [layer.media_id for layer in one_scene(timeline, 2.1).layers] == [2, 1]


def test_a_finished_playlist_shows_its_background_only() -> None:
    timeline = tl.Timeline((tl.Entry(item(1, 1.0)),), passes=1)
    scene = one_scene(timeline, 5.0)
    assert scene == tl.Scene((9, 9, 9))
    frame = tl.compose(scene, (4, 2), lambda _layer: None)
    assert frame.getcolors() == [(8, (9, 9, 9))]


def test_compose_places_blends_clips_and_keeps_transparency() -> None:
    red = Image.new("RGB", (2, 2), (255, 0, 0))
    see_through = Image.new("RGBA", (2, 2), (0, 0, 255, 0))
    see_through.putpixel((0, 0), (0, 0, 255, 255))
    layers = (
        tl.Layer(1, 0, 0, 0.0, (0, 0, 2, 2)),
        tl.Layer(2, 1, 1, 0.0, (2, 0, 2, 2), opacity=0.5),
        tl.Layer(3, 2, 2, 0.0, (0, 0, 2, 2), dx=3),  # slid half off the right edge
        tl.Layer(4, 3, 3, 0.0, (0, 0, 2, 2)),
    )
    pictures = {0: red, 1: red, 2: red, 3: see_through}
    frame = tl.compose(tl.Scene((0, 0, 100), layers), (4, 2), lambda layer: pictures[layer.slot])
    assert frame.getpixel((0, 0)) == (0, 0, 255)  # the opaque pixel of the RGBA picture
    assert frame.getpixel((1, 1)) == (255, 0, 0)  # under its transparent part, red
    assert frame.getpixel((2, 0)) == (128, 0, 50)  # half red over the background
    assert frame.getpixel((3, 1)) == (255, 0, 0)  # the slid layer's visible column
