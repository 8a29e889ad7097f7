"""The one SSE loop: a first event, each change, and ticks after silence or on a beat."""

from __future__ import annotations

import trio
import trio.testing

from edgebox.hub import Change, Hub
from edgebox.local import sse
from edgebox.local.metronome import Metronome


def test_an_event_is_json_under_its_name() -> None:
    assert sse.encode({"a": 1}) == b'data: {"a":1}\n\n'
    assert sse.encode([1, 2], "frame") == b"event: frame\ndata: [1,2]\n\n"


async def collect(
    hub: Hub, clock: trio.testing.MockClock, *, beat: bool
) -> list[tuple[float, bytes]]:
    """What the feed sends over 10 s while a change is published at 1.5 s and 2 s."""
    start = trio.current_time()

    async def changed(c: Change) -> bytes | None:
        return None if c.value == "skip" else sse.encode(c.value)

    got: list[tuple[float, bytes]] = []
    metronome = Metronome()
    stream = sse.feed(
        hub,
        {"t"},
        metronome=metronome,
        first=lambda: b"first",
        change=changed,
        tick=lambda: b"tick",
        period=1.0,
        beat=beat,
    )

    async def publish() -> None:
        await trio.sleep(1.5)
        hub.publish("t", "hello")
        await trio.sleep(0.5)
        hub.publish("t", "skip")

    async with trio.open_nursery() as nursery:
        await nursery.start(metronome.run)
        with trio.move_on_after(4.25):
            async for chunk in stream:
                got.append((round(trio.current_time() - start, 2), chunk))
                if chunk == b"first":
                    nursery.start_soon(publish)
        await stream.aclose()
        nursery.cancel_scope.cancel()
    return got


async def test_without_a_beat_a_tick_comes_only_after_a_period_of_silence(
    hub: Hub, autojump_clock: trio.testing.MockClock
) -> None:
    got = await collect(hub, autojump_clock, beat=False)
    assert got == [
        (0.0, b"first"),
        (1.0, b"tick"),
        (1.5, b'data: "hello"\n\n'),
        (3.0, b"tick"),  # the skipped change at 2.0 still counts as a sound
        (4.0, b"tick"),
    ]


async def test_with_a_beat_ticks_keep_their_time_whatever_changes(
    hub: Hub, autojump_clock: trio.testing.MockClock
) -> None:
    got = await collect(hub, autojump_clock, beat=True)
    assert got == [
        (0.0, b"first"),
        (1.0, b"tick"),
        (1.5, b'data: "hello"\n\n'),
        (2.0, b"tick"),
        (3.0, b"tick"),
        (4.0, b"tick"),
    ]
