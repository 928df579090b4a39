"""HTTP routes, one folder per DashScope endpoint family: ``router.py`` (the route)
and ``protocol.py`` (the wire format); the helpers every route shares are here."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from imagescope.accounting.accounts import Caller
from imagescope.errors import synchronous_call_unsupported
from imagescope.http.params import parse_body
from imagescope.tasks.accept import Parse, Submission
from imagescope.tasks.store import TaskRecord

OSS_RESOLVE_HEADER = "x-dashscope-ossresourceresolve"
CALLBACK_HEADER = "x-imagescope-callback"  # our addition: a completion webhook (tasks/callbacks.py)


def base_url(request: Request) -> str:
    """The server as the client reached it, without a trailing slash (result URLs start there)."""
    return str(request.base_url).rstrip("/")


def reply(request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """A success body: every response carries the request's ``request_id``."""
    return {"request_id": request.state.request_id, **body}


def require_async(request: Request) -> None:
    """Task-creating endpoints answer only ``X-DashScope-Async: enable`` (spec 001–004)."""
    if request.headers.get("x-dashscope-async", "").lower() != "enable":
        raise synchronous_call_unsupported()


async def accept(request: Request, who: Caller, endpoint: str, body: dict[str, Any], parse: Parse) -> TaskRecord:
    """The request's body accepted as a task (tasks.accept), off the event loop. Every
    task-creating route comes here, so each takes ``X-Imagescope-Callback`` (empty: none)."""
    callback = request.headers.get(CALLBACK_HEADER, "").strip()
    submission = Submission(
        caller=who,
        endpoint=endpoint,
        body=body,
        request_id=request.state.request_id,
        oss_resolve=request.headers.get(OSS_RESOLVE_HEADER, "").lower() == "enable",
        callback=callback or None,
        base_url=base_url(request),
    )
    return await run_in_threadpool(request.app.state.services.acceptor.accept, submission, parse)


async def create_task(request: Request, who: Caller, endpoint: str, parse: Parse) -> dict[str, Any]:
    """An asynchronous route's whole answer: ``X-DashScope-Async: enable`` required, the body
    accepted as a task, ``{"output": {"task_id", "task_status": "PENDING"}}``."""
    require_async(request)
    task = await accept(request, who, endpoint, parse_body(await request.body()), parse)
    return reply(request, {"output": {"task_id": task.id, "task_status": task.status.value}})
