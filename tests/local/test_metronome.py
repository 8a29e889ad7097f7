"""One task keeps the time of every event stream: ticks after silence, or on a fixed beat."""

from __future__ import annotations

import trio
import trio.testing

from edgebox.hub import Hub
from edgebox.local.metronome import Metronome


async def test_a_silent_reader_is_interrupted_each_period_and_speaking_moves_its_tick(
    hub: Hub, autojump_clock: trio.testing.MockClock
) -> None:
    metronome = Metronome()
    start = trio.current_time()
    ticks: list[float] = []
    async with trio.open_nursery() as nursery:
        await nursery.start(metronome.run)
        with hub.subscribe({"t"}) as sub, metronome.keep(sub, 2.0) as beat:
            with trio.move_on_after(9.5):
                while True:
                    if await sub.next() is None:
                        ticks.append(trio.current_time() - start)
                        if len(ticks) == 1:
                            await trio.sleep(1.0)
                            hub.publish("t", "spoke at 3")
                    else:
                        beat.spoke()
        nursery.cancel_scope.cancel()
    assert ticks == [2.0, 5.0, 7.0, 9.0]


async def test_streams_of_different_periods_tick_on_their_own_and_closed_ones_stop(
    autojump_clock: trio.testing.MockClock, hub: Hub
) -> None:
    metronome = Metronome()
    start = trio.current_time()
    ticks: dict[str, list[float]] = {"slow": [], "fast": [], "gone": []}

    async def listen(name: str, period: float, seconds: float) -> None:
        with hub.subscribe({name}) as sub, metronome.keep(sub, period):
            with trio.move_on_after(seconds):
                while True:
                    assert await sub.next() is None
                    ticks[name].append(trio.current_time() - start)

    async with trio.open_nursery() as nursery:
        await nursery.start(metronome.run)
        async with trio.open_nursery() as streams:
            streams.start_soon(listen, "slow", 15.0, 40.0)
            await trio.sleep(0.5)
            # kept after the slow one, due before it: the metronome must wake sooner
            streams.start_soon(listen, "fast", 1.0, 3.9)
            streams.start_soon(listen, "gone", 0.25, 0.6)
        nursery.cancel_scope.cancel()
    assert ticks == {
        "slow": [15.0, 30.0],
        "fast": [1.5, 2.5, 3.5],
        "gone": [0.75, 1.0],
    }
