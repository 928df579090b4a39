"""Usage per account and model, by hour or day: invocations, success rate, images (or seconds
of video), spend; and the free quota an account has left per model.

Counted from ``invocations`` (one row per accepted task, kept after the task is purged)
and the ledger (spend). Periods are UTC. An invocation counts in the period it was
submitted; its spend in the period it was charged (when the task ended). The admin report
(``/admin/v1/usage``, any account by name) and a key holder's own (``/api/v1/usage``, the
key's account by id) are the same ``usage_report``.

A video model's invocation and ledger rows count seconds of video where an image model's count
images (accounting/billing.py): its rows report ``video_seconds`` and ``free_video_seconds``,
and leave ``images`` and ``free_images`` at 0; its free quota is in seconds (``unit``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from imagescope.accounting.billing import DAY_S, free_images_left, free_images_used
from imagescope.accounting.limits import effective_limits
from imagescope.db import Account, Database, Invocation, LedgerEntry
from imagescope.models.catalog import Catalog
from imagescope.models.video import VIDEO_MODEL_NAMES
from imagescope.tasks.store import TaskStatus

GRANULARITIES = {"hour": 3600, "day": 86400}

Counted = TypeVar("Counted", Invocation, LedgerEntry)  # the tables a report counts rows of


@dataclass
class UsageRow:
    period: str  # "2026-11-21T08:00Z" (hour) or "2026-11-21" (day)
    account: str
    model: str
    invocations: int = 0
    succeeded: int = 0
    failed: int = 0
    canceled: int = 0
    images: int = 0
    free_images: int = 0
    spend: float = 0.0
    video_seconds: int = 0  # a video model's: seconds of video generated successfully
    free_video_seconds: int = 0

    @property
    def success_rate(self) -> float | None:
        """Succeeded over finished (succeeded + failed); canceled and unfinished tasks don't count."""
        finished = self.succeeded + self.failed
        return self.succeeded / finished if finished else None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "spend": round(self.spend, 6), "success_rate": self.success_rate}


def period_label(at: float, granularity: str) -> str:
    step = GRANULARITIES[granularity]
    start = datetime.fromtimestamp(at - at % step, tz=UTC)
    return start.strftime("%Y-%m-%dT%H:00Z" if granularity == "hour" else "%Y-%m-%d")


def usage_report(
    db: Database,
    granularity: str,
    start: float,
    end: float,
    account: str | None = None,
    model: str | None = None,
    account_id: int | None = None,
) -> list[UsageRow]:
    """Rows for every (period, account, model) with activity in [start, end), oldest first;
    only ``account``'s (a name) or ``account_id``'s when given."""
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {sorted(GRANULARITIES)}")
    rows: dict[tuple[str, str, str], UsageRow] = {}

    def row(at: float, account_name: str, model_name: str) -> UsageRow:
        key = (period_label(at, granularity), account_name, model_name)
        if key not in rows:
            rows[key] = UsageRow(*key)
        return rows[key]

    with Session(db) as session:
        names = dict(session.execute(select(Account.id, Account.name)).all())
        wanted_ids = [i for i, n in names.items() if n == account] if account else None
        if account_id is not None:
            wanted_ids = [i for i in wanted_ids or [account_id] if i == account_id]

        def rows_of(table: type[Counted], at: InstrumentedAttribute[float]) -> Iterator[tuple[Counted, UsageRow]]:
            """``table``'s rows in the window, for the account and model asked for."""
            conditions: list[ColumnElement[bool]] = [at >= start, at < end]
            if wanted_ids is not None:
                conditions.append(table.account_id.in_(wanted_ids))
            if model:
                conditions.append(table.model == model)
            for found in session.scalars(select(table).where(*conditions)):
                account_name = names.get(found.account_id, str(found.account_id))
                yield found, row(getattr(found, at.key), account_name, found.model)

        for inv, r in rows_of(Invocation, Invocation.submitted_at):
            r.invocations += 1
            if inv.model in VIDEO_MODEL_NAMES:
                r.video_seconds += inv.images
            else:
                r.images += inv.images
            if inv.status == TaskStatus.SUCCEEDED:
                r.succeeded += 1
            elif inv.status == TaskStatus.FAILED:
                r.failed += 1
            elif inv.status == TaskStatus.CANCELED:
                r.canceled += 1
        for entry, r in rows_of(LedgerEntry, LedgerEntry.at):
            r.spend += entry.amount
            if entry.kind == "free" and entry.model in VIDEO_MODEL_NAMES:
                r.free_video_seconds += entry.images
            elif entry.kind == "free":
                r.free_images += entry.images
    return [rows[k] for k in sorted(rows)]


@dataclass(frozen=True)
class FreeQuota:
    """An account's free images (seconds of video) of one model: its quota (the account's own or
    the catalog's), what the ledger has taken from it, and what is left (0 once expired)."""

    model: str
    free_quota: int
    used: int
    left: int
    expires_at: float  # Unix seconds: the account's activation plus the model's free_quota_days
    unit: str = "images"  # "seconds" for a video model


def free_quota_left(db: Database, account_id: int, catalog: Catalog, now: float) -> list[FreeQuota]:
    """The free quota of every model of the catalog for ``account_id``, as billing applies it."""
    quotas: list[FreeQuota] = []
    with Session(db) as session:
        account = session.get(Account, account_id)
        if account is None:
            return []
        for name in sorted(catalog.models):
            spec = catalog.models[name]
            quota = effective_limits(session, account_id, spec).free_quota
            used = free_images_used(session, account_id, spec)
            left = free_images_left(session, account, spec, quota, now, used)  # billing's own rule
            expires = account.activated_at + spec.free_quota_days * DAY_S
            unit = "seconds" if spec.video is not None else "images"
            quotas.append(FreeQuota(name, quota, used, left, expires, unit))
    return quotas
