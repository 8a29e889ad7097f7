"""The preview lock's clock: a preview ends PREVIEW_TIMEOUT after its last ping."""

from __future__ import annotations

import trio

from edgebox.core.service import Service
from edgebox.hub import Hub


def preview_expiry(hub: Hub) -> Service:
    """Ends a preview PREVIEW_TIMEOUT after its last ping, so the sign returns to the playlist."""

    async def run(*, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        with hub.subscribe({"preview"}) as changes:
            task_status.started()
            while True:
                deadline = hub.preview.deadline
                if deadline is None:
                    await changes.get()
                    continue
                with trio.move_on_at(deadline) as waiting:
                    await changes.get()
                if waiting.cancelled_caught:
                    await hub.expire_preview()

    return run
