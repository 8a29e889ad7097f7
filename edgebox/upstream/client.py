"""The cloud's REST API over httpx: tokens, registration, playlists, media requests, screenshots.

The bearer token goes only to the configured cloud origin; a `media_url` naming another host is
fetched without it. Tokens live in the store so a restart does not log in again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import trio

from edgebox.cache.store import Store
from edgebox.core.config import CloudConfig
from edgebox.core.errors import AuthError, ProtocolError, UpstreamError
from edgebox.core.jsontext import depth
from edgebox.core.values import DeviceScreens
from edgebox.upstream import protocol
from edgebox.upstream.protocol import DeviceFacts, Tokens

log = logging.getLogger(__name__)

TOKENS_KEY = "cloud/tokens"
REFRESH_AHEAD = 300.0
MAX_JSON_BYTES = 8 * 1024 * 1024
MAX_JSON_DEPTH = 64


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443, "ws": 80, "wss": 443}.get(parts.scheme)
    return parts.scheme.replace("ws", "http", 1), (parts.hostname or "").lower(), port


class CloudClient:
    """One device's session with the cloud; every call may raise UpstreamError or AuthError."""

    def __init__(
        self,
        config: CloudConfig,
        sn_number: str,
        store: Store,
        http: httpx.AsyncClient,
        *,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.sn_number = sn_number
        self.store = store
        self.http = http
        self.now = now
        self.base_url = config.base_url.rstrip("/") + "/"
        self._origin = origin(self.base_url)
        self._tokens: Tokens | None = None
        self._loaded = False
        self._lock = trio.Lock()
        self.logins = 0
        self.refreshes = 0

    @staticmethod
    def make_http(config: CloudConfig) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(config.request_timeout),
            follow_redirects=False,
            headers={"User-Agent": "edgebox"},
            trust_env=False,
        )

    # Tokens

    async def access_token(self) -> str:
        """A valid access token: the stored one, refreshed ahead of expiry, or a fresh login."""
        async with self._lock:
            if not self._loaded:
                self._tokens = await self._load_tokens()
                self._loaded = True
            tokens = self._tokens
            if tokens is None:
                tokens = await self._login()
            elif tokens.due(self.now(), REFRESH_AHEAD):
                try:
                    tokens = await self._refresh(tokens)
                except AuthError as exc:
                    log.info("refresh token refused (%s); logging in again", exc)
                    tokens = await self._login()
            if tokens is not self._tokens:
                self._tokens = tokens
                await self.store.set(TOKENS_KEY, tokens.to_json())
            return tokens.access

    async def invalidate(self, access: str) -> None:
        """The cloud refused `access`: the next call refreshes first."""
        async with self._lock:
            if self._tokens is not None and self._tokens.access == access:
                self._tokens = Tokens(self._tokens.access, self._tokens.refresh, 0.0)

    async def _load_tokens(self) -> Tokens | None:
        raw = await self.store.get(TOKENS_KEY)
        if raw is None:
            return None
        try:
            return Tokens.from_json(raw)
        except ProtocolError as exc:
            log.warning("ignoring unreadable stored tokens: %s", exc)
            return None

    async def _login(self) -> Tokens:
        answer = await self._post_json(
            "auth/token/",
            {"username": self.config.username, "password": self.config.password.reveal()},
        )
        if answer.status_code in (400, 401, 403):
            raise AuthError(f"login refused ({answer.status_code}: {_message(answer)})")
        self.logins += 1
        log.info("logged in to the cloud as %s", self.config.username)
        return protocol.parse_tokens(self._json(answer, "login"), self.now())

    async def _refresh(self, tokens: Tokens) -> Tokens:
        answer = await self._post_json("auth/token/refresh/", {"refresh": tokens.refresh})
        if answer.status_code in (400, 401, 403):
            raise AuthError(f"{answer.status_code}: {_message(answer)}")
        data = self._json(answer, "refresh")
        if isinstance(data, dict) and "refresh" not in data:
            data = {**data, "refresh": tokens.refresh}
        self.refreshes += 1
        return protocol.parse_tokens(data, self.now())

    async def _post_json(self, path: str, body: dict[str, Any]) -> httpx.Response:
        answer = await self._send("POST", urljoin(self.base_url, path), json=body)
        if answer.status_code >= 500:
            raise UpstreamError(f"POST {path}: the cloud answered {answer.status_code}")
        return answer

    # Authorised calls

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """An API call with the bearer token; on 401 refresh once and retry, then give up."""
        url = urljoin(self.base_url, path)
        for attempt in (1, 2):
            token = await self.access_token()
            answer = await self._send(method, url, headers=self._bearer(token), **kwargs)
            if answer.status_code != 401:
                break
            await self.invalidate(token)
            if attempt == 2:
                raise AuthError(f"{method} {path}: 401 after refreshing the token")
        if answer.status_code >= 400:
            raise UpstreamError(
                f"{method} {path}: the cloud answered {answer.status_code} ({_message(answer)})"
            )
        return answer

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            async with self.http.stream(method, url, **kwargs) as answer:
                body = bytearray()
                async for chunk in answer.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_JSON_BYTES:
                        raise ProtocolError(f"{method} {url}: answer larger than {MAX_JSON_BYTES}")
                headers = [
                    (k, v)
                    for k, v in answer.headers.multi_items()
                    if k.lower() not in ("content-encoding", "content-length", "transfer-encoding")
                ]
                return httpx.Response(
                    answer.status_code, headers=headers, content=bytes(body), request=answer.request
                )
        except httpx.HTTPError as exc:
            raise UpstreamError(f"{method} {_path(url)}: {type(exc).__name__}: {exc}") from exc

    def _bearer(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    def _json(self, answer: httpx.Response, what: str) -> Any:
        try:
            value = answer.json()
        except (ValueError, RecursionError) as exc:
            raise ProtocolError(f"{what}: the cloud's answer is not JSON ({exc})") from None
        if depth(value, MAX_JSON_DEPTH) > MAX_JSON_DEPTH:
            raise ProtocolError(f"{what}: JSON nested deeper than {MAX_JSON_DEPTH} levels")
        return value

    async def register(self, facts: DeviceFacts) -> None:
        await self.request("POST", "admin/cloud/device/register/", json=facts.to_json())
        log.info("registered with the cloud as %s", facts.sn_number)

    async def fetch_screens(self) -> DeviceScreens:
        answer = await self.request(
            "GET", "admin/cloud/playlists", params={"sn_number": self.sn_number}
        )
        return protocol.parse_screens(self._json(answer, "playlists"))

    async def upload_screenshot(self, media_id: int | None, jpeg: bytes) -> None:
        data = {"device_id": self.sn_number}
        if media_id is not None:
            data["media_id"] = str(media_id)
        await self.request(
            "POST",
            "screenshot",
            data=data,
            files={"image_file": ("screenshot.jpg", jpeg, "image/jpeg")},
        )

    # Media

    def media_url(self, media_url: str) -> str:
        """An absolute URL: a relative `media_url` is taken from the cloud's origin."""
        scheme, host, port = self._origin
        root = f"{scheme}://{host}" + ("" if port in (80, 443) else f":{port}") + "/"
        absolute = urljoin(root, media_url)
        if urlsplit(absolute).scheme not in ("http", "https"):
            raise ProtocolError(f"media_url: not an http(s) URL ({media_url[:80]!r})")
        return absolute

    async def media_headers(self, url: str) -> dict[str, str]:
        """The bearer header for the cloud's own origin; nothing for any other host."""
        if origin(url) != self._origin:
            return {}
        return self._bearer(await self.access_token())


def _path(url: str) -> str:
    return urlsplit(url).path


def _message(answer: httpx.Response) -> str:
    try:
        data = answer.json()
    except ValueError:
        return answer.reason_phrase or "no message"
    if isinstance(data, dict):
        for key in ("message", "detail", "error"):
            if isinstance(data.get(key), str):
                return data[key][:200]
    return answer.reason_phrase or "no message"
