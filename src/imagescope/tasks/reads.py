"""The task query's read path: the caller's key and the task in one statement; and the
account's task list (``GET /api/v1/tasks``).

``GET /api/v1/tasks/{id}`` is the call clients make most (the SDK polls it every second of every
task), so it is kept lean: one SQL statement that finds the key by its hash and, joined to it,
the task of the key's account — no ORM session or objects, no second round trip for the
authentication. What it answers is the same as ``Accounts.authenticate`` then
``TaskStore.get``: a revoked or unknown key is no caller; another account's task is no task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from imagescope.accounting.accounts import Caller, hash_key
from imagescope.db import ApiKey, Database, Task
from imagescope.tasks.records import TaskRecord

_keys, _tasks = ApiKey.__table__, Task.__table__

# Labelled so that the task's columns keep their own names (TaskRecord.from_row reads those).
_STATEMENT = (
    select(
        _keys.c.id.label("key_id"),
        _keys.c.account_id.label("key_account_id"),
        _keys.c.workspace_id.label("key_workspace_id"),
        _keys.c.revoked_at.label("key_revoked_at"),
        *_tasks.c,
    )
    .select_from(
        _keys.outerjoin(_tasks, (_tasks.c.id == bindparam("task_id")) & (_tasks.c.account_id == _keys.c.account_id))
    )
    .where(_keys.c.key_hash == bindparam("key_hash"))
)


@dataclass(frozen=True)
class TaskQuery:
    """Filters of ``GET /api/v1/tasks``; times are Unix seconds."""

    start_time: float | None = None
    end_time: float | None = None
    model: str | None = None
    status: str | None = None
    page_no: int = 1
    page_size: int = 10


class TaskReads:
    def __init__(self, db: Database):
        self.db = db

    def caller_and_task(self, key: str, task_id: str) -> tuple[Caller | None, TaskRecord | None]:
        """The key's caller (None: unknown or revoked) and, if it has one, its account's task
        ``task_id`` (None: no such task of that account)."""
        with self.db.connect() as connection:
            row = connection.execute(_STATEMENT, {"key_hash": hash_key(key), "task_id": task_id}).first()
        if row is None or row.key_revoked_at is not None:
            return None, None
        who = Caller(account_id=row.key_account_id, api_key_id=row.key_id, workspace_id=row.key_workspace_id)
        if row.id is None:
            return who, None
        # A Core row has the task's columns as attributes, which is all from_row reads.
        return who, TaskRecord.from_row(cast(Any, row))

    def list(self, account_id: int, query: TaskQuery, not_before: float) -> tuple[list[TaskRecord], int]:
        """A page of the account's tasks submitted since ``not_before`` that match ``query``,
        newest first, and how many match in all."""
        conditions = [Task.account_id == account_id, Task.submit_time >= not_before]
        if query.start_time is not None:
            conditions.append(Task.submit_time >= query.start_time)
        if query.end_time is not None:
            conditions.append(Task.submit_time <= query.end_time)
        if query.model:
            conditions.append(Task.model == query.model)
        if query.status:
            conditions.append(Task.status == query.status)
        with Session(self.db) as session:
            total = session.scalar(select(func.count()).select_from(Task).where(*conditions))
            rows = session.scalars(
                select(Task)
                .where(*conditions)
                .order_by(Task.submit_time.desc())
                .offset((query.page_no - 1) * query.page_size)
                .limit(query.page_size)
            )
            return [TaskRecord.from_row(r) for r in rows], total or 0
