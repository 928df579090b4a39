"""Waiting for a task from a route: the synchronous calls (the messages protocol's, OpenAI's)
wait for their task as it changes, woken by its end (tasks/wakeups.py), and answer its failure."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from imagescope.errors import Failed, ServiceError, request_timeout, task_error
from imagescope.http.deps import services_of
from imagescope.tasks.store import TERMINAL, TaskRecord, TaskStatus

POLL_FIRST_S = 0.02  # how soon a stream first looks for new parts again; then 1.5x, up to POLL_MAX_S
POLL_MAX_S = 0.2
HANGUP_CHECK_S = 5.0  # a wait woken only by the end looks this often whether its caller is still there


async def updates(request: Request, task_id: str, parts: bool = True) -> AsyncIterator[TaskRecord]:
    """The task as it changes, until it ends; stops early if the caller hangs up. A call
    waiting longer than the configured limit gets RequestTimeOut (a PENDING task is canceled).

    The task's end wakes the wait at once (``TaskEvents``); with ``parts`` the store is also
    read every 20–200 ms for the parts the worker publishes; without ``parts`` only when the end
    wakes it (one made elsewhere is found by the ``TaskEvents`` sweeper) or ``HANGUP_CHECK_S``
    passes (to notice a caller that hung up)."""
    services = services_of(request)
    deadline = time.monotonic() + services.settings.sync_timeout_s
    delay = POLL_FIRST_S if parts else HANGUP_CHECK_S
    with services.task_events.watch(task_id) as end:  # before the first read: no end slips by
        while True:
            task = await run_in_threadpool(services.store.get, task_id)
            assert task is not None  # purged only once its TTL (days) has passed, not while awaited
            yield task
            if task.status in TERMINAL or await request.is_disconnected():
                return
            if time.monotonic() > deadline:
                await run_in_threadpool(services.store.cancel, task_id, task.account_id)
                raise request_timeout()
            await end.wait(min(delay, max(0.0, deadline - time.monotonic())))
            if parts:
                delay = min(delay * 1.5, POLL_MAX_S)


async def until_ended(request: Request, task_id: str) -> TaskRecord:
    """The task once it ends (or as it stands when the caller hung up)."""
    last: TaskRecord | None = None
    async for update in updates(request, task_id, parts=False):
        last = update
    assert last is not None  # _updates yields at least the task's end
    return last


def failure_of(task: TaskRecord) -> ServiceError:
    """What a synchronous call answers for a task that did not succeed."""
    if task.status is TaskStatus.CANCELED:
        return Failed("RequestCanceled", "The request was canceled before it finished.")
    if task.status is TaskStatus.FAILED:
        return task_error(task.code or "InternalError", task.message or "")
    return request_timeout()  # not ended: the caller hung up, and no one reads this
