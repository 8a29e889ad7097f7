from __future__ import annotations

import pytest
import trio
import trio.testing

from edgebox.cache.store import Store
from edgebox.core.errors import ValidationError
from edgebox.core.values import TextOverlay
from edgebox.hub import Hub


async def test_changes_are_persisted_and_survive_a_reload(store: Store, hub: Hub) -> None:
    await hub.set_brightness(40)
    await hub.set_volume(70)
    await hub.show_overlay(TextOverlay(text="Welcome", position="top"))
    await hub.set_playlist("front", 101, [1, 2, 3])
    await hub.next()
    reloaded = await Hub.load(store)
    assert reloaded.brightness == 40
    assert reloaded.volume == 70
    assert reloaded.overlay == TextOverlay(text="Welcome", position="top")
    assert reloaded.playback["front"].playlist_id == 101
    assert reloaded.playback["front"].index == 1


async def test_subscribers_see_changes_in_order(hub: Hub) -> None:
    with hub.subscribe({"brightness"}) as sub:
        for level in (10, 20, 30):
            await hub.set_brightness(level)
        await hub.set_volume(5)
        seen = [(await sub.get()).value for _ in range(3)]
    assert seen == [10, 20, 30]
    assert hub.subscriber_count == 0


async def test_slow_subscriber_never_blocks_the_writer(hub: Hub) -> None:
    with hub.subscribe(maxlen=4) as slow, hub.subscribe() as fast:
        with trio.fail_after(5):
            for level in range(50):
                await hub.set_brightness(level)
        assert slow.dropped == 46
        assert [(await slow.get()).value for _ in range(4)] == [46, 47, 48, 49]
        assert fast.dropped == 0
        assert [(await fast.get()).value for _ in range(50)] == list(range(50))


@pytest.mark.parametrize("bad", [-1, 101, 50.5, "50", True, None])
async def test_invalid_levels_change_nothing(hub: Hub, store: Store, bad: object) -> None:
    with hub.subscribe() as sub:
        with pytest.raises(ValidationError, match="brightness"):
            await hub.set_brightness(bad)
        with pytest.raises(ValidationError, match="volume"):
            await hub.set_volume(bad)
        assert hub.brightness == 100
        assert hub.volume == 50
        assert await store.get("hub/brightness") is None
        with trio.move_on_after(0.01):
            await sub.get()
            pytest.fail("an invalid change was published")


async def test_next_previous_and_play_media_walk_the_playlist(hub: Hub) -> None:
    await hub.set_playlist("front", 7, [11, 12, 13])
    await hub.previous()
    assert hub.playback["front"].index == 2
    await hub.next()
    assert hub.playback["front"].index == 0
    assert await hub.play_media(media_id=13)
    assert hub.playback["front"].index == 2
    assert await hub.play_media(media_index=1)
    assert hub.playback["front"].index == 1
    assert not await hub.play_media(media_id=999)
    assert hub.playback["front"].index == 1
    await hub.pause()
    assert not hub.playback["front"].playing
    await hub.play()
    assert hub.playback["front"].playing


async def test_refreshed_playlist_keeps_the_current_media(hub: Hub) -> None:
    await hub.set_playlist("back", 8, [1, 2, 3])
    await hub.play_media(media_id=2)
    await hub.refresh_playlist("back", [5, 2, 1])
    assert hub.playback["back"].index == 1
    await hub.refresh_playlist("back", [9])
    assert hub.playback["back"].index == 0


def test_overlay_rejects_bad_values() -> None:
    with pytest.raises(ValidationError, match=r"text_overlay\.position"):
        TextOverlay(text="x", position="middle")
    with pytest.raises(ValidationError, match=r"text_overlay\.text_color"):
        TextOverlay(text="x", text_color="white")
    with pytest.raises(ValidationError, match=r"text_overlay\.text"):
        TextOverlay(text="  ")


async def test_pause_and_play_keep_the_generation_and_the_player_moves_the_index(hub: Hub) -> None:
    await hub.set_playlist("front", 7, [11, 12, 13])
    generation = hub.playback["front"].generation
    await hub.pause()
    await hub.play()
    assert hub.playback["front"].generation == generation
    await hub.playing_at("front", generation, 2)
    assert hub.playback["front"].index == 2
    assert hub.playback["front"].generation == generation
    await hub.next()  # counts from where the player is
    assert hub.playback["front"].index == 0
    await hub.playing_at("front", generation, 1)  # from before the command: ignored
    assert hub.playback["front"].index == 0
    await hub.playing_at("front", hub.playback["front"].generation, 9)  # no such index
    assert hub.playback["front"].index == 0


async def test_publishing_wakes_the_same_few_readers_for_one_or_a_thousand(hub: Hub) -> None:
    """The writer's cost does not grow with the readers: it wakes at most WAKE_WIDTH of them,
    and the woken ones pass the change on until every reader has it."""
    from edgebox.feed import WAKE_WIDTH

    async def read(got: list[int], ready: list[object]) -> None:
        with hub.subscribe({"brightness"}) as sub:
            ready.append(sub)
            got.append((await sub.get()).value)

    for readers in (1, 1000):
        got: list[int] = []
        ready: list[object] = []
        async with trio.open_nursery() as nursery:
            for _ in range(readers):
                nursery.start_soon(read, got, ready)
            await trio.testing.wait_all_tasks_blocked()
            assert len(ready) == readers
            before = trio.lowlevel.current_statistics().tasks_runnable
            hub.publish("brightness", readers)
            woken = trio.lowlevel.current_statistics().tasks_runnable - before
            assert 1 <= woken <= min(readers, WAKE_WIDTH)
        assert got == [readers] * readers


async def test_readers_that_stop_waiting_do_not_stop_the_change_reaching_the_rest(
    hub: Hub,
) -> None:
    got: list[int] = []
    async with trio.open_nursery() as nursery:
        scopes = []

        async def read(quitter: bool) -> None:
            with trio.CancelScope() as scope, hub.subscribe({"volume"}) as sub:
                if quitter:
                    scopes.append(scope)
                got.append((await sub.get()).value)

        for n in range(200):
            nursery.start_soon(read, n % 3 != 0)
        await trio.testing.wait_all_tasks_blocked()
        for scope in scopes:
            scope.cancel()
        await trio.testing.wait_all_tasks_blocked()
        hub.publish("volume", 7)
    assert got == [7] * (200 - len(scopes))
    assert hub.subscriber_count == 0


async def test_a_reader_of_several_topics_gets_them_in_order_and_loses_only_the_oldest(
    hub: Hub,
) -> None:
    with hub.subscribe({"a", "b"}, maxlen=5) as some, hub.subscribe(maxlen=100) as every:
        for n in range(8):
            hub.publish("a" if n % 3 else "b", n)
            hub.publish("c", -n)
        assert some.dropped == 3
        assert [(await some.get()).value for _ in range(5)] == [3, 4, 5, 6, 7]
        assert some.dropped == 3
        seen = [(await every.get()).value for _ in range(16)]
        assert seen == [v for n in range(8) for v in (n, -n)] and every.dropped == 0
        hub.publish("b", 99)
        assert (await some.get()).topic == "b"


async def test_the_boxs_own_first_readers_are_woken_before_a_thousand_streams(hub: Hub) -> None:
    from edgebox.feed import WAKE_WIDTH

    order: list[str] = []

    async def read(name: str, first: bool) -> None:
        with hub.subscribe({"brightness"}, first=first) as sub:
            await sub.get()
            order.append(name)

    async with trio.open_nursery() as nursery:
        for n in range(1001):
            nursery.start_soon(read, f"stream {n}" if n else "panels", not n)
            await trio.testing.wait_all_tasks_blocked()
        hub.publish("brightness", 10)
    assert len(order) == 1001 and "panels" in order[: WAKE_WIDTH + 1]


async def test_an_interrupted_reader_gets_none_after_the_changes_already_there(hub: Hub) -> None:
    with hub.subscribe({"volume"}) as sub:
        sub.interrupt()
        hub.publish("volume", 1)
        assert (await sub.next()).value == 1  # type: ignore[union-attr]
        assert await sub.next() is None
        async with trio.open_nursery() as nursery:
            got: list[object] = []

            async def read() -> None:
                got.append(await sub.next())
                got.append((await sub.get()).value)

            nursery.start_soon(read)
            await trio.testing.wait_all_tasks_blocked()
            sub.interrupt()
            await trio.testing.wait_all_tasks_blocked()
            assert got == [None]
            hub.publish("volume", 2)
        assert got == [None, 2]
        assert sub.dropped == 0


async def test_readers_woken_by_an_interrupt_still_pass_a_change_on_to_every_reader(
    hub: Hub,
) -> None:
    got: list[int] = []
    subs = []

    async def read() -> None:
        with hub.subscribe({"volume"}) as sub:
            subs.append(sub)
            while (change := await sub.next()) is None:
                pass
            got.append(change.value)

    async with trio.open_nursery() as nursery:
        for _ in range(100):
            nursery.start_soon(read)
        await trio.testing.wait_all_tasks_blocked()
        hub.publish("volume", 3)
        for sub in subs[::2]:
            sub.interrupt()  # while the change is still being passed on
    assert got == [3] * 100
    assert hub.subscriber_count == 0
