"""``POST /v1/images/edits``: OpenAI's image editing, a ``multipart/form-data`` form of image
files, an optional mask and text fields (``edit_protocol.py``).

An edit is a task of the caller's account like any other, accepted on the endpoint family its
model is served on (image2image, or the messages protocol) through that family's own parser, so
its limits, prices, usage and ``GET /api/v1/tasks`` apply; then waited for and answered as
``/v1/images/generations`` answers (``answers.py``). The body is capped by ``body_size.py``
before it is read; each file is read up to the model's image size limit and no further.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.exceptions import HTTPException

from imagescope.accounting.accounts import Caller
from imagescope.http import accept
from imagescope.http.body_size import BodyTooLarge
from imagescope.http.deps import caller, services_of
from imagescope.http.openai.answers import images_answer
from imagescope.http.openai.edit_protocol import (
    EDIT_FORM,
    IMAGE_FIELDS,
    MASK_FIELD,
    check_edit,
    data_uri,
    edit_endpoint,
    family_body,
    family_parser,
    parse_form,
    white_on_black,
)
from imagescope.http.openai.errors import ERROR_RESPONSES, InvalidRequest
from imagescope.http.openai.protocol import ImagesResponse
from imagescope.http.wire import response_schema
from imagescope.inputs.errors import image_too_large

router = APIRouter(responses=ERROR_RESPONSES, tags=["OpenAI"])

MAX_FILES = 17  # OpenAI's own bound, 16 images, and a mask; each model takes fewer
MAX_FIELDS = 64  # the documented text fields, with room for the ones OpenAI adds


@router.post(
    "/v1/images/edits",
    responses={200: response_schema(ImagesResponse)},
    openapi_extra=EDIT_FORM,
)
async def edits(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    services = services_of(request)
    # 1. Read the form: the text fields first (the model decides how large a file may be), then the files.
    async with _form(request) as form:
        files = {*IMAGE_FIELDS, MASK_FIELD}
        given = parse_form({key: value for key, value in form.multi_items() if key not in files})
        spec, endpoint = edit_endpoint(services.catalog, given.model)
        limit = spec.image_rules.max_bytes
        uploads = [value for key, value in form.multi_items() if key in IMAGE_FIELDS]
        if not uploads:
            raise InvalidRequest("Field required: image", "image")
        images = [await _read(upload, "image", limit) for upload in uploads]
        masks = form.getlist(MASK_FIELD)
        if len(masks) > 1:
            raise InvalidRequest("Only one mask may be given.", MASK_FIELD)
        mask = await _read(masks[0], MASK_FIELD, limit) if masks else None
    # 2. OpenAI's rules (the family checks its own again), the mask in DashScope's form.
    plan = check_edit(given, spec, len(images), mask is not None, services.catalog)
    white = await run_in_threadpool(white_on_black, mask, images[0], spec.image_rules) if mask is not None else b""
    # 3. The family's body, accepted as a task of the caller's account, waited for.
    uris = [data_uri(image) for image in images]
    body = family_body(given, plan, spec, endpoint, uris, data_uri(white) if white else "")
    task = await accept(request, who, endpoint, body, family_parser(endpoint, len(images)))
    return await images_answer(request, task.id, given.response_format)


@asynccontextmanager
async def _form(request: Request) -> AsyncIterator[FormData]:
    """The multipart form, bounded in files and fields; its spooled files closed afterwards."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise InvalidRequest("The body must be multipart/form-data: the image files and the text fields.")
    try:
        form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
    except BodyTooLarge:
        raise  # the cap's own answer, 413
    except HTTPException as refusal:  # Starlette's multipart parser; its words stay here
        raise InvalidRequest(_unreadable(str(refusal.detail))) from None
    try:
        yield form
    finally:
        await form.close()


def _unreadable(detail: str) -> str:
    """What a form the parser refused is told, in our words (the parser's stay here)."""
    if "Too many" in detail:
        return f"The form holds more than {MAX_FILES} files or {MAX_FIELDS} fields."
    if "maximum size" in detail:
        return "A text field of the form is longer than 1 MB."
    return "The body is not valid multipart/form-data."


async def _read(value: UploadFile | str, field: str, limit: int) -> bytes:
    """A file of the form, read up to ``limit`` bytes (the model's image size limit)."""
    if not isinstance(value, UploadFile):
        raise InvalidRequest(f"{field} must be a file (a form part with a filename), not a text field.", field)
    data = await value.read(limit + 1)
    if len(data) > limit:
        raise InvalidRequest(f"{field}: {image_too_large(None, limit).message}", field)
    return data
