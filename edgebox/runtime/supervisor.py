"""The supervisor: every service restarts on failure with capped backoff, alone."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import attrs
import trio

from edgebox.core.backoff import Backoff
from edgebox.core.service import Service

log = logging.getLogger(__name__)


def describe(exc: BaseException) -> str:
    """`Type: message` of the errors inside nursery exception groups, not of the group."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


@attrs.define
class ServiceState:
    """What the supervisor knows of one service, for the status page and the watchdog."""

    name: str
    status: str = "starting"  # starting | running | backoff | stopped
    restarts: int = 0
    last_error: str | None = None
    started_at: float | None = None


@attrs.define
class Supervisor:
    """Restarts failed services with capped backoff; one failure never reaches the others."""

    backoff: Callable[[], Backoff] = lambda: Backoff(initial=1.0, cap=30.0)
    healthy_after: float = 60.0
    states: dict[str, ServiceState] = attrs.Factory(dict)

    async def supervise(
        self,
        name: str,
        service: Service,
        *,
        task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Run `service` forever; the first successful start is reported to the caller."""
        state = self.states.setdefault(name, ServiceState(name))
        backoff = self.backoff()
        reported = False
        while True:
            state.status = "starting"
            began = trio.current_time()
            try:
                async with trio.open_nursery() as nursery:
                    value = await nursery.start(service)
                    state.status, state.started_at = "running", trio.current_time()
                    if not reported:
                        task_status.started(value)
                        reported = True
            except Exception as exc:
                state.restarts += 1
                state.last_error = describe(exc)
                if trio.current_time() - began >= self.healthy_after:
                    backoff.reset()
                delay = backoff.next_delay()
                state.status = "backoff"
                log.error(
                    "service %s failed (%s); restarting in %.1f s",
                    name,
                    state.last_error,
                    delay,
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
                await trio.sleep(delay)
            else:
                state.status = "stopped"
                log.info("service %s finished", name)
                if not reported:
                    task_status.started(None)
                return

    def healthy(self) -> bool:
        return all(s.status in ("running", "stopped") for s in self.states.values())
