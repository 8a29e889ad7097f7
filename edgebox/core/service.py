"""What a service is, for the features that offer one and the runtime that starts them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

# A service runs until cancelled and calls task_status.started(value) once it is ready.
Service = Callable[..., Awaitable[None]]
