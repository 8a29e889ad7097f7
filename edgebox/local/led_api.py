"""The LED sign controller API (seed 002): playlist, brightness, preview lock and images.

Routes only translate HTTP to hub calls and back; the rules live in `edgebox.ledsign.model`.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs
import trio
from PIL import Image
from quart import Blueprint, Response, jsonify, request, send_file

from edgebox.core.errors import (
    ItemExists,
    LedSignError,
    NotInPreview,
    NotPreviewOwner,
    PreviewBusy,
    UnknownItem,
    ValidationError,
)
from edgebox.ledsign import model as ledsign
from edgebox.ledsign.model import LedImage
from edgebox.local import ledschema as S
from edgebox.local.http import (
    BodyTooLarge,
    encode,
    json_error,
    json_response,
    read_body,
    read_json_object,
)
from edgebox.local.openapi import documented
from edgebox.local.signauth import guard_with_sign_token

if TYPE_CHECKING:
    from edgebox.local.context import Lan

MAX_IMAGE_BYTES = 8 * 1024 * 1024
MAX_FORM_BYTES = MAX_IMAGE_BYTES + 65536  # the file and its form's headers
MAX_IMAGE_PIXELS = 4096 * 4096
IMAGE_FORMATS = {"PNG", "JPEG", "GIF", "BMP", "WEBP"}
THUMBNAIL_BOX = (128, 96)

_REFUSALS: dict[type[LedSignError], tuple[int, str | None]] = {
    UnknownItem: (404, None),
    ItemExists: (409, "id"),
    PreviewBusy: (403, None),
    NotPreviewOwner: (403, "session_id"),
    NotInPreview: (404, None),
}


def led_canvas(lan: Lan) -> tuple[int, int]:
    """The size of the canvas the LED playlist plays on (the first one, if several do)."""
    for canvas in lan.canvases:
        if canvas.source == "led":
            return canvas.width, canvas.height
    if lan.canvases:
        return lan.canvases[0].width, lan.canvases[0].height
    return 0, 0


def led_api(lan: Lan) -> Blueprint:
    bp = Blueprint("led", __name__)
    hub = lan.hub
    listed: list[Any] = [None, b""]
    guard_with_sign_token(bp, lan.config.sign_token.reveal())

    def parse(body: Any, make_id: Any = ledsign.new_id) -> ledsign.LedItem:
        """An item; an image without its natural size gets it from the upload, as the
        controller's editor lays images out by it."""
        item = ledsign.parse_item(body, make_id=make_id)
        content = item.content
        if isinstance(content, ledsign.ImageContent) and content.natural_width is None:
            image = hub.led_images.get(content.image_id)
            if image is not None:
                content = attrs.evolve(
                    content, natural_width=image.width, natural_height=image.height
                )
                item = attrs.evolve(item, content=content)
        return item

    @bp.errorhandler(LedSignError)
    async def refused(exc: LedSignError) -> Response:
        status, field = _REFUSALS.get(type(exc), (409, None))
        return json_error(status, str(exc), field)

    # Playlist

    @bp.get("/api/playlist/items")
    @documented("The LED playlist, in play order", response=S.ITEMS)
    async def list_items() -> Response:
        # Encoded once per playlist change (the hub replaces the tuple), not once per request.
        items = hub.led_items
        if listed[0] is not items:
            listed[:] = [items, encode([ledsign.item_to_json(i) for i in items])]
        return json_response(listed[1])

    @bp.post("/api/playlist/items")
    @documented(
        "Add an item (an id is generated when absent)",
        body=S.ITEM,
        response=S.ITEM,
        status=201,
        errors=(409,),
    )
    async def create_item() -> tuple[Response, int]:
        item = parse(await read_json_object())
        await hub.add_led_item(item)
        return jsonify(ledsign.item_to_json(item)), 201

    @bp.get("/api/playlist/items/<item_id>")
    @documented("One playlist item", response=S.ITEM, errors=(404,))
    async def get_item(item_id: str) -> Response:
        return jsonify(ledsign.item_to_json(hub.led_item(item_id)))

    @bp.put("/api/playlist/items/<item_id>")
    @documented("Replace an item", body=S.ITEM, response=S.ITEM, errors=(404,))
    async def update_item(item_id: str) -> Response:
        hub.led_item(item_id)
        body = await read_json_object()
        if body.get("id", item_id) not in (item_id, None):
            raise ValidationError(f"must be absent or match the URL ({item_id!r})", "id")
        item = parse(body, make_id=lambda: item_id)
        await hub.update_led_item(item)
        return jsonify(ledsign.item_to_json(item))

    @bp.delete("/api/playlist/items/<item_id>")
    @documented("Delete an item", status=204, errors=(404,))
    async def delete_item(item_id: str) -> tuple[str, int]:
        await hub.delete_led_item(item_id)
        return "", 204

    @bp.put("/api/playlist/reorder")
    @documented(
        "Reorder: `item_ids` must name every current item once", body=S.REORDER, response=S.ITEMS
    )
    async def reorder_items() -> Response:
        body = await read_json_object()
        items = await hub.reorder_led_items(body.get("item_ids"))
        return jsonify([ledsign.item_to_json(i) for i in items])

    # Settings

    @bp.get("/api/settings/brightness")
    @documented("The box's brightness, shared with the cloud", response=S.BRIGHTNESS)
    async def get_brightness() -> Response:
        return jsonify({"brightness": hub.brightness})

    @bp.put("/api/settings/brightness")
    @documented("Set the brightness (0-100)", body=S.BRIGHTNESS, response=S.BRIGHTNESS)
    async def set_brightness() -> Response:
        body = await read_json_object()
        if "brightness" not in body:
            raise ValidationError("is required (0-100)", "brightness")
        return jsonify({"brightness": await hub.set_brightness(body["brightness"])})

    # Preview

    def preview_json(lock: ledsign.PreviewLock) -> dict[str, Any]:
        assert lock.item is not None
        return {"item": ledsign.item_to_json(lock.item), "session_id": lock.session_id}

    @bp.get("/api/display/info")
    @documented("The size of the sign's canvas, in pixels", response=S.DISPLAY_INFO)
    async def display_info() -> Response:
        width, height = led_canvas(lan)
        return jsonify({"width": width, "height": height})

    @bp.post("/api/preview")
    @documented(
        "Enter preview mode with an item (bare, or under `item`); 403 while another session"
        " holds it",
        body=S.PREVIEW_START,
        response=S.PREVIEW,
        errors=(403,),
    )
    async def start_preview() -> Response:
        item = parse(_preview_item(await read_json_object()))
        return jsonify(preview_json(await hub.start_preview(item)))

    @bp.put("/api/preview")
    @documented(
        "Change the previewed item (owner only; `item`, or the item's fields beside `session_id`)",
        body=S.PREVIEW_UPDATE,
        response=S.PREVIEW,
        errors=(403, 404),
    )
    async def update_preview() -> Response:
        body = await read_json_object()
        session_id = _session_id(body)
        if "item" not in body and "content" not in body:
            raise ValidationError("is required", "item")
        item = parse(_preview_item(body), make_id=lambda: "preview")
        return jsonify(preview_json(await hub.update_preview(session_id, item)))

    @bp.delete("/api/preview")
    @documented("Leave preview mode (owner only)", body=S.SESSION, status=204, errors=(403, 404))
    async def exit_preview() -> tuple[str, int]:
        await hub.exit_preview(_session_id(await read_json_object()))
        return "", 204

    @bp.post("/api/preview/ping")
    @documented(
        "Keep the preview alive; it expires 5 s after the last ping",
        body=S.SESSION,
        status=204,
        errors=(403, 404),
    )
    async def ping_preview() -> tuple[str, int]:
        await hub.ping_preview(_session_id(await read_json_object()))
        return "", 204

    @bp.get("/api/preview/status")
    @documented("Whether the sign is in preview mode", response=S.PREVIEW_STATUS)
    async def preview_status() -> Response:
        return jsonify({"active": hub.preview.live(trio.current_time())})

    @bp.post("/api/preview/session")
    @documented("Whether a session owns the preview", body=S.SESSION, response=S.OWNER)
    async def preview_session() -> Response:
        session_id = _session_id(await read_json_object())
        return jsonify({"is_owner": hub.preview.is_owner(session_id, trio.current_time())})

    # Images

    @bp.post("/api/images")
    @documented(
        "Upload an image (raw body, or the form field `file` or else the form's first file;"
        " PNG, JPEG, GIF, BMP, WebP)",
        body={"type": "string", "format": "binary"},
        body_types=tuple(f"image/{kind.lower()}" for kind in sorted(IMAGE_FORMATS)),
        response=S.UPLOADED,
        status=201,
    )
    async def upload_image() -> tuple[Response, int]:
        raw = await _image_bytes()
        image, thumbnail = await trio.to_thread.run_sync(
            _store_image, raw, lan.images_dir, ledsign.new_id()
        )
        await hub.add_led_image(image)
        return jsonify(_upload_answer(image, thumbnail)), 201

    @bp.get("/api/images/<image_id>")
    @documented("An uploaded image, kept as PNG", content_type="image/png", errors=(404,))
    async def get_image(image_id: str) -> Response:
        image = hub.led_images.get(image_id)
        if image is None:
            return json_error(404, f"no image {image_id!r}")
        response = await send_file(
            lan.images_dir / image.file, mimetype=image.media_type, conditional=True
        )
        response.timeout = None
        return response

    @bp.get("/api/images/<image_id>/thumbnail")
    @documented(
        "An uploaded image shrunk to fit 128x96, as PNG", content_type="image/png", errors=(404,)
    )
    async def get_thumbnail(image_id: str) -> Response:
        image = hub.led_images.get(image_id)
        if image is None:
            return json_error(404, f"no image {image_id!r}")
        png = await trio.to_thread.run_sync(_thumbnail_png, lan.images_dir, image)
        return Response(png, content_type="image/png")

    return bp


def _preview_item(body: dict[str, Any]) -> Any:
    """The document's bare item, or the controller's editor's `{"item": ...}`."""
    if "item" in body:
        return body["item"]
    return {k: v for k, v in body.items() if k != "session_id"}


def _upload_answer(image: LedImage, thumbnail: tuple[int, int]) -> dict[str, Any]:
    """The stored record (the document's answer) and the controller's upload answer."""
    return {
        **ledsign.image_to_json(image),
        "image_id": image.id,
        "thumbnail_width": thumbnail[0],
        "thumbnail_height": thumbnail[1],
    }


def _thumbnail_name(image: LedImage) -> str:
    return f"{image.id}.thumb.png"


def _make_thumbnail(pixels: Image.Image, path: Path) -> tuple[int, int]:
    small = pixels.copy()
    small.thumbnail(THUMBNAIL_BOX, Image.Resampling.LANCZOS)
    partial = path.with_name(f".{path.name}.part")
    with open(partial, "wb") as out:
        small.save(out, format="PNG")
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
    return small.size


def _thumbnail_png(directory: Path, image: LedImage) -> bytes:
    """The kept thumbnail, made again from the image if it is missing (an older upload)."""
    path = directory / _thumbnail_name(image)
    if not path.is_file():
        with Image.open(directory / image.file) as picture:
            _make_thumbnail(picture.convert("RGBA"), path)
    return path.read_bytes()


def _field(body: dict[str, Any], name: str) -> Any:
    if name not in body:
        raise ValidationError("is required", name)
    return body[name]


def _session_id(body: dict[str, Any]) -> str:
    value = _field(body, "session_id")
    if not isinstance(value, str) or not 0 < len(value) <= 128:
        raise ValidationError("must be the session id string from POST /api/preview", "session_id")
    return value


async def _image_bytes() -> bytes:
    """The upload: the first file of a multipart form, or the raw body."""
    if (request.mimetype or "").startswith("multipart/"):
        if request.content_length is not None and request.content_length > MAX_FORM_BYTES:
            raise BodyTooLarge(MAX_IMAGE_BYTES, "image")
        files = await request.files
        upload = files.get("file") or next(iter(files.values()), None)
        if upload is None:
            raise ValidationError("the form holds no file", "image")
        raw = await trio.to_thread.run_sync(upload.read, MAX_IMAGE_BYTES + 1)
        if len(raw) > MAX_IMAGE_BYTES:
            raise BodyTooLarge(MAX_IMAGE_BYTES, "image")
    else:
        raw = await read_body(MAX_IMAGE_BYTES, "image")
    if not raw:
        raise ValidationError("is empty", "image")
    return raw


def _store_image(raw: bytes, directory: Path, image_id: str) -> tuple[LedImage, tuple[int, int]]:
    """Decode fully (so a broken file is refused now, not when the sign draws it), then keep
    it as PNG: one format for the renderer, and nothing of the upload but its pixels."""
    try:
        with Image.open(io.BytesIO(raw)) as upload:
            if upload.format not in IMAGE_FORMATS:
                raise ValidationError(f"must be one of {', '.join(sorted(IMAGE_FORMATS))}", "image")
            width, height = upload.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ValidationError(f"must be at most {MAX_IMAGE_PIXELS} pixels", "image")
            pixels = upload.convert("RGBA")
    except ValidationError:
        raise
    except Exception as exc:  # Pillow raises many kinds for hostile or broken files
        raise ValidationError(f"is not a readable image ({type(exc).__name__})", "image") from None
    directory.mkdir(parents=True, exist_ok=True)
    name = f"{image_id}.png"
    partial = directory / f".{name}.part"
    with open(partial, "wb") as out:
        pixels.save(out, format="PNG")
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, directory / name)
    size = (directory / name).stat().st_size
    image = LedImage(image_id, name, "image/png", width, height, size)
    return image, _make_thumbnail(pixels, directory / _thumbnail_name(image))
