"""``/api/v1/tasks``: query, cancel and list the caller's tasks."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.routing import Route

from imagescope.accounting.accounts import Caller
from imagescope.errors import cancel_unsupported, invalid_parameter, shown
from imagescope.http import base_url, reply
from imagescope.http.answers import Acknowledged, TaskAnswer, TaskList, TaskRequestAnswer
from imagescope.http.deps import admitted, bearer_key, caller, services_of
from imagescope.http.params import query_integer
from imagescope.http.tasks.protocol import (
    parse_list_time,
    render_list_item,
    render_request,
    render_task,
    unknown_task,
)
from imagescope.http.waiting import HANGUP_CHECK_S
from imagescope.http.wire import response_schema
from imagescope.tasks.reads import TaskQuery
from imagescope.tasks.store import TERMINAL, TaskRecord, TaskStatus

router = APIRouter()

MAX_PAGE_SIZE = 100
MAX_WAIT_S = 60


@router.get("/api/v1/tasks/{task_id}", responses={200: response_schema(TaskAnswer)})
async def get_task(
    task_id: str,
    request: Request,
    wait: str | None = Query(
        None,
        description=f"Long-poll (our addition): answer as soon as the task ends, or after this many "
        f"seconds, 0–{MAX_WAIT_S} (default 0: at once).",
    ),
) -> Response:
    """Documents the task query; ``LEAN_ROUTES`` serves it (the same ``query_task``)."""
    return await query_task(request, task_id, wait)


async def lean_get_task(request: Request) -> Response:
    request.scope["route"] = LEAN_ROUTES[0]  # as FastAPI's routes do: the metrics label requests by it
    return await query_task(request, request.path_params["task_id"], request.query_params.get("wait"))


# The task query is the call clients make most (the SDK polls every second of every task), and
# FastAPI's per-route work (matching through the included routers, solving parameters) costs
# four times what the query itself does. ``app.py`` puts this plain Starlette route ahead of
# FastAPI's routing; the FastAPI route above stays to document the path in /openapi.json.
LEAN_ROUTES = [Route("/api/v1/tasks/{task_id}", lean_get_task, methods=["GET"])]


async def query_task(request: Request, task_id: str, wait: str | None) -> Response:
    """``GET /api/v1/tasks/{id}``: the key and the task in one statement (``tasks/reads.py``),
    the body rendered and encoded once, no response model."""
    key = bearer_key(request)
    services = services_of(request)
    found, task = await run_in_threadpool(services.reads.caller_and_task, key, task_id)
    who = admitted(request, found)
    wait_s = query_integer(wait, "wait", 0, MAX_WAIT_S, 0)
    if task is not None and not services.visible(task):
        task = None
    if wait_s > 0 and task is not None and task.status not in TERMINAL:
        task = await _until_ended(request, task_id, who.account_id, wait_s)
    if task is None:
        return _json(reply(request, {"output": unknown_task(task_id)}))
    # The base URL only when a result needs one: most polls are of tasks not ended yet.
    return _json(
        reply(request, render_task(task, lambda key, ended: services.result_url(base_url(request), key, ended)))
    )


def _json(body: dict[str, Any]) -> Response:
    """As FastAPI's JSONResponse encodes it, without its per-value conversion pass."""
    content = json.dumps(body, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Response(content.encode(), media_type="application/json")


async def _until_ended(request: Request, task_id: str, account_id: int, wait_s: float) -> TaskRecord | None:
    """The task once it has ended, or as it stands after ``wait_s`` seconds; an unknown task at once.

    Read once, then woken by the task's end (made in this process, or found in the store by the
    ``TaskEvents`` sweeper), and read again only then: a waiting request costs no reads and holds
    no thread. A caller that hangs up is noticed within ``HANGUP_CHECK_S``."""
    services = services_of(request)
    deadline = time.monotonic() + wait_s
    with services.task_events.watch(task_id) as end:  # before the read: an end in between still wakes
        task = await run_in_threadpool(services.visible_task, task_id, account_id)
        if task is None or task.status in TERMINAL:
            return task
        while not await end.wait(min(HANGUP_CHECK_S, deadline - time.monotonic())):
            if time.monotonic() >= deadline or await request.is_disconnected():
                break
        return await run_in_threadpool(services.visible_task, task_id, account_id)  # ended, or as it stands


@router.get("/api/v1/tasks/{task_id}/request", responses={200: response_schema(TaskRequestAnswer)})
def task_request(task_id: str, request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    """The task's request as submitted (our addition); visible as the task query's task is."""
    services = services_of(request)
    task = services.visible_task(task_id, who.account_id)
    if task is None:
        return reply(request, unknown_task(task_id))
    base = base_url(request)
    return reply(request, render_request(task, lambda key, ended: services.result_url(base, key, ended)))


@router.post("/api/v1/tasks/{task_id}/cancel", responses={200: response_schema(Acknowledged)})
def cancel_task(task_id: str, request: Request, who: Caller = Depends(caller)) -> dict[str, Any]:
    services = request.app.state.services
    visible = services.visible_task(task_id, who.account_id)
    if visible is None or not services.store.cancel(task_id, who.account_id):
        raise cancel_unsupported()
    return reply(request, {})


# Read as text and checked here, so that a bad value answers the service's own words.
TIME = "YYYYMMDDhhmmss, UTC+8"


@router.get("/api/v1/tasks", responses={200: response_schema(TaskList)})
def list_tasks(
    request: Request,
    who: Caller = Depends(caller),
    start_time: str | None = Query(None, description=f"Submitted at or after: {TIME}."),
    end_time: str | None = Query(None, description=f"Submitted at or before: {TIME}."),
    model_name: str | None = Query(None),
    status: str | None = Query(None, description=", ".join(TaskStatus)),
    page_no: str | None = Query(None, description="From 1."),
    page_size: str | None = Query(None, description=f"1–{MAX_PAGE_SIZE}, default 10."),
) -> dict[str, Any]:
    services = request.app.state.services
    status = status or None
    if status is not None and status not in TaskStatus.__members__:
        raise invalid_parameter(f"status must be one of {', '.join(TaskStatus)}, got {shown(status)}")
    query = TaskQuery(
        start_time=parse_list_time(start_time, "start_time"),
        end_time=parse_list_time(end_time, "end_time"),
        model=model_name or None,
        status=status,
        page_no=query_integer(page_no, "page_no", 1, 10**9, 1),
        page_size=query_integer(page_size, "page_size", 1, MAX_PAGE_SIZE, 10),
    )
    tasks, total = services.reads.list(who.account_id, query, not_before=time.time() - services.settings.task_ttl_s)
    return reply(
        request,
        {
            "data": [render_list_item(t) for t in tasks],
            "total": total,
            "total_page": math.ceil(total / query.page_size),
            "page_no": query.page_no,
            "page_size": query.page_size,
        },
    )
