"""The optional `lan.sign_token`: when the venue file sets it, the LED API, its events and the
`/sign` editor answer only requests that carry it (bearer header or the editor's cookie).

Empty by default: a sign controller on the venue's own LAN is open to that LAN, as the LED
sign controller document has it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from quart import Blueprint, Response

from edgebox.local.http import json_error, offers_token

SIGN_COOKIE = "edgebox_sign"


def sign_authorized(token: str) -> bool:
    return not token or offers_token(token, SIGN_COOKIE)


def refuse_without_sign_token(token: str) -> Callable[[], Awaitable[Response | None]]:
    """A `before_request` hook: 401 unless the request carries the sign token."""

    async def check() -> Response | None:
        if sign_authorized(token):
            return None
        return json_error(401, "sign token required (lan.sign_token)")

    return check


def guard_with_sign_token(bp: Blueprint, token: str) -> None:
    """Refuse `bp`'s requests without the sign token, when one is set; an open sign API (no
    token) then pays for no check on each request."""
    if token:
        bp.before_request(refuse_without_sign_token(token))
