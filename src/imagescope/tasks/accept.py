"""Accepting a task: the steps every task-creating route shares.

Look the model up for the route's endpoint family, parse the body with the family's
protocol (input images given as data: URIs or uploads are checked and kept now, under the
new task's id), then persist the task PENDING after the account's rate and quota checks —
or, when anything refuses it, drop the inputs already kept. When storage or the database
fails for the service's reasons the answer is 503 ServiceUnavailable, which clients retry.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Callable

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from imagescope.accounting.accounts import Caller
from imagescope.models.catalog import ModelSpec
from imagescope.inputs.intake import OSS_RESOLVE_HEADER
from imagescope.errors import service_unavailable
from imagescope.tasks.faults import SERVICE_FAULTS
from imagescope.accounting.limits import admit_submission
from imagescope.tasks.spec import GenerationRequest
from imagescope.tasks.store import TaskRecord
from imagescope.http import reply, require_async
from imagescope.http.params import parse_body

log = logging.getLogger(__name__)

# (name, reference) → the reference the task keeps (see editing.EditInputs.take)
TakeImage = Callable[[str, str], str]
Parse = Callable[[dict[str, Any], ModelSpec, TakeImage], GenerationRequest]


async def accept_task(request: Request, who: Caller, endpoint: str, body: dict[str, Any], parse: Parse) -> TaskRecord:
    """The new PENDING task, handed to the dispatcher; raises the request's ApiError."""
    services = request.app.state.services
    oss_enabled = request.headers.get(OSS_RESOLVE_HEADER, "").lower() == "enable"
    task_id = str(uuid.uuid4())

    def accept() -> TaskRecord:
        spec = services.catalog.lookup(body.get("model"), endpoint)

        def take(name: str, reference: str) -> str:
            return services.edit_inputs.take(task_id, name, reference, spec.input_rules, who.account_id, oss_enabled)

        try:
            generation = parse(body, spec, take)
            return services.store.create(
                who, endpoint, generation, request.state.request_id, task_id=task_id,
                admit=lambda session: admit_submission(session, who.account_id, spec),
            )
        except Exception:
            services.storage.delete_task(task_id)  # inputs kept for a task that was not accepted
            raise

    try:
        task = await run_in_threadpool(accept)
    except SERVICE_FAULTS as exc:  # the service's trouble; what failed stays in the log
        log.warning("submission %s not accepted: %s", request.state.request_id, exc)
        raise service_unavailable() from None
    services.dispatcher.submit(task.id)
    return task


async def create_task(request: Request, who: Caller, endpoint: str, parse: Parse) -> dict:
    """An asynchronous route's whole answer: ``X-DashScope-Async: enable`` required, the body
    accepted as a task, ``{"output": {"task_id", "task_status": "PENDING"}}``."""
    require_async(request)
    task = await accept_task(request, who, endpoint, parse_body(await request.body()), parse)
    return reply(request, {"output": {"task_id": task.id, "task_status": task.status.value}})
