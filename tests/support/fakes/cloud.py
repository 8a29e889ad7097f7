"""The `cloud` fixture: a SimCloud served on 127.0.0.1 in the test's nursery."""

from __future__ import annotations

import pytest
import trio

from edgebox.sim.cloud import SimCloud, serve


@pytest.fixture
async def cloud(nursery: trio.Nursery) -> SimCloud:
    """A running simulated cloud; user "box"/"s3cret-password" as in conftest's base_venue."""
    c = SimCloud(users={"box": "s3cret-password"})
    await nursery.start(serve, c)
    return c
