"""The answer every OpenAI image call gives (``POST /v1/images/generations`` and
``POST /v1/images/edits``): the task waited for, then ``{"created", "data": [...]}`` with the
images that were made, each as a signed URL or the PNG in base64 (``protocol.ImagesResponse``
documents it). One function, so that both routes answer alike."""

from __future__ import annotations

import base64
import time
from typing import Any, Literal

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from imagescope.errors import internal_error
from imagescope.http import base_url
from imagescope.http.deps import services_of
from imagescope.http.waiting import failure_of, until_ended
from imagescope.tasks.spec import ImagePart
from imagescope.tasks.store import TaskStatus

ResponseFormat = Literal["url", "b64_json"]


async def images_answer(request: Request, task_id: str, response_format: ResponseFormat) -> dict[str, Any]:
    """The task once it ends, as OpenAI's images answer; a task that did not succeed raises its
    failure (``waiting.failure_of``). ``revised_prompt`` when prompt_extend rewrote the prompt."""
    done = await until_ended(request, task_id)
    if done.status is not TaskStatus.SUCCEEDED:
        raise failure_of(done)
    services = services_of(request)
    base = base_url(request)
    ended = done.end_time or time.time()
    data = []
    for part in sorted(done.results, key=lambda part: part.index):
        if not isinstance(part, ImagePart):
            continue  # a failed image is left out; the task succeeded with the others
        if response_format == "b64_json":
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
