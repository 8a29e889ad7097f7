"""Capped exponential backoff with jitter, shared by the supervisor and the cloud links."""

from __future__ import annotations

import random

import attrs


@attrs.define
class Backoff:
    """Delays that double from `initial` up to `cap`; `jitter` spreads each by ±that fraction.

    Jitter keeps a venue's worth of boxes from reconnecting to the cloud in lock-step.
    """

    initial: float = 1.0
    cap: float = 60.0
    factor: float = 2.0
    jitter: float = 0.2
    rng: random.Random = attrs.field(factory=random.Random, repr=False)
    attempt: int = 0

    def next_delay(self) -> float:
        base = min(self.cap, self.initial * self.factor**self.attempt)
        self.attempt += 1
        spread = base * self.jitter
        return min(self.cap, max(0.0, base + self.rng.uniform(-spread, spread)))

    def reset(self) -> None:
        self.attempt = 0
