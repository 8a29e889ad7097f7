"""The garbage collector, set for a process that serves for months once it has started.

Measured under 50 concurrent check-device clients: CPython's default thresholds ran a full
collection every second or so, each walking every object the box holds (modules, routes, the
IPTV catalog) for 45-85 ms, during which no request moved: the answers' p95 was several times
their p50. What exists once the box has started lives as long as the process, so it is moved out
of the collector's sight (`gc.freeze`), and the youngest generation is collected less often;
cycles made later are still found and freed.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 20_000


def settle() -> None:
    """Call once the box's long-lived parts exist; again after a large reload is harmless."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
