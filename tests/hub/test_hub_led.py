from __future__ import annotations

from typing import Any

import pytest
import trio

from edgebox.cache.store import Store
from edgebox.core.errors import (
    ItemExists,
    NotPreviewOwner,
    PreviewBusy,
    UnknownItem,
    ValidationError,
)
from edgebox.hub import Hub
from edgebox.ledsign.model import ImageContent, LedImage, LedItem, TextContent


def item(item_id: str, text: str = "hello") -> LedItem:
    return LedItem(item_id, 5.0, None, None, TextContent(text))


async def no_change(sub: Any) -> None:
    with trio.move_on_after(0.01):
        change = await sub.get()
        pytest.fail(f"unexpected change {change}")


async def test_playlist_changes_are_published_with_their_action_and_survive_a_reload(
    store: Store, hub: Hub
) -> None:
    with hub.subscribe({"led_playlist"}) as sub:
        await hub.add_led_item(item("a"))
        await hub.add_led_item(item("b"))
        await hub.update_led_item(item("a", "changed"))
        await hub.reorder_led_items(["b", "a"])
        await hub.add_led_item(item("c"))
        await hub.delete_led_item("c")
        seen = [(await sub.get()).value for _ in range(6)]
    assert [action for action, _ in seen] == ["Add", "Add", "Update", "Reorder", "Add", "Delete"]
    assert [i.id for i in seen[3][1]] == ["b", "a"]
    reloaded = await Hub.load(store)
    assert reloaded.led_items == (item("b"), item("a", "changed"))


async def test_refused_playlist_changes_change_nothing(store: Store, hub: Hub) -> None:
    await hub.add_led_item(item("a"))
    with hub.subscribe() as sub:
        with pytest.raises(ItemExists):
            await hub.add_led_item(item("a", "again"))
        with pytest.raises(UnknownItem):
            await hub.update_led_item(item("zz"))
        with pytest.raises(UnknownItem):
            await hub.delete_led_item("zz")
        with pytest.raises(ValidationError):
            await hub.reorder_led_items(["a", "a"])
        image_item = LedItem("img", 5.0, None, None, ImageContent("nope"))
        with pytest.raises(ValidationError, match="no uploaded image"):
            await hub.add_led_item(image_item)
        await no_change(sub)
    assert hub.led_items == (item("a"),)
    assert len(await store.get("led/items")) == 1


async def test_images_are_recorded_and_survive_a_reload(store: Store, hub: Hub) -> None:
    image = LedImage("img1", "img1.png", "image/png", 4, 2, 99)
    await hub.add_led_image(image)
    await hub.add_led_item(LedItem("x", 5.0, None, None, ImageContent("img1", 1, 2)))
    reloaded = await Hub.load(store)
    assert reloaded.led_images == {"img1": image}
    assert reloaded.led_items[0].content == ImageContent("img1", 1, 2)


async def test_unreadable_saved_items_are_skipped_one_by_one(store: Store) -> None:
    await store.set(
        "led/items",
        [{"id": "bad"}, {"id": "ok", "duration": 3, "content": {"type": "Clock", "data": {}}}],
    )
    hub = await Hub.load(store)
    assert [i.id for i in hub.led_items] == ["ok"]


async def test_preview_lock_is_published_and_expires_on_the_trio_clock(
    hub: Hub, autojump_clock: trio.testing.MockClock
) -> None:
    with hub.subscribe({"preview"}) as sub:
        lock = await hub.start_preview(item("p"))
        assert (await sub.get()).value == lock
        with pytest.raises(PreviewBusy):
            await hub.start_preview(item("q"))
        await trio.sleep(4)
        await hub.ping_preview(lock.session_id)
        with pytest.raises(NotPreviewOwner):
            await hub.ping_preview("someone-else")
        await trio.sleep(4)
        assert not await hub.expire_preview()
        await no_change(sub)
        await trio.sleep(1)
        assert await hub.expire_preview()
        assert (await sub.get()).value is None
    assert not hub.preview.active
