"""``stream: true`` on ``POST /v1/images/generations``: OpenAI's server-sent events::

    event: image_generation.partial_image
    data: {"type": "image_generation.partial_image", "b64_json": "...", "partial_image_index": 0, ...}

    event: image_generation.completed
    data: {"type": "image_generation.completed", "b64_json": "...", "usage": {...}, ...}

Image after image (n > 1): each image's pictures on the way, indexed from 0, then its completed
event; an image that failed has no completed event (the one answer leaves it out too) and the
others still come. Every event carries the PNG in base64, whatever ``response_format`` says (OpenAI's
events have no URL). The pictures come from the worker: it keeps each in storage under the task
(``worker.partial_key``) and counts them in the task's ``progress``; the stream reads them as
the task changes (``waiting.updates``), and an image's last ones once its result is published.
An engine without steps (preview) makes no pictures: its stream is the completed events alone.

Errors: a task that fails (or a call that times out) before the first event answers OpenAI's
error envelope with its status, as without ``stream``; after it, the stream ends with an
``error`` event (``protocol.ErrorEvent``), which the ``openai`` SDK raises as ``APIError``.
"""

from __future__ import annotations

import base64
import logging
import time
from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from imagescope.errors import ServiceError, internal_error, service_unavailable
from imagescope.http.deps import services_of
from imagescope.http.openai.errors import ErrorDetail, error_body
from imagescope.http.openai.protocol import CompletedEvent, ErrorEvent, PartialImageEvent
from imagescope.http.waiting import failure_of, updates
from imagescope.tasks.faults import SERVICE_FAULTS
from imagescope.tasks.spec import ImagePart
from imagescope.tasks.store import TERMINAL, TaskRecord, TaskStatus
from imagescope.tasks.worker import partial_key

log = logging.getLogger(__name__)

Event = PartialImageEvent | CompletedEvent | ErrorEvent


async def stream_images(request: Request, task_id: str) -> StreamingResponse:
    """The events of the task's images. Waits for the first: a failure before it is raised
    here, so the route answers the error envelope and its status."""
    events = _image_events(request, task_id)
    first = await anext(events, None)  # None: the caller hung up first
    return StreamingResponse(
        _framed(request, first, events),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _framed(request: Request, first: Event | None, events: AsyncIterator[Event]) -> AsyncIterator[str]:
    if first is None:
        return
    yield _frame(first)
    try:
        async for event in events:
            yield _frame(event)
    except ServiceError as error:
        yield _frame(_error_event(error))
    except SERVICE_FAULTS as exc:  # storage or the database failing under the stream
        log.warning("request %s: service fault while streaming: %s", request.state.request_id, exc)
        yield _frame(_error_event(service_unavailable()))
    except Exception:
        log.exception("request %s: streaming failed", request.state.request_id)
        yield _frame(_error_event(internal_error()))


def _frame(event: Event) -> str:
    return f"event: {event.type}\ndata: {event.model_dump_json()}\n\n"


def _error_event(error: ServiceError) -> ErrorEvent:
    return ErrorEvent(error=ErrorDetail.model_validate(error_body(error)["error"]))


async def _image_events(request: Request, task_id: str) -> AsyncIterator[Event]:
    """The task's events as it changes; raises the task's failure once it ends without success."""
    storage = services_of(request).storage
    sent_parts = 0
    sent_pictures: dict[int, int] = {}  # image → how many of its pictures on the way were sent

    async def pictures(task: TaskRecord, image: int, made: int) -> AsyncIterator[Event]:
        """Image ``image``'s pictures not sent yet, of the first ``made`` (those in storage)."""
        width, height = task.request.size or (0, 0)  # a generation's size is always set
        while (index := sent_pictures.get(image, 0)) < made:
            png = await run_in_threadpool(storage.read, partial_key(task.id, image, index))
            if png is None:  # fewer than asked for: the engine made fewer (too few steps)
                return
            sent_pictures[image] = index + 1
            yield PartialImageEvent(
                b64_json=_b64(png), created_at=int(time.time()), size=f"{width}x{height}", partial_image_index=index
            )

    last: TaskRecord | None = None
    async for task in updates(request, task_id):
        last = task
        parts = sorted(task.results, key=lambda part: part.index)
        for part in parts[sent_parts:]:
            if not isinstance(part, ImagePart):
                continue  # a failed image: nothing of it is sent
            async for event in pictures(task, part.index, task.request.partial_images):
                yield event
            png = await run_in_threadpool(storage.read, part.file)
            if png is None:
                raise internal_error()
            yield CompletedEvent(b64_json=_b64(png), created_at=int(time.time()), size=f"{part.width}x{part.height}")
        sent_parts = len(parts)
        progress = task.progress or {}
        image = progress.get("image", 0) - 1  # the image being made, from 0 (a generation's part index)
        if task.status is TaskStatus.RUNNING and image >= sent_parts:
            async for event in pictures(task, image, progress.get("partial_images", 0)):
                yield event
    if last is not None and last.status in TERMINAL and last.status is not TaskStatus.SUCCEEDED:
        raise failure_of(last)


def _b64(png: bytes) -> str:
    return base64.b64encode(png).decode()
