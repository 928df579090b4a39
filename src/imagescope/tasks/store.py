"""Durable tasks: every state change is one conditional UPDATE, so a task is claimed,
canceled or completed exactly once, by whichever thread or process gets there first.

A RUNNING task holds a lease: its process renews it while it runs (``renew``). When a
process dies its leases run out and ``recover_expired`` hands those tasks to the others
(or FAILs them once they have used their attempts), so one process of several can
restart alone without anyone re-running another's live tasks.

A run stopped by a service fault (faults.py) is not the task's failure: ``defer`` puts it back
PENDING, claimable after ``retry_at``, without spending an attempt, until its deadline runs out.

Every accepted task also gets an ``Invocation`` row that outlives the task's purge:
the usage reports count those. A task created with a callback (``TaskCallback``) gets its
webhook queued (callbacks.py, the outbox) in the transaction that ends it.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.orm import Session

from imagescope.accounting.accounts import Caller
from imagescope.db import Database, Invocation, Task, TaskCallback, rowcount, write_locked
from imagescope.errors import (
    INTERNAL_ERROR_CODE,
    INTERNAL_ERROR_MESSAGE,
    INTERRUPTED_CODE,
    INTERRUPTED_MESSAGE,
)
from imagescope.tasks.callbacks import Callback, forget_callbacks, queue_delivery
from imagescope.tasks.faults import retry_delay
from imagescope.tasks.notify import END, NEW, announce
from imagescope.tasks.records import TERMINAL, TaskRecord, TaskStatus, request_to_json, results_to_json
from imagescope.tasks.spec import ErrorPart, GenerationRequest, ImagePart, ResultPart, VideoPart

__all__ = ["TERMINAL", "TaskEnd", "TaskRecord", "TaskStatus", "TaskStore"]


@dataclass(frozen=True)
class TaskEnd:
    """A task reached a terminal status (what metrics and waiting callers observe)."""

    task_id: str
    model: str
    status: TaskStatus
    submit_time: float
    end_time: float
    images: int
    webhook: bool = False  # a completion webhook was queued: wake the delivery loop
    video_seconds: int = 0  # seconds of video made (a video task's)


class TaskStore:
    def __init__(self, db: Database, on_end: Callable[[TaskEnd], None] | None = None):
        self.db = db
        # Called after each terminal transition this process makes (completes, fails, cancels,
        # recovered tasks failed), once committed; a purge deletes tasks already ended.
        self.on_end = on_end

    def _ended(self, session: Session, row: Task, images: int = 0) -> bool:
        """Record the end of ``row`` (already updated) in its invocation and queue its webhook,
        in the same transaction; True when a webhook was queued."""
        session.execute(
            update(Invocation)
            .where(Invocation.task_id == row.id)
            .values(status=row.status, finished_at=row.end_time, images=images)
        )
        return queue_delivery(session, row)

    def _notify(self, row: Task, images: int = 0, webhook: bool = False, video_seconds: int = 0) -> None:
        if self.on_end is not None:
            assert row.end_time is not None  # called after a terminal transition, which sets it
            status = TaskStatus(row.status)
            end = TaskEnd(row.id, row.model, status, row.submit_time, row.end_time, images, webhook, video_seconds)
            self.on_end(end)

    def create(
        self,
        caller: Caller,
        endpoint: str,
        request: GenerationRequest,
        request_id: str,
        admit: Callable[[Session], None] | None = None,
        task_id: str | None = None,
        callback: Callback | None = None,
    ) -> TaskRecord:
        """Persist a PENDING task (and its ``callback``); ``admit`` may refuse it (raise) in the same transaction."""
        row = Task(
            id=task_id or str(uuid.uuid4()),
            account_id=caller.account_id,
            api_key_id=caller.api_key_id,
            workspace_id=caller.workspace_id,
            endpoint=endpoint,
            model=request.model,
            status=TaskStatus.PENDING,
            request=request_to_json(request),
            request_id=request_id,
            submit_time=time.time(),
            attempts=0,
        )
        with write_locked(self.db) as session:
            if admit is not None:
                admit(session)
            session.add(row)
            session.add(
                Invocation(
                    task_id=row.id,
                    account_id=row.account_id,
                    workspace_id=row.workspace_id,
                    api_key_id=row.api_key_id,
                    model=row.model,
                    submitted_at=row.submit_time,
                    status=row.status,
                )
            )
            if callback is not None:
                session.add(TaskCallback(task_id=row.id, url=callback.url, base_url=callback.base_url))
            announce(session, NEW, row.id)  # idle workers of other processes: delivered at commit
        return TaskRecord.from_row(row)

    def get(self, task_id: str) -> TaskRecord | None:
        with Session(self.db) as session:
            row = session.get(Task, task_id)
            return TaskRecord.from_row(row) if row else None

    def ended_among(self, task_ids: Collection[str]) -> set[str]:
        """Which of ``task_ids`` have ended, or are gone (purged): those a waiter would wake for."""
        ids = list(task_ids)
        live: set[str] = set()
        with Session(self.db) as session:
            for start in range(0, len(ids), 500):  # bounded IN lists
                chunk = ids[start : start + 500]
                live.update(session.scalars(select(Task.id).where(Task.id.in_(chunk), Task.status.not_in(TERMINAL))))
        return set(ids) - live

    def claim_next(
        self,
        concurrency: Callable[[Session, int, str], int],
        owner: str,
        lease_s: float,
        scan: int = 200,
    ) -> str | None:
        """Claim the oldest PENDING task whose account and model have a free slot.

        ``concurrency(session, account_id, model)`` gives the slots; tasks of a full
        account/model wait PENDING, and tasks behind them are not held up. The claim
        is leased to ``owner`` for ``lease_s`` seconds (see ``renew``).
        """
        claimable = (Task.status == TaskStatus.PENDING, Task.retry_at.is_(None) | (Task.retry_at <= time.time()))
        # Idle workers poll: look without the write lock first, so polling never blocks submissions.
        with Session(self.db) as session:
            if session.scalar(select(Task.id).where(*claimable).limit(1)) is None:
                return None
        with write_locked(self.db) as session:
            candidates = session.execute(
                select(Task.id, Task.account_id, Task.model).where(*claimable).order_by(Task.submit_time).limit(scan)
            ).all()
            if not candidates:
                return None
            running = dict(
                ((a, m), n)
                for a, m, n in session.execute(
                    select(Task.account_id, Task.model, func.count())
                    .where(Task.status == TaskStatus.RUNNING)
                    .group_by(Task.account_id, Task.model)
                )
            )
            slots: dict[tuple[int, str], int] = {}
            for task_id, account_id, model in candidates:
                key = (account_id, model)
                if key not in slots:
                    slots[key] = concurrency(session, account_id, model)
                if running.get(key, 0) < slots[key]:
                    now = time.time()
                    session.execute(
                        update(Task)
                        .where(Task.id == task_id)
                        .values(
                            status=TaskStatus.RUNNING,
                            scheduled_time=now,
                            attempts=Task.attempts + 1,
                            lease_owner=owner,
                            lease_until=now + lease_s,
                        )
                    )
                    return task_id
            return None

    def renew(self, owner: str, lease_s: float) -> int:
        """Extend the leases of every task ``owner`` is running; returns how many."""
        stmt = (
            update(Task)
            .where(Task.status == TaskStatus.RUNNING, Task.lease_owner == owner)
            .values(lease_until=time.time() + lease_s)
        )
        with Session(self.db) as session, session.begin():
            return rowcount(session, stmt)

    def _end(
        self,
        task_id: str,
        source: tuple[str, ...],
        status: TaskStatus,
        *conditions: ColumnElement[bool],
        **values: Any,
    ) -> bool:
        """Move a task from one of ``source`` to a terminal ``status`` (no images made)."""
        with write_locked(self.db) as session:
            row = session.scalar(select(Task).where(Task.id == task_id, Task.status.in_(source), *conditions))
            if row is None:
                return False
            row.status = status
            row.end_time = time.time()
            for name, value in values.items():
                setattr(row, name, value)
            session.flush()
            webhook = self._ended(session, row)
            announce(session, END, row.id)
        self._notify(row, webhook=webhook)
        return True

    def cancel(self, task_id: str, account_id: int) -> bool:
        """PENDING or RUNNING → CANCELED. A RUNNING task's worker notices at its next ``report``
        and stops (engines check between denoising steps); what it made is discarded."""
        return self._end(
            task_id, (TaskStatus.PENDING, TaskStatus.RUNNING), TaskStatus.CANCELED, Task.account_id == account_id
        )

    def report(
        self, task_id: str, owner: str, results: list[ResultPart] | None = None, progress: dict[str, int] | None = None
    ) -> bool:
        """A RUNNING task's worker publishes what it has made so far and where it stands.

        False when the task is no longer ``owner``'s to run (canceled, or its lease was
        lost): the worker should stop.
        """
        values: dict[str, str] = {}
        if results is not None:
            values["results"] = results_to_json(results)
        if progress is not None:
            values["progress"] = json.dumps(progress)
        mine = (Task.id == task_id, Task.status == TaskStatus.RUNNING, Task.lease_owner == owner)
        with Session(self.db) as session, session.begin():
            if not values:
                return session.scalar(select(func.count()).select_from(Task).where(*mine)) == 1
            return rowcount(session, update(Task).where(*mine).values(**values)) == 1

    def complete(
        self,
        task_id: str,
        owner: str,
        results: list[ResultPart],
        actual_prompt: str | None,
        on_images: Callable[[Session, Task, int], None] | None = None,
    ) -> TaskStatus:
        """RUNNING → SUCCEEDED if any image (or the video) was made, else FAILED with the first
        image's error.

        ``on_images(session, task, count)`` (billing) runs in the same transaction, so a task is
        charged exactly when it completes. A video task's count, there and in its invocation
        row, is its seconds of video: what video is billed and reported by.
        """
        images = sum(1 for part in results if isinstance(part, ImagePart))
        seconds = sum(part.duration for part in results if isinstance(part, VideoPart))
        made = any(isinstance(part, VideoPart) for part in results)
        failure = next((part for part in results if isinstance(part, ErrorPart)), None)
        status = TaskStatus.SUCCEEDED if images or made else TaskStatus.FAILED
        units = images + seconds
        with write_locked(self.db) as session:
            row = session.get(Task, task_id)
            if row is None or row.status != TaskStatus.RUNNING or row.lease_owner != owner:
                # Canceled, recovered by another process after our lease ran out, or purged.
                return TaskStatus(row.status) if row else TaskStatus.UNKNOWN
            row.status = status
            row.end_time = time.time()
            row.results = results_to_json(results)
            row.progress = None
            row.actual_prompt = actual_prompt
            if not images and failure is not None:
                row.code, row.message = failure.code, failure.message
            if on_images is not None and units:
                on_images(session, row, units)
            webhook = self._ended(session, row, units)
            announce(session, END, row.id)
        self._notify(row, images, webhook, seconds)
        return status

    def fail(self, task_id: str, code: str, message: str, owner: str | None = None) -> bool:
        """PENDING or RUNNING → FAILED; with ``owner``, only while that owner holds the task."""
        conditions = () if owner is None else (Task.lease_owner == owner,)
        return self._end(
            task_id,
            (TaskStatus.PENDING, TaskStatus.RUNNING),
            TaskStatus.FAILED,
            *conditions,
            code=code,
            message=message,
        )

    def defer(self, task_id: str, owner: str, deadline_s: float) -> TaskStatus | None:
        """A service fault stopped ``owner``'s run: RUNNING → PENDING, partial results dropped,
        claimable after ``retry_delay``, the run not counted as an attempt (those are for crashes);
        FAILED (InternalError) once ``deadline_s`` has passed since its first fault. None: not ours."""
        mine = (Task.id == task_id, Task.status == TaskStatus.RUNNING, Task.lease_owner == owner)
        with write_locked(self.db) as session:
            row = session.scalar(select(Task).where(*mine))
            if row is None:
                return None
            now = time.time()
            first = row.faulted_at if row.faulted_at is not None else now
            if now - first < deadline_s:
                for name, value in _requeued(max(row.attempts - 1, 0)).items():
                    setattr(row, name, value)
                row.faulted_at, row.retry_at = first, now + retry_delay(now - first)
                announce(session, NEW, row.id)  # its slot is free (the task itself waits for retry_at)
                return TaskStatus.PENDING
            row.results = row.progress = None
            row.status, row.end_time = TaskStatus.FAILED, now
            row.code, row.message = INTERNAL_ERROR_CODE, INTERNAL_ERROR_MESSAGE
            session.flush()
            webhook = self._ended(session, row)
            announce(session, END, row.id)
        self._notify(row, webhook=webhook)
        return TaskStatus.FAILED

    def give_back(self, task_id: str, owner: str) -> bool:
        """``owner`` is shutting down: its RUNNING task goes back to the queue at once (no lease
        to wait out), what it published dropped, the run not counted as an attempt; any process
        may claim it now. False: not ``owner``'s (canceled, ended, or taken over meanwhile)."""
        mine = (Task.id == task_id, Task.status == TaskStatus.RUNNING, Task.lease_owner == owner)
        stmt = update(Task).where(*mine).values(**_requeued(Task.attempts - 1))  # a RUNNING task's claim counted one
        with write_locked(self.db) as session:
            if rowcount(session, stmt) != 1:
                return False
            announce(session, NEW, task_id)
        return True

    def fail_overdue(self, faulted_before: float) -> list[str]:
        """PENDING tasks whose first service fault was before ``faulted_before`` → FAILED
        (InternalError): their deadline ran out while the workers were paused."""
        overdue = (Task.status == TaskStatus.PENDING, Task.faulted_at < faulted_before)
        with Session(self.db) as session:
            ids = list(session.scalars(select(Task.id).where(*overdue)))
        return [
            task_id
            for task_id in ids
            if self._end(
                task_id,
                (TaskStatus.PENDING,),
                TaskStatus.FAILED,
                overdue[1],
                code=INTERNAL_ERROR_CODE,
                message=INTERNAL_ERROR_MESSAGE,
            )
        ]

    def recover_expired(self, max_attempts: int) -> tuple[list[str], list[str]]:
        """RUNNING tasks whose lease ran out (their process died) run again, or FAIL once
        they have used their attempts. Returns (requeued, failed)."""
        expired = (Task.status == TaskStatus.RUNNING, (Task.lease_until < time.time()) | Task.lease_until.is_(None))
        with Session(self.db) as session:
            rows = session.execute(select(Task.id, Task.attempts).where(*expired)).all()
        requeued, failed = [], []
        for task_id, attempts in rows:
            if attempts < max_attempts:
                stmt = (
                    update(Task)
                    .where(Task.id == task_id, *expired)
                    .values(status=TaskStatus.PENDING, lease_owner=None, lease_until=None)
                )
                with Session(self.db) as session, session.begin():
                    if rowcount(session, stmt) == 1:
                        requeued.append(task_id)
                        announce(session, NEW, task_id)
            elif self._end(
                task_id,
                (TaskStatus.RUNNING,),
                TaskStatus.FAILED,
                *expired[1:],
                code=INTERRUPTED_CODE,
                message=INTERRUPTED_MESSAGE,
            ):
                failed.append(task_id)
        return requeued, failed

    def purge(self, older_than: float) -> list[str]:
        """Delete finished tasks submitted before ``older_than`` (their callbacks, and webhooks
        finished as long ago, too); returns their ids."""
        with Session(self.db) as session, session.begin():
            ids = list(session.scalars(select(Task.id).where(Task.submit_time < older_than, Task.status.in_(TERMINAL))))
            if ids:
                session.query(Task).filter(Task.id.in_(ids)).delete(synchronize_session=False)
            forget_callbacks(session, ids, older_than)
            return ids


def _requeued(attempts: int | ColumnElement[int]) -> dict[str, Any]:
    """The values that put a RUNNING task back PENDING, for any process to claim: what its run
    published dropped, its claim undone (``attempts``: the count without that run)."""
    return {
        "status": TaskStatus.PENDING,
        "results": None,
        "progress": None,
        "attempts": attempts,
        "scheduled_time": None,
        "lease_owner": None,
        "lease_until": None,
    }
