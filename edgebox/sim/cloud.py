"""A simulated TV Monitor cloud: the whole API document served for real on loopback.

Tests and `edgebox cloud-sim` run it; state and fault knobs are plain attributes a test flips
while the box is talking to it. Time (token expiry, slow media, WebSocket drops) follows
`trio.current_time()`, so a MockClock drives it too.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import secrets
import urllib.parse
from collections.abc import AsyncIterator, Callable
from typing import Any

import attrs
import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve
from quart import Blueprint, Response, request, websocket
from quart_trio import QuartTrio

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"
WS_PATH = "/ws/cloud/tb_device/"
SCREENS = ("front_screen", "back_screen", "right_screen", "left_screen")
REQUIRED_DEVICE_FIELDS = (
    "sn_number",
    "brand",
    "model",
    "manufacturer",
    "os_version",
    "screen_resolution",
    "total_storage",
    "free_storage",
    "app_version",
)
HEARTBEAT_TYPES = frozenset({"ping", "heartbeat"})
CHUNK = 64 * 1024


@attrs.frozen
class CloudURLs:
    """Where a running SimCloud answers: `base_url` ends in /api/v1, media live under `origin`."""

    origin: str
    base_url: str
    ws_url: str


@attrs.frozen
class Token:
    value: str
    kind: str  # "access" or "refresh"
    username: str
    expires_at: float


@attrs.frozen
class MediaFile:
    media_id: int
    name: str
    data: bytes
    md5: str
    mimetype: str
    path: str


@attrs.frozen
class RequestRecord:
    """One request as the cloud saw it; `headers` keys are lower-case."""

    kind: str  # "http" or "ws"
    method: str
    path: str
    query: str
    headers: dict[str, str]
    at: float

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


@attrs.frozen
class Screenshot:
    device_id: str
    media_id: str
    filename: str
    content_type: str
    data: bytes


def _drop_all_on_down(instance: SimCloud, _attribute: Any, value: Any) -> Any:
    if value:
        instance.drop_connections()
    return value


def _error(status: int, message: str) -> Response:
    body = json.dumps({"message": message, "status_code": status})
    return Response(body, status=status, content_type="application/json")


def _json(value: Any, status: int = 200) -> Response:
    return Response(json.dumps(value), status=status, content_type="application/json")


@attrs.define(eq=False)
class SimCloud:
    """State of the simulated cloud plus the fault knobs a test flips at runtime."""

    users: dict[str, str] = attrs.field(factory=lambda: {"box": "s3cret-password"})
    access_lifetime: float = 3600.0
    refresh_lifetime: float = 7 * 24 * 3600.0
    require_registration: bool = True  # playlists answer 404 for an unregistered sn_number

    # Fault knobs.
    down: bool = attrs.field(default=False, on_setattr=_drop_all_on_down)
    fail_status: int | None = None  # every REST and media call answers this status
    fail_times: int | None = None  # with fail_status: fail this many calls, then recover
    unauthorized: bool = False  # every bearer-checked call (and WebSocket) answers 401
    refuse_refresh: bool = False
    slow_bytes_per_s: int | None = None
    truncate_at: int | None = None  # media bodies stop after this many bytes
    truncate_always: bool = False  # else the cut happens once, then the knob clears itself
    wrong_checksum: set[int] = attrs.field(factory=set)  # media ids served with a flipped byte
    ignore_range: bool = False  # answer 200 with the whole body even when asked for a range
    drop_ws_after_messages: int | None = None  # close a socket after N messages from the box
    drop_ws_after_seconds: float | None = None
    hang_after_headers: bool = False  # REST and media answers send headers, then nothing
    playlists_body: bytes | None = None  # the playlists answer, as raw bytes (hostile JSON)

    # What happened.
    tokens: dict[str, Token] = attrs.field(factory=dict)
    devices: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    registrations: list[dict[str, Any]] = attrs.field(factory=list)
    screens: dict[str, dict[str, Any] | None] = attrs.field(factory=lambda: dict.fromkeys(SCREENS))
    media: dict[int, MediaFile] = attrs.field(factory=dict)
    received: list[dict[str, Any]] = attrs.field(factory=list)
    received_invalid: list[str] = attrs.field(factory=list)
    heartbeats: int = 0
    screenshots: list[Screenshot] = attrs.field(factory=list)
    requests: list[RequestRecord] = attrs.field(factory=list)
    media_bytes_sent: int = 0
    connected: int = 0
    connections_total: int = 0
    ws_sn_numbers: list[str] = attrs.field(factory=list)

    urls: CloudURLs | None = None
    _next_media_id: int = 1001
    _sockets: dict[int, tuple[trio.MemorySendChannel[Any], trio.CancelScope]] = attrs.field(
        factory=dict
    )
    _changed: trio.Event = attrs.field(factory=trio.Event)

    # --- URLs -------------------------------------------------------------------------------

    @property
    def origin(self) -> str:
        return self._urls().origin

    @property
    def base_url(self) -> str:
        return self._urls().base_url

    @property
    def ws_url(self) -> str:
        return self._urls().ws_url

    def _urls(self) -> CloudURLs:
        if self.urls is None:
            raise RuntimeError("the SimCloud is not serving yet: `await nursery.start(serve, c)`")
        return self.urls

    # --- content ----------------------------------------------------------------------------

    def add_media(
        self,
        name: str,
        data: bytes,
        *,
        media_id: int | None = None,
        media_type: str | None = None,
        mimetype: str | None = None,
        media_url: str | None = None,
        order: int = 1,
        duration: int = 10,
    ) -> dict[str, Any]:
        """Store a file and return its MediaItem dict (document shape) for a playlist.

        `media_url` overrides the served relative URL, e.g. an absolute URL to another host.
        """
        if media_id is None:
            media_id = self._next_media_id
        self._next_media_id = max(self._next_media_id, media_id + 1)
        if mimetype is None:
            mimetype = _guess_mimetype(name)
        if media_type is None:
            media_type = "video" if mimetype.startswith("video/") else "image"
        folder = "videos" if media_type == "video" else "images"
        path = f"/media/{folder}/{media_id}/{urllib.parse.quote(name, safe='')}"
        md5 = hashlib.md5(data).hexdigest()
        self.media[media_id] = MediaFile(media_id, name, data, md5, mimetype, path)
        return {
            "media_id": media_id,
            "order": order,
            "media_name": name,
            "media_type": media_type,
            "mimetype": mimetype,
            "media_url": media_url if media_url is not None else path,
            "file_size": len(data),
            "checksum": md5,
            "layout": {"x": 0, "y": 0, "width": 1920, "height": 1080, "z_index": 1},
            "timing": {"start_time": 0, "duration": duration, "loop": False},
            "effects": {"fade_in": False, "fade_out": False, "transition": "none"},
            "n_time_play": 1,
        }

    def media_url(self, media_id: int) -> str:
        """The absolute URL of a stored file on this cloud."""
        return self.origin + self.media[media_id].path

    @staticmethod
    def playlist(
        playlist_id: int,
        name: str,
        media_items: list[dict[str, Any]],
        *,
        width: int = 1920,
        height: int = 1080,
        duration: int | None = None,
    ) -> dict[str, Any]:
        """A Playlist dict in the document's shape around the given media items."""
        items = [{**item, "order": i + 1} for i, item in enumerate(media_items)]
        return {
            "id": playlist_id,
            "name": name,
            "width": width,
            "height": height,
            "duration": duration
            if duration is not None
            else sum(i["timing"]["duration"] for i in items),
            "media_items": items,
            "playback_config": {"repeat": True, "repeat_count": -1, "background_color": "#000000"},
            "status": {
                "is_ready": True,
                "all_downloaded": False,
                "missing_files": [],
                "last_verified": "2025-01-15T10:30:00Z",
            },
        }

    def set_playlists(
        self,
        screen: str,
        playlists: list[dict[str, Any]] | None,
        *,
        current: int | None = None,
        screen_id: int | None = None,
        screen_name: str | None = None,
        resolution: str = "1920x1080",
    ) -> None:
        """Assign playlists to a screen ("front" or "front_screen"); None clears the screen.

        `current` defaults to the first playlist's id.
        """
        key = screen if screen.endswith("_screen") else f"{screen}_screen"
        if key not in SCREENS:
            raise ValueError(f"unknown screen {screen!r}: use one of {', '.join(SCREENS)}")
        if playlists is None:
            self.screens[key] = None
            return
        if current is None and playlists:
            current = playlists[0]["id"]
        self.screens[key] = {
            "screen_id": screen_id if screen_id is not None else SCREENS.index(key) + 1,
            "screen_name": screen_name or key.replace("_", " ").title(),
            "resolution": resolution,
            "current_playlist": current,
            "playlists": playlists,
        }

    def device_screens(self, sn_number: str) -> dict[str, Any]:
        return {"sn_number": sn_number, **{k: self.screens[k] for k in SCREENS}}

    # --- tokens -----------------------------------------------------------------------------

    def issue_tokens(self, username: str) -> dict[str, Any]:
        now = trio.current_time()
        access = Token(secrets.token_urlsafe(24), "access", username, now + self.access_lifetime)
        refresh = Token(secrets.token_urlsafe(24), "refresh", username, now + self.refresh_lifetime)
        self.tokens[access.value] = access
        self.tokens[refresh.value] = refresh
        return {
            "access": access.value,
            "refresh": refresh.value,
            "expires_in": round(self.access_lifetime),
        }

    def valid_token(self, value: str | None, kind: str = "access") -> Token | None:
        token = self.tokens.get(value or "")
        if token is None or token.kind != kind or token.expires_at <= trio.current_time():
            return None
        return token

    def expire_tokens(self, kind: str | None = None) -> None:
        """Forget every issued token (or only access/refresh ones), as a server restart would."""
        for value, token in list(self.tokens.items()):
            if kind is None or token.kind == kind:
                del self.tokens[value]

    # --- WebSocket --------------------------------------------------------------------------

    async def send_action(self, action: dict[str, Any] | str | bytes) -> int:
        """Push a server → device message to every connected socket; returns how many.

        A dict goes as JSON text; a str or bytes goes as it is, for garbage frames."""
        channels = [send for send, _scope in self._sockets.values()]
        for send in channels:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                await send.send(action)
        return len(channels)

    def drop_connections(self) -> None:
        """Close every open device WebSocket, as a cloud restart or a network cut would."""
        for _send, scope in self._sockets.values():
            scope.cancel()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        """Wait until `predicate()` holds; it is re-checked after every change the cloud sees."""
        while not predicate():
            await self._changed.wait()

    async def wait_connected(self, count: int = 1) -> None:
        await self.wait_for(lambda: self.connected >= count)

    async def wait_received(self, count: int) -> list[dict[str, Any]]:
        await self.wait_for(lambda: len(self.received) >= count)
        return self.received[:count]

    def requests_to(self, prefix: str) -> list[RequestRecord]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    def _notify(self) -> None:
        self._changed.set()
        self._changed = trio.Event()


def _guess_mimetype(name: str) -> str:
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return {
        "jpg": "image/jpeg",
        "jpeg": "image/jpeg",
        "png": "image/png",
        "gif": "image/gif",
        "webp": "image/webp",
        "mp4": "video/mp4",
        "webm": "video/webm",
    }.get(ext, "application/octet-stream")


def byte_range(
    header: str | None, size: int, headers: dict[str, str]
) -> tuple[int, int, int] | None:
    """(start, end inclusive, status) for a `Range` header or none, with Content-Range and
    Content-Length added to `headers`; None (416, Content-Range set) when unsatisfiable."""
    start, end, status = 0, size - 1, 200
    if header:
        parsed = _parse_range(header, size)
        if parsed is None:
            headers["Content-Range"] = f"bytes */{size}"
            return None
        start, end = parsed
        status = 206
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    headers["Content-Length"] = str(end - start + 1)
    return start, end, status


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """`bytes=a-b`, `bytes=a-` or `bytes=-n` → (start, end inclusive); None if unsatisfiable."""
    unit, _, spec = header.partition("=")
    if unit.strip() != "bytes" or "," in spec:
        return None
    first, _, last = spec.strip().partition("-")
    try:
        if first == "":
            n = int(last)
            if n <= 0:
                return None
            return max(0, size - n), size - 1
        start = int(first)
        end = int(last) if last else size - 1
    except ValueError:
        return None
    if start >= size or end < start:
        return None
    return start, min(end, size - 1)


def create_app(cloud: SimCloud) -> QuartTrio:
    """The cloud's routes over `cloud`'s state; every fault knob is read per request."""
    app = QuartTrio("edgebox-sim-cloud", static_folder=None)
    app.config["RESPONSE_TIMEOUT"] = None
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024
    api = Blueprint("cloud_api", __name__, url_prefix=API_PREFIX)

    def bearer() -> Response | None:
        """None when the request carries a valid access token, else the 401 to answer."""
        if cloud.unauthorized:
            return _error(401, "Token has expired")
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or cloud.valid_token(value.strip()) is None:
            return _error(401, "Missing or invalid token")
        return None

    @app.before_request
    async def record_and_fail() -> Response | None:
        cloud.requests.append(
            RequestRecord(
                "http",
                request.method,
                request.path,
                request.query_string.decode("latin-1"),
                {k.lower(): v for k, v in request.headers.items()},
                trio.current_time(),
            )
        )
        cloud._notify()
        if cloud.down:
            return _error(503, "Service unavailable")
        if cloud.hang_after_headers:
            return Response(_hang(), status=200, content_type="application/json")
        if cloud.fail_status is not None:
            status = cloud.fail_status
            if cloud.fail_times is not None:
                cloud.fail_times -= 1
                if cloud.fail_times <= 0:
                    cloud.fail_status = None
                    cloud.fail_times = None
            return _error(status, "Internal server error" if status == 500 else "Upstream error")
        return None

    @api.post("/auth/token/")
    async def login() -> Response:
        body = await request.get_json(force=True, silent=True)
        if not isinstance(body, dict):
            return _error(400, "Invalid username or password")
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or cloud.users.get(username) != password:
            return _error(400, "Invalid username or password")
        return _json(cloud.issue_tokens(username))

    @api.post("/auth/token/refresh/")
    async def refresh() -> Response:
        body = await request.get_json(force=True, silent=True)
        value = body.get("refresh") if isinstance(body, dict) else None
        token = cloud.valid_token(value if isinstance(value, str) else None, "refresh")
        if cloud.refuse_refresh or token is None:
            return _error(401, "Token is invalid or expired")
        del cloud.tokens[token.value]
        return _json(cloud.issue_tokens(token.username))

    @api.post("/admin/cloud/device/register/")
    async def register() -> Response:
        if (denied := bearer()) is not None:
            return denied
        body = await request.get_json(force=True, silent=True)
        if not isinstance(body, dict):
            return _error(400, "Invalid device data: expected a JSON object")
        missing = [f for f in REQUIRED_DEVICE_FIELDS if not isinstance(body.get(f), str)]
        if missing or not body.get("sn_number"):
            return _error(400, f"Invalid device data: missing {', '.join(missing)}")
        for key in ("brightness", "volume"):
            value = body.get(key, 50)
            if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 100:
                return _error(400, f"Invalid device data: {key} must be 0-100")
        sn = body["sn_number"]
        created = sn not in cloud.devices
        cloud.devices[sn] = {"brightness": 50, "volume": 50, **body}
        cloud.registrations.append(dict(body))
        cloud._notify()
        return _json({"data": {"sn_number": sn}}, 201 if created else 200)

    @api.get("/admin/cloud/playlists")
    async def playlists() -> Response:
        if (denied := bearer()) is not None:
            return denied
        sn = request.args.get("sn_number", "")
        if not sn:
            return _error(400, "sn_number is required")
        if cloud.require_registration and sn not in cloud.devices:
            return _error(404, "Device not found")
        if cloud.playlists_body is not None:
            return Response(cloud.playlists_body, content_type="application/json")
        return _json(cloud.device_screens(sn))

    @api.post("/screenshot")
    async def screenshot() -> Response:
        if (denied := bearer()) is not None:
            return denied
        form = await request.form
        files = await request.files
        image = files.get("image_file")
        device_id, media_id = form.get("device_id"), form.get("media_id")
        if image is None or not device_id or not media_id:
            return _error(400, "device_id, media_id and image_file are required")
        cloud.screenshots.append(
            Screenshot(
                device_id,
                media_id,
                image.filename or "",
                image.content_type or "",
                image.read(),
            )
        )
        cloud._notify()
        return _json({"message": "Screenshot uploaded successfully"})

    app.register_blueprint(api)

    @app.route("/media/<folder>/<int:media_id>/<path:name>", methods=["GET", "HEAD"])
    async def media(folder: str, media_id: int, name: str) -> Response:
        if (denied := bearer()) is not None:
            return denied
        stored = cloud.media.get(media_id)
        if stored is None:
            return _error(404, "Media not found")
        data = stored.data
        if media_id in cloud.wrong_checksum and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        size = len(data)
        headers = {"Accept-Ranges": "bytes", "ETag": f'"{stored.md5}"'}
        asked = None if cloud.ignore_range else request.headers.get("Range")
        answer = byte_range(asked, size, headers)
        if answer is None:
            return Response(b"", status=416, headers=headers)
        start, end, status = answer
        if request.method == "HEAD":
            return Response(b"", status=status, headers=headers, content_type=stored.mimetype)
        limit = end + 1
        if cloud.truncate_at is not None:
            limit = min(limit, start + cloud.truncate_at)
            if not cloud.truncate_always:
                cloud.truncate_at = None
        response = Response(_body(cloud, data, start, limit), status=status, headers=headers)
        response.headers["Content-Type"] = stored.mimetype
        response.timeout = None  # type: ignore[attr-defined]
        return response

    async def device_socket(_suffix: str = "") -> Response | None:
        cloud.requests.append(
            RequestRecord(
                "ws",
                "GET",
                websocket.path,
                websocket.query_string.decode("latin-1"),
                {k.lower(): v for k, v in websocket.headers.items()},
                trio.current_time(),
            )
        )
        cloud._notify()
        if cloud.down:
            return _error(503, "Service unavailable")
        token = websocket.args.get("token")
        if cloud.unauthorized or cloud.valid_token(token) is None:
            return _error(401, "Missing or invalid token")
        sn = websocket.args.get("sn_number", "")
        if not sn:
            return _error(400, "sn_number is required")
        await websocket.accept()
        await _run_socket(cloud, sn)
        return None

    app.add_websocket(WS_PATH, "device_socket", device_socket)
    app.add_websocket(WS_PATH.rstrip("/"), "device_socket_noslash", device_socket)
    return app


async def _hang() -> AsyncIterator[bytes]:
    await trio.sleep_forever()
    yield b""  # pragma: no cover - never reached; makes this an async generator


async def _body(cloud: SimCloud, data: bytes, start: int, limit: int) -> AsyncIterator[bytes]:
    pos = start
    while pos < limit:
        chunk = data[pos : min(limit, pos + CHUNK)]
        if cloud.slow_bytes_per_s:
            chunk = chunk[: max(1, cloud.slow_bytes_per_s // 10)]
            await trio.sleep(len(chunk) / cloud.slow_bytes_per_s)
        pos += len(chunk)
        cloud.media_bytes_sent += len(chunk)
        yield chunk


async def _run_socket(cloud: SimCloud, sn: str) -> None:
    """Relay actions to the device and record what it says until it leaves or a knob drops it."""
    send, receive = trio.open_memory_channel[dict[str, Any] | str | bytes](100)
    key = id(send)
    count = 0
    with trio.CancelScope() as scope:
        if cloud.drop_ws_after_seconds is not None:
            scope.deadline = trio.current_time() + cloud.drop_ws_after_seconds
        cloud._sockets[key] = (send, scope)
        cloud.connected += 1
        cloud.connections_total += 1
        cloud.ws_sn_numbers.append(sn)
        cloud._notify()
        try:
            async with trio.open_nursery() as nursery:

                async def forward() -> None:
                    async for action in receive:
                        frame = action if isinstance(action, str | bytes) else json.dumps(action)
                        await websocket.send(frame)

                nursery.start_soon(forward)
                while True:
                    text = await websocket.receive()
                    if isinstance(text, bytes):
                        text = text.decode("utf-8", "replace")
                    try:
                        message = json.loads(text)
                    except ValueError:
                        message = None
                    if not isinstance(message, dict):
                        cloud.received_invalid.append(text)
                    elif message.get("type") in HEARTBEAT_TYPES:
                        cloud.heartbeats += 1
                    else:
                        cloud.received.append(message)
                        count += 1
                    cloud._notify()
                    limit = cloud.drop_ws_after_messages
                    if limit is not None and count >= limit:
                        scope.cancel()
        finally:
            del cloud._sockets[key]
            cloud.connected -= 1
            cloud._notify()
    if scope.cancelled_caught:
        await websocket.close(1012, "cloud restarting")


async def serve(
    cloud: SimCloud,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    task_status: trio.TaskStatus[CloudURLs] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `cloud` until cancelled; reports its URLs (also kept on `cloud.urls`)."""
    cfg = HypercornConfig()
    cfg.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    cfg.accesslog = None
    cfg.errorlog = logging.getLogger("edgebox.sim.cloud.server")
    cfg.graceful_timeout = 0.5
    cfg.keep_alive_timeout = 30.0

    async def run_server(*, task_status: trio.TaskStatus[list[str]]) -> None:
        await hypercorn_serve(create_app(cloud), cfg, task_status=task_status)  # type: ignore[arg-type]

    async with trio.open_nursery() as nursery:
        bound: list[str] = await nursery.start(run_server)
        origin = bound[0].rstrip("/")
        ws_origin = "ws" + origin.removeprefix("http")
        cloud.urls = CloudURLs(origin, origin + API_PREFIX, ws_origin + WS_PATH)
        task_status.started(cloud.urls)


def demo_image(width: int, height: int, label: str, color: tuple[int, int, int]) -> bytes:
    """A generated PNG with a label, for demo playlists."""
    import io

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), color)
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, width - 5, height - 5), outline=(255, 255, 255), width=3)
    draw.text((16, 16), label, fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def add_demo_playlist(cloud: SimCloud) -> None:
    """A front-screen playlist of a few generated images."""
    colors = [(200, 30, 30), (30, 160, 60), (30, 60, 200), (200, 160, 20)]
    items = [
        cloud.add_media(f"slide{i + 1}.png", demo_image(640, 360, f"edgebox slide {i + 1}", c))
        for i, c in enumerate(colors)
    ]
    cloud.set_playlists("front", [cloud.playlist(101, "Demo slides", items)])


async def run_cloud_sim(host: str, port: int) -> None:
    """`edgebox cloud-sim`: serve a demo cloud and print how to reach it."""
    cloud = SimCloud()
    add_demo_playlist(cloud)
    async with trio.open_nursery() as nursery:
        urls: CloudURLs = await nursery.start(serve, cloud, host, port)
        username, password = next(iter(cloud.users.items()))
        print(f"base_url = {urls.base_url!r}")
        print(f"ws_url   = {urls.ws_url!r}")
        print(f"username = {username!r}")
        print(f"password = {password!r}")
        print("devices register themselves; any sn_number works", flush=True)
