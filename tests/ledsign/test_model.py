from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgebox.core.errors import NotInPreview, NotPreviewOwner, PreviewBusy, ValidationError
from edgebox.ledsign import model as ledsign
from edgebox.ledsign.model import (
    ClockContent,
    Gradient,
    ImageContent,
    LedItem,
    NoBorder,
    PreviewLock,
    Pulse,
    Rainbow,
    Sparkle,
    TextContent,
    TextFormatting,
    TextSegment,
    item_to_json,
    parse_item,
)


def text_item(**overrides: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": "550e8400-e29b-41d4-a716-446655440000",
        "duration": 10,
        "repeat_count": None,
        "border_effect": {"Rainbow": None},
        "content": {
            "content_type": "Text",
            "data": {
                "text": "Hello World",
                "scroll": False,
                "color": [255, 255, 255],
                "speed": 50.0,
                "text_segments": None,
            },
        },
    }
    item.update(overrides)
    return item


def test_the_documents_example_item_parses_and_is_written_back_in_the_same_shape() -> None:
    doc = text_item()
    item = parse_item(doc)
    assert item == LedItem(
        id="550e8400-e29b-41d4-a716-446655440000",
        duration=10.0,
        repeat_count=None,
        border_effect=Rainbow(),
        content=TextContent("Hello World", False, (255, 255, 255), 50.0, None),
    )
    written = item_to_json(item)
    assert written["content"]["type"] == written["content"]["data"]["type"] == "Text"
    del written["content"]["type"], written["content"]["data"]["type"]
    assert written == doc


def test_the_web_editors_type_tag_is_accepted_and_both_tags_are_written() -> None:
    doc = text_item()
    doc["content"] = {"type": "Clock", "data": {"format": "12h", "show_seconds": True}}
    item = parse_item(doc)
    assert item.content == ClockContent("12h", True, (255, 255, 255))
    assert item_to_json(item)["content"] == {
        "content_type": "Clock",
        "type": "Clock",
        "data": {"type": "Clock", "format": "12h", "show_seconds": True, "color": [255, 255, 255]},
    }


def test_a_missing_id_is_generated() -> None:
    doc = text_item()
    del doc["id"]
    assert parse_item(doc, make_id=lambda: "fresh-id").id == "fresh-id"
    assert len(parse_item(doc).id) == 36


def test_segments_borders_and_images_parse_into_their_models() -> None:
    doc = text_item(
        border_effect={"Gradient": {"colors": [[255, 0, 0], [0, 0, 255]]}},
    )
    doc["content"]["data"]["text_segments"] = [
        {"start": 0, "end": 5, "color": [255, 0, 0]},
        {"start": 6, "end": 11, "formatting": {"bold": True, "underline": True}},
    ]
    item = parse_item(doc)
    assert item.border_effect == Gradient(((255, 0, 0), (0, 0, 255)))
    assert isinstance(item.content, TextContent)
    assert item.content.text_segments == (
        TextSegment(0, 5, (255, 0, 0), None),
        TextSegment(6, 11, None, TextFormatting(bold=True, underline=True)),
    )
    image = parse_item(
        text_item(
            border_effect={"Sparkle": {"colors": [[1, 2, 3]]}},
            content={"content_type": "Image", "data": {"image_id": "img1", "x": -3, "y": 4}},
        )
    )
    assert image.content == ImageContent("img1", -3, 4, 1.0)
    assert image.border_effect == Sparkle(((1, 2, 3),))


@pytest.mark.parametrize(
    ("border", "expected"),
    [
        (None, None),
        ("None", NoBorder()),
        ({"None": None}, NoBorder()),
        ("Rainbow", Rainbow()),
        ({"Rainbow": None}, Rainbow()),
        ({"Pulse": {"colors": [[9, 8, 7]]}}, Pulse(((9, 8, 7),))),
    ],
)
def test_border_effects_are_read_in_every_spelling(border: Any, expected: Any) -> None:
    assert parse_item(text_item(border_effect=border)).border_effect == expected


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"duration": None}, "duration"),
        ({"repeat_count": 3}, "duration"),
        ({"duration": 0}, "duration"),
        ({"duration": "10"}, "duration"),
        ({"duration": None, "repeat_count": -1}, "repeat_count"),
        ({"duration": None, "repeat_count": 2}, "repeat_count"),
        ({"id": "has/slash"}, "id"),
        ({"id": 12}, "id"),
        ({"border_effect": {"Pulse": {"colors": []}}}, "border_effect.Pulse.colors"),
        ({"border_effect": {"Pulse": None}}, "border_effect.Pulse"),
        ({"border_effect": {"Glow": None}}, "border_effect"),
        ({"border_effect": {"Rainbow": None, "Pulse": None}}, "border_effect"),
        ({"border_effect": {"Gradient": {"colors": [[0, 0, 256]]}}}, None),
        ({"content": {"content_type": "Video", "data": {}}}, "content.content_type"),
        ({"content": {"type": "Video", "data": {}}}, "content.type"),
        ({"content": {"content_type": "Text", "type": "Clock", "data": {}}}, "content.type"),
        ({"content": {"data": {}}}, "content.content_type"),
        ({"content": {"content_type": "Text", "data": []}}, "content.data"),
        ({"content": {"content_type": "Text", "data": {"text": 5}}}, "content.data.text"),
        ({"content": {"content_type": "Image", "data": {}}}, "content.data.image_id"),
        ({"content": {"content_type": "Clock", "data": {"format": "13h"}}}, None),
        ({"content": None}, "content"),
    ],
)
def test_invalid_items_name_the_offending_field(change: dict[str, Any], field: str | None) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_item(text_item(**change))
    if field is not None:
        assert caught.value.field == field
    else:
        assert caught.value.field is not None


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"color": [255, 0]}, "content.data.color"),
        ({"color": [255, True, 0]}, "content.data.color[1]"),
        ({"color": [255, 0, 1.5]}, "content.data.color[2]"),
        ({"scroll": "yes"}, "content.data.scroll"),
        ({"speed": -1}, "content.data.speed"),
        ({"speed": 0, "scroll": True}, "content.data.speed"),
        ({"text_segments": [{"start": 0, "end": 12}]}, "content.data.text_segments[0].end"),
        ({"text_segments": [{"start": 4, "end": 4}]}, "content.data.text_segments[0].end"),
        ({"text_segments": [{"start": 0, "end": 2}, {"end": 2}]}, None),
        (
            {"text_segments": [{"start": 0, "end": 2, "formatting": {"bold": 1}}]},
            "content.data.text_segments[0].formatting.bold",
        ),
        (
            {"text_segments": [{"start": 0, "end": 2, "color": [1, 2, 300]}]},
            "content.data.text_segments[0].color[2]",
        ),
    ],
)
def test_text_content_errors_name_the_path_inside_data(
    data: dict[str, Any], field: str | None
) -> None:
    doc = text_item()
    doc["content"]["data"].update(data)
    with pytest.raises(ValidationError) as caught:
        parse_item(doc)
    assert caught.value.field == (field or "content.data.text_segments[1].start")


def test_scrolling_text_counts_repeats_and_zero_means_forever() -> None:
    doc = text_item(duration=None, repeat_count=0)
    doc["content"]["data"]["scroll"] = True
    item = parse_item(doc)
    assert item.scrolls and item.forever
    doc["repeat_count"] = 3
    assert parse_item(doc).repeat_count == 3
    assert not parse_item(doc).forever


def test_content_that_does_not_scroll_may_stay_forever_but_not_count_repeats() -> None:
    forever = parse_item(text_item(duration=None, repeat_count=0))
    assert forever.forever and not forever.scrolls
    with pytest.raises(ValidationError, match="give a duration"):
        parse_item(text_item(duration=None, repeat_count=1))


def test_reorder_needs_every_current_item_exactly_once() -> None:
    a, b, c = (parse_item(text_item(id=i)) for i in "abc")
    assert ledsign.reorder((a, b, c), ["c", "a", "b"]) == (c, a, b)
    for bad in (["a", "b"], ["a", "b", "b"], ["a", "b", "x"], "abc", [1, 2, 3], None):
        with pytest.raises(ValidationError) as caught:
            ledsign.reorder((a, b, c), bad)
        assert caught.value.field == "item_ids"


# Property tests

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.sampled_from([10**400, -(10**400)])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=20,
)

colors = st.tuples(*[st.integers(0, 255)] * 3)


@st.composite
def keyframes(draw: st.DrawFn) -> ledsign.ImageAnimation:
    stamps = sorted(draw(st.lists(st.integers(0, 60_000), min_size=2, max_size=6)))
    if stamps[-1] == 0:
        stamps[-1] = 1
    frames = tuple(
        ledsign.Keyframe(
            ms,
            draw(st.integers(-500, 500)),
            draw(st.integers(-500, 500)),
            draw(st.floats(0.01, 100)),
        )
        for ms in stamps
    )
    return ledsign.ImageAnimation(frames, draw(st.none() | st.integers(1, 100)))


SETTING_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "ms": st.integers(1, ledsign.MAX_ANIMATION_MS),
    "count": st.integers(1, 255),
    "border": st.integers(0, 255),
    "finite": st.floats(-1000, 1000),
    "positive": st.floats(0.001, 1000),
    "unit": st.floats(0, 1),
    "density": st.floats(0.001, 1),
    "bool": st.booleans(),
    "color": colors,
}


@st.composite
def animations(draw: st.DrawFn) -> ledsign.AnimationContent:
    preset = draw(st.sampled_from(list(ledsign.PRESETS)))
    settings = {
        name: draw(SETTING_VALUES[spec.kind]) for name, spec in ledsign.PRESETS[preset].items()
    }
    if "border_size" in settings:
        settings["border_size"] = min(settings["border_size"], settings["tile_size"])
    palette = tuple(draw(st.lists(colors, min_size=1, max_size=6)))
    return ledsign.AnimationContent(preset, palette, tuple(settings.items()))


@st.composite
def led_items(draw: st.DrawFn) -> LedItem:
    kind = draw(st.sampled_from(ledsign.CONTENT_TYPES))
    content: ledsign.Content
    if kind == "Text":
        text = draw(st.text(max_size=30))
        segments = None
        if text and draw(st.booleans()):
            segs = []
            for _ in range(draw(st.integers(0, 3))):
                start = draw(st.integers(0, len(text) - 1))
                end = draw(st.integers(start + 1, len(text)))
                fmt = draw(st.none() | st.builds(TextFormatting, *[st.booleans()] * 3))
                segs.append(TextSegment(start, end, draw(st.none() | colors), fmt))
            segments = tuple(segs)
        content = TextContent(
            text,
            draw(st.booleans()),
            draw(colors),
            draw(st.floats(0.5, 1000)),
            segments,
        )
    elif kind == "Image":
        content = ImageContent(
            draw(st.from_regex(ledsign._ID, fullmatch=True)),
            draw(st.integers(-500, 500)),
            draw(st.integers(-500, 500)),
            draw(st.floats(0.01, 100)),
            *draw(st.none().map(lambda _: (None, None)) | st.tuples(*[st.integers(1, 4096)] * 2)),
            animation=draw(st.none() | keyframes()),
        )
    elif kind == "Animation":
        content = draw(animations())
    else:
        content = ClockContent(
            draw(st.sampled_from(["12h", "24h"])), draw(st.booleans()), draw(colors)
        )
    scrolls = isinstance(content, TextContent) and content.scroll
    scrolls |= isinstance(content, ImageContent) and content.animation is not None
    if draw(st.booleans()):
        duration, repeat = draw(st.floats(0.1, 3600)), None
    else:
        duration, repeat = None, draw(st.integers(0, 50)) if scrolls else 0
    palette = st.lists(colors, min_size=1, max_size=4).map(tuple)
    border = draw(
        st.none()
        | st.just(NoBorder())
        | st.just(Rainbow())
        | st.builds(Pulse, palette)
        | st.builds(Sparkle, palette)
        | st.builds(Gradient, palette)
    )
    return LedItem(
        draw(st.from_regex(ledsign._ID, fullmatch=True)), duration, repeat, border, content
    )


@settings(max_examples=400)
@given(json_values)
def test_any_json_value_gives_an_item_or_a_validation_error(value: Any) -> None:
    try:
        parse_item(value)
    except ValidationError as exc:
        assert exc.field


@settings(max_examples=300)
@given(led_items(), st.data())
def test_near_miss_items_give_an_item_or_a_validation_error(item: LedItem, data: Any) -> None:
    """Valid items with one value swapped for arbitrary JSON explore deeper branches."""
    doc = item_to_json(item)
    node: Any = doc
    path = data.draw(st.lists(st.integers(0, 10), max_size=4))
    for step in path:
        if isinstance(node, dict) and node:
            key = sorted(node)[step % len(node)]
            if not isinstance(node[key], dict | list) or not node[key]:
                node[key] = data.draw(json_values)
                break
            node = node[key]
        elif isinstance(node, list) and node:
            i = step % len(node)
            if not isinstance(node[i], dict | list) or not node[i]:
                node[i] = data.draw(json_values)
                break
            node = node[i]
    try:
        parse_item(doc)
    except ValidationError as exc:
        assert exc.field


@settings(max_examples=300)
@given(led_items())
def test_every_item_survives_a_round_trip_through_json_text(item: LedItem) -> None:
    assert parse_item(json.loads(json.dumps(item_to_json(item)))) == item


# Preview lock


def test_a_second_session_is_refused_while_the_first_pings() -> None:
    item = parse_item(text_item())
    lock = PreviewLock().start("s1", item, now=100.0)
    assert lock.active and lock.deadline == 105.0
    with pytest.raises(PreviewBusy):
        lock.start("s2", item, now=104.9)
    lock = lock.ping("s1", now=104.0)
    with pytest.raises(PreviewBusy):
        lock.start("s2", item, now=108.0)
    with pytest.raises(NotPreviewOwner):
        lock.ping("s2", now=108.0)
    assert lock.is_owner("s1", 108.0) and not lock.is_owner("s2", 108.0)


def test_a_preview_without_pings_expires_after_five_seconds() -> None:
    item = parse_item(text_item())
    lock = PreviewLock().start("s1", item, now=0.0)
    assert lock.expire(4.99) is lock
    freed = lock.expire(5.0)
    assert not freed.active
    with pytest.raises(NotInPreview):
        lock.ping("s1", now=5.0)
    assert lock.start("s2", item, now=5.0).session_id == "s2"


def test_only_the_owner_updates_or_exits_and_an_update_counts_as_a_ping() -> None:
    item = parse_item(text_item())
    other = parse_item(text_item(id="other"))
    lock = PreviewLock().start("s1", item, now=0.0)
    with pytest.raises(NotPreviewOwner):
        lock.update("s2", other, now=1.0)
    with pytest.raises(NotPreviewOwner):
        lock.exit("s2", now=1.0)
    lock = lock.update("s1", other, now=4.0)
    assert lock.item == other and lock.deadline == 9.0
    freed = lock.exit("s1", now=5.0)
    assert not freed.active
    with pytest.raises(NotInPreview):
        freed.exit("s1", now=5.0)
    with pytest.raises(NotInPreview):
        freed.update("s1", item, now=5.0)
