"""The SDK's upload flow (see ``storage/uploads.py``): ``GET /api/v1/uploads?action=getPolicy`` and
the form POST to ``upload_host``, which is this API on either storage backend: the checked bytes
go to the uploads' store (the data directory, or the bucket of ``IMAGESCOPE_STORAGE_URL``)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from imagescope.accounting.accounts import Caller
from imagescope.errors import invalid_parameter
from imagescope.http import base_url, reply
from imagescope.http.answers import PolicyAnswer
from imagescope.http.body_size import upload_too_large
from imagescope.http.deps import caller, services_of
from imagescope.http.errors import HttpError
from imagescope.http.wire import response_schema

router = APIRouter()


@router.get("/api/v1/uploads", responses={200: response_schema(PolicyAnswer)})
def get_policy(
    request: Request,
    who: Caller = Depends(caller),
    action: str | None = Query(None, description="getPolicy"),
    model: str | None = Query(None, description="The model the upload is for."),
) -> dict[str, Any]:
    if action != "getPolicy":
        raise invalid_parameter("action must be getPolicy")
    services = services_of(request)
    if not model:
        raise invalid_parameter("Field required: model")
    base = services.settings.public_url or base_url(request)
    policy = services.uploads.policy_for(who.account_id, f"{base}/uploads/oss")
    # The hosted documentation shows the policy under "data"; the SDK reads "output". Both.
    return reply(request, {"data": policy, "output": policy})


_FIELD = {"type": "string"}
UPLOAD_FORM = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["policy", "Signature", "key", "file"],
                    "properties": {
                        "OSSAccessKeyId": _FIELD,
                        "policy": _FIELD,
                        "Signature": _FIELD,
                        "success_action_status": _FIELD,
                        "key": {
                            "type": "string",
                            "description": "upload_dir/file name: a plain name of at most 255 bytes",
                        },
                        "file": {"type": "string", "format": "binary"},
                    },
                }
            }
        },
    }
}


@router.post(
    "/uploads/oss",
    response_class=Response,
    responses={200: {"description": "Stored; no body."}},
    openapi_extra=UPLOAD_FORM,
)
async def upload(request: Request) -> Response:
    length = request.headers.get("content-length")
    if length is None:  # a larger one never got here (body_size.BodyLimit)
        raise HttpError(411, "MissingContentLength", "You must provide the Content-Length HTTP header.")
    services = services_of(request)
    async with request.form(max_files=1, max_fields=16) as form:
        policy = services.uploads.check(
            str(form.get("policy", "")), str(form.get("Signature", "")), str(form.get("key", ""))
        )
        file = form.get("file")
        if file is None or isinstance(file, str):
            raise invalid_parameter("The form has no file.")
        data = await file.read(policy.max_bytes + 1)
        if len(data) > policy.max_bytes:
            raise upload_too_large()
        await run_in_threadpool(services.uploads.save, str(form["key"]), data)
    return Response(status_code=200)
