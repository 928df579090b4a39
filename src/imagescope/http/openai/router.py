"""``POST /v1/images/generations`` and ``GET /v1/models``: OpenAI's Images API.

A generation call is a task like any other of the caller's account (same limits, billing, usage,
``GET /api/v1/tasks``), accepted on the endpoint family its model makes images from text on,
then waited for as the synchronous messages call waits: at most
``IMAGESCOPE_SYNC_TIMEOUT_SECONDS``, then 500 RequestTimeOut (a still PENDING task is canceled).
Errors leave in OpenAI's envelope (``errors.py``; ``app.py`` routes every /v1 path's there).
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from imagescope.accounting.accounts import Caller
from imagescope.errors import Failed, ServiceError, internal_error, request_timeout, task_error
from imagescope.http import accept
from imagescope.http.deps import caller, services_of
from imagescope.http.openai.errors import ERROR_RESPONSES
from imagescope.http.openai.protocol import ImagesRequest, ImagesResponse, ModelList, endpoint_of
from imagescope.http.params import parse_body
from imagescope.http.wire import parse, request_body, response_schema
from imagescope.models.catalog import ModelSpec
from imagescope.tasks.accept import TakeImage
from imagescope.tasks.spec import GenerationRequest, ImagePart
from imagescope.tasks.store import TERMINAL, TaskRecord, TaskStatus

router = APIRouter(responses=ERROR_RESPONSES, tags=["OpenAI"])

POLL_FIRST_S = 0.02  # how soon a waiting call first looks again; then 1.5x, up to POLL_MAX_S
POLL_MAX_S = 0.2
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
    done = await _finished(request, task)
    if done.status is not TaskStatus.SUCCEEDED:
        raise _failure(done)
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


async def _finished(request: Request, task: TaskRecord) -> TaskRecord:
    """The task once it ends (or as it is when the caller hung up). Like the synchronous messages
    call's wait (http/multimodal/router.py), kept here so the two can change apart."""
    services = services_of(request)
    deadline = time.monotonic() + services.settings.sync_timeout_s
    delay = POLL_FIRST_S
    while True:
        found = await run_in_threadpool(services.store.get, task.id)
        if found is None:  # purged while we waited: only a retention far shorter than the wait does this
            raise internal_error()
        if found.status in TERMINAL or await request.is_disconnected():
            return found
        if time.monotonic() > deadline:
            await run_in_threadpool(services.store.cancel, task.id, task.account_id)
            raise request_timeout()
        await asyncio.sleep(delay)
        delay = min(delay * 1.5, POLL_MAX_S)


def _failure(task: TaskRecord) -> ServiceError:
    if task.status is TaskStatus.CANCELED:
        return Failed("RequestCanceled", "The request was canceled before it finished.")
    if task.status is TaskStatus.FAILED:
        return task_error(task.code or "InternalError", task.message or "")
    return request_timeout()  # the caller hung up: no one reads this
