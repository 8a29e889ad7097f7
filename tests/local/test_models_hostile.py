"""Any JSON into the LED and IPTV models: a valid model, or a ValidationError that names the
field, never another exception. What parses writes back JSON that parses to the same model
and matches the documented schema."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import attrs
import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgebox.core.errors import ValidationError
from edgebox.core.values import check_level
from edgebox.iptv import model as iptv
from edgebox.ledsign import model as ledsign
from edgebox.local import ledschema
from edgebox.local.http import _not_json
from edgebox.local.iptv_api import activation_code

# JSON as Python's json module decodes it: NaN and Infinity included, which it reads too.
NUMBERS = st.integers() | st.floats() | st.sampled_from([10**400, -(10**400), 2**63, 1e308])
SCALARS = st.none() | st.booleans() | NUMBERS | st.text(max_size=12)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=16,
)
OBJECTS = st.dictionaries(st.text(max_size=8), JSON, max_size=5)


def near(valid: dict[str, Any], replace: st.SearchStrategy[Any] = JSON) -> st.SearchStrategy[Any]:
    """`valid` with some keys dropped or given hostile values, nested objects too."""

    def mutate(draw: st.DrawFn) -> Any:
        out = {}
        for key, value in valid.items():
            choice = draw(st.integers(0, 5))
            if choice == 0:
                continue
            if choice == 1:
                out[key] = draw(replace)
            elif isinstance(value, dict) and choice == 2:
                out[key] = draw(near(value, replace))
            else:
                out[key] = value
        return out

    return st.composite(mutate)()


TEXT_ITEM = {
    "id": "a1",
    "duration": 5,
    "repeat_count": None,
    "border_effect": {"Pulse": {"colors": [[1, 2, 3]]}},
    "content": {
        "content_type": "Text",
        "data": {
            "text": "Hello",
            "scroll": True,
            "color": [255, 0, 0],
            "speed": 30,
            "text_segments": [{"start": 0, "end": 2, "color": [0, 0, 255], "formatting": {}}],
        },
    },
}
CLOCK_ITEM = {
    "repeat_count": 0,
    "border_effect": "Rainbow",
    "content": {"type": "Clock", "data": {}},
}
IMAGE_ITEM = {"duration": 1.5, "content": {"type": "Image", "data": {"image_id": "img", "x": -3}}}
ITEMS = JSON | st.sampled_from([TEXT_ITEM, CLOCK_ITEM, IMAGE_ITEM]).flatmap(near)


def refused_by_name(call: Any, *args: Any, **kwargs: Any) -> Any:
    """The call's result, or None after a ValidationError that names a field."""
    try:
        return call(*args, **kwargs)
    except ValidationError as exc:
        assert exc.field is not None and exc.message, exc  # "" is a key a body may hold
        return None


@settings(max_examples=150, deadline=None)
@given(ITEMS)
def test_any_json_is_an_led_item_or_a_named_refusal_and_items_round_trip(data: Any) -> None:
    item = refused_by_name(ledsign.parse_item, data, make_id=lambda: "made")
    if item is None:
        return
    written = ledsign.item_to_json(item)
    text = json.dumps(written, allow_nan=False)  # what the API sends is strict JSON
    jsonschema.validate(json.loads(text), ledschema.ITEM)
    assert ledsign.parse_item(json.loads(text)) == item


@settings(max_examples=150, deadline=None)
@given(JSON, st.lists(st.sampled_from(["a", "b", "c"]), unique=True))
def test_reorder_and_levels_take_any_json(ids: Any, present: list[str]) -> None:
    items = tuple(ledsign.parse_item(CLOCK_ITEM, make_id=lambda i=i: i) for i in present)
    reordered = refused_by_name(ledsign.reorder, items, ids)
    if reordered is not None:
        assert sorted(i.id for i in reordered) == sorted(present)
    level = refused_by_name(check_level, "brightness", ids)
    assert level is None or 0 <= level <= 100
    assert refused_by_name(ledsign.parse_image, ids) is None or isinstance(ids, dict)


NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DEVICE = {
    "owner_name": "Bar",
    "allowed_types": "FTA,Premium",
    "expiry_date": "2027-01-01",
    "status": "active",
    "disabled": False,
}
CHANNEL = {"name": "One", "url": "http://s/1", "type": "FTA", "category": "News", "logo_url": None}
NEWS = {"title": "Hi", "body": "There", "created_at": "2026-01-01T00:00:00Z"}


@settings(max_examples=150, deadline=None)
@given(st.one_of(OBJECTS, near(DEVICE)), st.one_of(OBJECTS, near(CHANNEL)), st.booleans())
def test_device_and_channel_bodies_are_fields_or_a_named_refusal(
    device: dict[str, Any], channel: dict[str, Any], partial: bool
) -> None:
    changes = refused_by_name(iptv.device_changes, device)
    if changes is not None:
        made = attrs.evolve(iptv.Device(1, "D1", "x", "0000", "2026-01-01T00:00:00Z"), **changes)
        json.dumps(made.admin(NOW), allow_nan=False)
        assert iptv.Device.from_json(made.to_json()) == made
    fields = refused_by_name(iptv.channel_fields, channel, partial=partial)
    if fields is not None and not partial:
        made_channel = iptv.Channel(id=1, **fields)
        assert iptv.Channel.from_json(made_channel.to_json()) == made_channel


@settings(max_examples=150, deadline=None)
@given(
    st.one_of(OBJECTS, near(NEWS, SCALARS | st.text(alphabet="0123456789-:TZ+.tz ", max_size=30)))
)
def test_news_bodies_are_fields_or_a_named_refusal_and_their_dates_sort(
    news: dict[str, Any],
) -> None:
    fields = refused_by_name(iptv.news_fields, news, partial=False)
    if fields is None:
        return
    item = iptv.News(1, fields["title"], fields["body"], fields.get("created_at", iptv.iso(NOW)))
    assert iptv.newest_first([item, iptv.News(2, "a", "b", iptv.iso(NOW))])
    assert iptv.News.from_json(item.to_json()) == item


@settings(max_examples=200, deadline=None)
@given(JSON)
def test_stored_records_and_client_fields_refuse_by_name(raw: Any) -> None:
    for parse in (iptv.Device.from_json, iptv.Channel.from_json, iptv.News.from_json):
        refused_by_name(parse, raw)
    for check in (iptv.check_duid, iptv.check_type, iptv.parse_allowed_types, iptv.parse_expiry):
        refused_by_name(check, raw)
    code = refused_by_name(activation_code, raw)
    assert code is None or (len(code) == 4 and code.isdigit())


@settings(max_examples=200, deadline=None)
@given(
    st.text(max_size=400)
    | st.lists(
        st.sampled_from(
            [
                "#EXTM3U",
                "#EXTINF:-1,A",
                '#EXTINF:-1 group-title="G, H",B',
                "#EXTINF:x",
                "http://s/a",
                "rtsp://s/b",
                "ftp://s/c",
                "",
                "#EXTGRP:Sport",
                "\ufeff#EXTINF:0,A",
                "  ",
                "a\x85b",
            ]
        ),
        max_size=12,
    ).map("\n".join)
)
def test_any_m3u_text_imports_or_is_refused_and_ids_stay_unique(text: str) -> None:
    existing = [iptv.Channel(1, "A", "http://old/a", "FTA")]
    planned = refused_by_name(iptv.plan_import, text, "Local", existing, 2)
    if planned is None:
        return
    channels, report, next_id = planned
    ids = [c.id for c in channels]
    assert len(set(ids)) == len(ids) and next_id > max(ids)
    assert len({iptv.name_key(c.name) for c in channels}) == len(channels)
    json.dumps(report.to_json(), allow_nan=False)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(constant: str) -> None:
    with pytest.raises(ValueError, match="not a JSON value"):
        json.loads(f'{{"brightness": {constant}}}', parse_constant=_not_json)
