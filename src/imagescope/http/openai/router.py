"""``POST /v1/images/generations`` and ``GET /v1/models``: OpenAI's Images API.

A generation call is a task like any other of the caller's account (same limits, billing, usage,
``GET /api/v1/tasks``), accepted on the endpoint family its model makes images from text on,
then waited for as the synchronous messages call waits: at most
``IMAGESCOPE_SYNC_TIMEOUT_SECONDS``, then 500 RequestTimeOut (a still PENDING task is canceled).
With ``stream: true`` the answer is OpenAI's server-sent events instead (``streaming.py``).
Errors leave in OpenAI's envelope (``errors.py``; ``app.py`` routes every /v1 path's there).
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from imagescope.accounting.accounts import Caller
from imagescope.http import accept
from imagescope.http.deps import caller, services_of
from imagescope.http.openai.answers import images_answer
from imagescope.http.openai.errors import ERROR_RESPONSES
from imagescope.http.openai.protocol import ImagesRequest, ImagesResponse, ModelList, endpoint_of
from imagescope.http.openai.streaming import stream_images
from imagescope.http.params import parse_body
from imagescope.http.wire import parse, request_body, response_schema
from imagescope.models.catalog import ModelSpec
from imagescope.tasks.accept import TakeImage
from imagescope.tasks.spec import GenerationRequest

router = APIRouter(responses=ERROR_RESPONSES, tags=["OpenAI"])

STARTED = int(time.time())  # a model's "created": when this process loaded the catalog

IMAGES_ANSWER = response_schema(ImagesResponse)
IMAGES_ANSWER["content"]["text/event-stream"] = {
    "schema": {
        "type": "string",
        "description": "With stream true: image_generation.partial_image events, then each image's "
        "image_generation.completed (PartialImageEvent, CompletedEvent; ErrorEvent on a failure after the first).",
    }
}


@router.post(
    "/v1/images/generations",
    response_model=None,
    responses={200: IMAGES_ANSWER},
    openapi_extra=request_body(ImagesRequest),
)
async def generations(request: Request, who: Caller = Depends(caller)) -> StreamingResponse | dict[str, Any]:
    body = parse_body(await request.body())
    given = parse(ImagesRequest, body)
    services = services_of(request)
    endpoint = endpoint_of(services.catalog, given.model)

    def to_generation_request(_body: dict[str, Any], spec: ModelSpec, _take: TakeImage) -> GenerationRequest:
        return given.to_generation_request(spec)

    task = await accept(request, who, endpoint, {**body, "model": given.model}, to_generation_request)
    if given.stream:
        return await stream_images(request, task.id)
    return await images_answer(request, task.id, given.response_format)


@router.get("/v1/models", responses={200: response_schema(ModelList)})
def list_models(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    names = sorted(services_of(request).catalog.models)
    models = [{"id": name, "object": "model", "created": STARTED, "owned_by": "imagescope"} for name in names]
    return {"object": "list", "data": models}
