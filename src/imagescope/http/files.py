"""``GET /files/{key}``: result images behind signed, expiring URLs (403 otherwise)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from imagescope.errors import ApiError

router = APIRouter()


# HEAD answers as GET without the body: curl -I, browsers and CDNs ask it first.
@router.api_route("/files/{key:path}", methods=["GET", "HEAD"])
def result_file(key: str, request: Request) -> FileResponse:
    services = request.app.state.services
    params = request.query_params
    if not services.signer.verify(key, params.get("Expires"), params.get("Signature")):
        raise ApiError(403, "AccessDenied", "Request has expired or its signature does not match.")
    path = services.storage.open_path(key)
    if path is None:
        raise ApiError(404, "NoSuchKey", "The specified key does not exist.")
    return FileResponse(path, media_type="image/png")
