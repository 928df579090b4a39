"""The messages protocol's routes.

- ``POST .../multimodal-generation/generation``: synchronous. The request becomes a task like
  any other (same limits, billing, workers, usage), and the call waits for it: the answer is the
  finished task in the ``choices`` format. With ``X-DashScope-Sse: enable`` (and
  ``parameters.stream`` not false) the answer is a stream of server-sent events instead, one
  per part as the worker publishes it.
- ``POST .../image-generation/generation``: asynchronous (wan2.6): answers PENDING and a task id;
  the task query shows the ``choices`` format (see ``api/tasks/protocol.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from imagescope.accounting.accounts import Caller
from imagescope.errors import ServiceError
from imagescope.http import accept, base_url, create_task, reply
from imagescope.http.answers import MessagesAnswer, TaskCreated
from imagescope.http.deps import caller, services_of
from imagescope.http.errors import status_of
from imagescope.http.multimodal.protocol import (
    MessagesRequest,
    UrlFor,
    render_answer,
    render_chunk,
    render_last_chunk,
    to_generation_request,
)
from imagescope.http.params import parse_body
from imagescope.http.waiting import failure_of, until_ended, updates
from imagescope.http.wire import ASYNC, OSS_RESOLVE, SSE, documented, request_body, response_schema
from imagescope.models.catalog import IMAGE_GENERATION, MULTIMODAL
from imagescope.tasks.store import TERMINAL, TaskStatus

router = APIRouter()

SSE_HEADER = "x-dashscope-sse"


SYNC_ANSWER = response_schema(MessagesAnswer)
SYNC_ANSWER["content"]["text/event-stream"] = {
    "schema": {
        "type": "string",
        "description": "With X-DashScope-Sse: enable, one event per part, then one with the usage.",
    }
}


@router.post(
    "/api/v1/services/aigc/multimodal-generation/generation",
    response_model=None,
    responses={200: SYNC_ANSWER},
    openapi_extra=documented(request_body(MessagesRequest), SSE, OSS_RESOLVE),
)
async def generation(request: Request, who: Caller = Depends(caller)) -> StreamingResponse | dict[str, Any]:
    body = parse_body(await request.body())
    # The header decides: the SDK streams with it alone (parameters.stream is its own argument,
    # never sent); an explicit parameters.stream false still asks for one answer.
    parameters = body.get("parameters")
    streaming = request.headers.get(SSE_HEADER, "").lower() == "enable" and not (
        isinstance(parameters, dict) and parameters.get("stream") is False
    )
    task = await accept(request, who, MULTIMODAL, body, partial(to_generation_request, streaming=streaming))
    services = services_of(request)
    family = services.catalog.models[task.model].family
    base = base_url(request)

    def url_for(ended_at: float) -> UrlFor:
        return lambda key: services.result_url(base, key, ended_at)

    if streaming:
        return StreamingResponse(
            _events(request, task.id, family, url_for),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    done = await until_ended(request, task.id)
    if done.status is not TaskStatus.SUCCEEDED:
        raise failure_of(done)
    return reply(request, render_answer(done, family, url_for(done.end_time or time.time())))


@router.post(
    "/api/v1/services/aigc/image-generation/generation",
    responses={200: response_schema(TaskCreated)},
    openapi_extra=documented(request_body(MessagesRequest), ASYNC, OSS_RESOLVE),
)
async def image_generation(request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    return await create_task(request, who, IMAGE_GENERATION, partial(to_generation_request, streaming=False))


def _event(event_id: int, body: dict[str, Any], status: int = 200) -> str:
    """One server-sent event as the hosted service frames them; ``status:`` is what the SDK
    reads for an error's HTTP status."""
    kind = "result" if status == 200 else "error"
    extra = "" if status == 200 else f"status:{status}\n"
    data = json.dumps(body, ensure_ascii=False)
    return f"id:{event_id}\nevent:{kind}\n:HTTP_STATUS/{status}\n{extra}data:{data}\n\n"


async def _events(
    request: Request, task_id: str, family: str, url_for: Callable[[float], UrlFor]
) -> AsyncIterator[str]:
    request_id = request.state.request_id
    sent = event_id = 0
    try:
        async for task in updates(request, task_id):
            parts = sorted(task.results, key=lambda part: part.index)
            for result in parts[sent:]:
                if (chunk := render_chunk(result, family, url_for(task.end_time or time.time()))) is not None:
                    event_id += 1
                    yield _event(event_id, {**chunk, "request_id": request_id})
            sent = len(parts)
        if task.status is TaskStatus.SUCCEEDED:
            yield _event(event_id + 1, {**render_last_chunk(task, family), "request_id": request_id})
        elif task.status in TERMINAL:
            error = failure_of(task)
            body = {"code": error.code, "message": error.message, "request_id": request_id}
            yield _event(event_id + 1, body, status_of(error))
    except ServiceError as error:  # timed out
        body = {"code": error.code, "message": error.message, "request_id": request_id}
        yield _event(event_id + 1, body, status_of(error))
