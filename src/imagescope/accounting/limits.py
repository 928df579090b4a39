"""Admission: the per-account limits the hosted service enforces (spec 000–003).

- Submission rate: ``submit_rps`` tasks per second per account and model; more → 429
  ``Throttling.RateQuota``.
- Concurrency: at most ``concurrency`` tasks RUNNING per account and model; the rest wait
  PENDING (enforced where workers claim tasks, ``TaskStore.claim_next``).
- "Free quota only": once the model's free quota is used up or expired, submissions
  are refused with 429 ``Throttling.AllocationQuota``.

Every check runs inside a write-locked transaction (``db.write_locked``), so the limits are
exact across threads and across server processes sharing one database.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from imagescope.accounting.billing import free_images_left
from imagescope.db import Account, AccountModelSetting, Submission
from imagescope.errors import Throttled
from imagescope.models.catalog import ModelSpec

WINDOW_S = 1.0


def rate_limited() -> Throttled:
    return Throttled("Throttling.RateQuota", "Requests rate limit exceeded, please try again later.")


def free_quota_exceeded() -> Throttled:
    return Throttled("Throttling.AllocationQuota", "Free allocated quota exceeded.")


@dataclass(frozen=True)
class Limits:
    submit_rps: int
    concurrency: int
    free_quota: int


def effective_limits(session: Session, account_id: int, spec: ModelSpec) -> Limits:
    """The catalog's values, overridden by the account's "*" row, then its row for the model."""
    values = {"submit_rps": spec.submit_rps, "concurrency": spec.concurrency, "free_quota": spec.free_quota}
    rows = session.scalars(
        select(AccountModelSetting).where(
            AccountModelSetting.account_id == account_id, AccountModelSetting.model.in_(("*", spec.name))
        )
    ).all()
    for row in sorted(rows, key=lambda r: r.model != "*"):  # "*" first, the model's own row wins
        for name in values:
            if (v := getattr(row, name)) is not None:
                values[name] = v
    return Limits(**values)


def admit_submission(session: Session, account_id: int, spec: ModelSpec) -> None:
    """Raise the hosted service's error if this submission may not be accepted; else record it."""
    now = time.time()
    limits = effective_limits(session, account_id, spec)
    account = session.get(Account, account_id)
    assert account is not None, account_id  # the caller's key belongs to it (api_keys.account_id)
    if account.free_only and free_images_left(session, account, spec, limits.free_quota) <= 0:
        raise free_quota_exceeded()
    session.execute(delete(Submission).where(Submission.at < now - WINDOW_S))
    recent = session.execute(
        select(func.count())
        .select_from(Submission)
        .where(Submission.account_id == account_id, Submission.model == spec.name, Submission.at >= now - WINDOW_S)
    ).scalar_one()  # an aggregate: always one row
    if recent >= limits.submit_rps:
        raise rate_limited()
    session.add(Submission(account_id=account_id, model=spec.name, at=now))
