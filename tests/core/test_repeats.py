"""A failure that repeats is logged when new, once an hour with a count, and on recovery."""

from __future__ import annotations

import logging

import pytest

from edgebox.core.repeats import Repeats


def test_a_minutely_failure_is_logged_hourly_with_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("edgebox.test.repeats")
    repeats = Repeats(log, every=3600)
    with caplog.at_level(logging.INFO, logger=log.name):
        for minute in range(24 * 60):
            repeats.failed(logging.WARNING, "cloud down", minute * 60.0)
        repeats.failed(logging.WARNING, "cloud answers 500", 24 * 3600.0)
        repeats.recovered("cloud back")
        repeats.recovered("cloud back")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 24 + 2
    assert messages[0] == "cloud down"
    assert messages[1] == "cloud down (and 59 more times since last logged)"
    assert messages[-2:] == ["cloud answers 500", "cloud back"]
