"""``GET /files/{key}``: result images (and videos) behind signed, expiring URLs (403 otherwise).

The type follows the key: ``.mp4`` (and a VACE input clip) is video/mp4, which browsers play
inline; anything else is the PNG every image result is.

A file on this machine's disk is streamed as it is; an object of the bucket (storage on S3
with ``IMAGESCOPE_S3_SERVE_THROUGH_API``) is read through the API and answered whole.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, Response

from imagescope.errors import Forbidden, NotFound
from imagescope.http.deps import services_of
from imagescope.inputs.video import VIDEO_INPUT_NAMES
from imagescope.storage.local import LocalStorage

router = APIRouter()


PNG: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/png": {}, "video/mp4": {}}, "description": "The PNG (or a video task's MP4)."}
}


def media_type(key: str) -> str:
    """A video task's MP4 and a VACE request's kept input clips are video/mp4."""
    video = key.endswith(".mp4") or key.rpartition("/")[2] in VIDEO_INPUT_NAMES
    return "video/mp4" if video else "image/png"


def result_file(
    key: str,
    request: Request,
    expires: str | None = Query(None, alias="Expires", description="Unix seconds the URL is valid until."),
    signature: str | None = Query(None, alias="Signature", description="HMAC of the key and expiry."),
) -> Response:
    services = services_of(request)
    if not services.signer.verify(key, expires, signature):
        raise Forbidden("AccessDenied", "Request has expired or its signature does not match.")
    storage = services.storage
    if isinstance(storage, LocalStorage):
        path = storage.open_path(key)
        if path is None:
            raise NotFound("NoSuchKey", "The specified key does not exist.")
        return FileResponse(path, media_type=media_type(key))
    data = storage.read(key)  # StorageUnavailable: 503; a key we signed is always a valid one
    if data is None:
        raise NotFound("NoSuchKey", "The specified key does not exist.")
    return Response(data, media_type=media_type(key))


# HEAD answers as GET without the body: curl -I, browsers and CDNs ask it first.
router.add_api_route("/files/{key:path}", result_file, methods=["GET"], response_class=FileResponse, responses=PNG)
router.add_api_route(
    "/files/{key:path}",
    result_file,
    methods=["HEAD"],
    response_class=FileResponse,
    responses=PNG,
    operation_id="result_file_head",
)
