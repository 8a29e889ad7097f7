"""The `panels` fixture: virtual LED panels on pty pairs, running in the test's nursery."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import trio

from edgebox.sim.panel import VirtualPanel

MakePanel = Callable[..., Awaitable[VirtualPanel]]


@pytest.fixture
async def panels(tmp_path: Path, nursery: trio.Nursery) -> AsyncIterator[MakePanel]:
    """`await panels(width, height, protocol=…)` → a running VirtualPanel; `.path` is its port."""
    made: list[VirtualPanel] = []

    async def make(width: int = 64, height: int = 32, **kwargs: object) -> VirtualPanel:
        kwargs.setdefault("path", tmp_path / f"ttyPANEL{len(made)}")
        panel = VirtualPanel(width, height, **kwargs)  # type: ignore[arg-type]
        made.append(panel)
        await nursery.start(panel.run)
        return panel

    yield make
    for panel in made:
        panel.close()


@pytest.fixture
async def panel(panels: MakePanel) -> VirtualPanel:
    """One 64x32 Adalight virtual panel."""
    return await panels(64, 32)
