"""``POST /v1/images/generations`` and ``GET /v1/models``: OpenAI's Images API.

A generation call is a task like any other of the caller's account (same limits, billing, usage,
``GET /api/v1/tasks``), accepted on the endpoint family its model makes images from text on,
then waited for as the synchronous messages call waits: at most
``IMAGESCOPE_SYNC_TIMEOUT_SECONDS``, then 500 RequestTimeOut (a still PENDING task is canceled).
Errors leave in OpenAI's envelope (``errors.py``; ``app.py`` routes every /v1 path's there).
"""

from __future__ import annotations

import base64
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from imagescope.accounting.accounts import Caller
from imagescope.errors import internal_error
from imagescope.http import accept
from imagescope.http.deps import caller, services_of
from imagescope.http.openai.errors import ERROR_RESPONSES
from imagescope.http.openai.protocol import ImagesRequest, ImagesResponse, ModelList, endpoint_of
from imagescope.http.params import parse_body
from imagescope.http.waiting import failure_of, until_ended
from imagescope.http.wire import parse, request_body, response_schema
from imagescope.models.catalog import ModelSpec
from imagescope.tasks.accept import TakeImage
from imagescope.tasks.spec import GenerationRequest, ImagePart
from imagescope.tasks.store import TaskStatus

router = APIRouter(responses=ERROR_RESPONSES, tags=["OpenAI"])

STARTED = int(time.time())  # a model's "created": when this process loaded the catalog


@router.post(
    "/v1/images/generations",
    responses={200: response_schema(ImagesResponse)},
    openapi_extra=request_body(ImagesRequest),
)
async def generations(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    body = parse_body(await request.body())
    given = parse(ImagesRequest, body)
    services = services_of(request)
    endpoint = endpoint_of(services.catalog, given.model)

    def to_generation_request(_body: dict[str, Any], spec: ModelSpec, _take: TakeImage) -> GenerationRequest:
        return given.to_generation_request(spec)

    task = await accept(request, who, endpoint, {**body, "model": given.model}, to_generation_request)
    done = await until_ended(request, task.id)
    if done.status is not TaskStatus.SUCCEEDED:
        raise failure_of(done)
    base = str(request.base_url).rstrip("/")
    ended = done.end_time or time.time()
    data = []
    for part in sorted(done.results, key=lambda part: part.index):
        if not isinstance(part, ImagePart):
            continue  # a failed image is left out; the task succeeded with the others
        if given.response_format == "b64_json":
            png = await run_in_threadpool(services.storage.read, part.file)
            if png is None:
                raise internal_error()
            image: dict[str, Any] = {"b64_json": base64.b64encode(png).decode()}
        else:
            image = {"url": services.result_url(base, part.file, ended)}
        if done.actual_prompt is not None:
            image["revised_prompt"] = done.actual_prompt
        data.append(image)
    return {"created": int(ended), "data": data}


@router.get("/v1/models", responses={200: response_schema(ModelList)})
def list_models(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    names = sorted(services_of(request).catalog.models)
    models = [{"id": name, "object": "model", "created": STARTED, "owned_by": "imagescope"} for name in names]
    return {"object": "list", "data": models}
