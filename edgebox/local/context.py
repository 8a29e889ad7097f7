"""What the LAN app is given of the box: a small record of parts and views, never the box."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import attrs

from edgebox.core.config import CanvasConfig, LanConfig
from edgebox.core.metrics import Metrics
from edgebox.hub import Hub
from edgebox.iptv.catalog import Catalog


@attrs.frozen
class Lan:
    """The parts the routes use; the runtime builds it (`edgebox.runtime.wiring.lan_parts`)."""

    config: LanConfig
    images_dir: Path  # uploaded LED sign images
    hub: Hub
    iptv: Catalog
    metrics: Metrics
    status: Callable[[], dict[str, Any]]  # the status summary
    readiness: Callable[[], list[str]]  # what keeps the box from being ready; empty when ready
    # Ask the cloud sync to run once more; returns the runs finished before. None: no cloud.
    sync_now: Callable[[], Awaitable[int]] | None = None
    # The venue's canvases: the LED sign's size and which pictures the sign editor may show.
    canvases: tuple[CanvasConfig, ...] = ()
