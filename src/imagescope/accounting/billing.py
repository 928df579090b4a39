"""Billing: only successfully generated images are charged, free quota first.

Every charge is a ledger row (task, account, key, model, images, unit price, free/paid,
amount, time); totals are always recomputed from the ledger, never kept on the side.
An account flagged "free quota only" is never charged: its submissions are refused once the
quota is gone, and images of tasks already accepted beyond it are recorded as free.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from imagescope.db import Account, LedgerEntry, Task
from imagescope.models.catalog import ModelSpec

DAY_S = 24 * 3600


def free_images_used(session: Session, account_id: int, model: str) -> int:
    return session.execute(
        select(func.coalesce(func.sum(LedgerEntry.images), 0)).where(
            LedgerEntry.account_id == account_id, LedgerEntry.model == model, LedgerEntry.kind == "free"
        )
    ).scalar_one()  # an aggregate: always one row


def free_images_left(session: Session, account: Account, spec: ModelSpec, quota: int, now: float | None = None) -> int:
    now = time.time() if now is None else now
    if now > account.activated_at + spec.free_quota_days * DAY_S:
        return 0  # expired
    return max(0, quota - free_images_used(session, account.id, spec.name))


def charge(session: Session, task: Task, images: int, spec: ModelSpec, quota: int) -> list[LedgerEntry]:
    """Record the charge for ``images`` successful images of ``task`` (none for 0)."""
    if images <= 0:
        return []
    account = session.get(Account, task.account_id)
    assert account is not None, task.account_id  # tasks.account_id references accounts.id
    free = images if account.free_only else min(images, free_images_left(session, account, spec, quota))
    now = time.time()
    entries: list[LedgerEntry] = []
    for kind, count in (("free", free), ("paid", images - free)):
        if count:
            price = 0.0 if kind == "free" else spec.unit_price
            entries.append(
                LedgerEntry(
                    task_id=task.id,
                    account_id=task.account_id,
                    api_key_id=task.api_key_id,
                    model=task.model,
                    images=count,
                    unit_price=spec.unit_price,
                    kind=kind,
                    amount=round(price * count, 6),
                    at=now,
                )
            )
    session.add_all(entries)
    return entries
