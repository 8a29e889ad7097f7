"""Server-Sent Events: one encoder, one response, and one loop over a hub subscription.

The loop sends a first event, then what each change turns into, and a tick when `period`
passes: after `period` of silence (a keep-alive), or on a fixed beat (the status feed); the
time is kept for every stream by one `Metronome`, so waiting for a change costs no timer. The
hub subscription lives exactly as long as the response body: a client that goes away cancels
the body, and its subscription is dropped at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

from quart import Response, current_app

if TYPE_CHECKING:
    from edgebox.hub import Change, Hub
    from edgebox.local.metronome import Metronome


def encode(data: Any, event: str | None = None) -> bytes:
    """One event: `data` as compact JSON, under `event` when given."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def respond(stream: AsyncIterator[bytes]) -> Response:
    response: Response = current_app.response_class(
        stream,
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
    response.timeout = None
    return response


async def feed(
    hub: Hub,
    topics: set[str],
    *,
    metronome: Metronome,
    first: Callable[[], bytes],
    change: Callable[[Change], Awaitable[bytes | None]],
    tick: Callable[[], bytes],
    period: float,
    beat: bool = False,
    maxlen: int = 64,
) -> AsyncIterator[bytes]:
    """`first()`, then `change(c)` for each change of `topics` (None sends nothing), and
    `tick()` after `period` without a change; with `beat=True`, every `period` regardless.
    The ticks come from `metronome`, which must be running."""
    with hub.subscribe(topics, maxlen=maxlen) as sub, metronome.keep(sub, period) as pulse:
        yield first()
        while True:
            got = await sub.next()
            if got is None:
                yield tick()
                continue
            if not beat:
                pulse.spoke()
            sent = await change(got)
            if sent is not None:
                yield sent
