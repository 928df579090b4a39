"""Billing: only successfully generated images (and seconds of video) are charged, free quota first.

Every charge is a ledger row (task, account, key, model, images, unit price, free/paid,
amount, time); totals are always recomputed from the ledger, never kept on the side.
An account flagged "free quota only" is never charged: its submissions are refused once the
quota is gone, and images of tasks already accepted beyond it are recorded as free.

Video is billed by the second of video successfully generated (spec 000's FAQ): a video model's
ledger rows count seconds in their ``images`` column, at the model's price per second for the
task's tier (``models/video.py``; wan2.6-i2v-flash half of it when asked for no sound). Its
free quota is in seconds too (``ModelSpec.free_quota``), and a failed task is never charged,
as a failed image is not. "The free quota is shared across image and video generation models"
(spec 000) reads here as: one free quota programme, every model its own quota (images or
seconds), all counted from the same account activation and expiring together; one model's use
never eats another's, as the image models' never did. A model's two names (wanx2.1-* and
wan2.1-*) are one model: its quota counts the use of both (``ModelSpec.quota_names``).

A model with an ``extend_price`` (z-image-turbo's "thinking") is charged that price per image
when the task's ``prompt_extend`` was on; its free quota counts the image once either way.
"""

from __future__ import annotations

import time

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from imagescope.db import Account, LedgerEntry, Task
from imagescope.models.catalog import ModelSpec
from imagescope.models.video import SILENT_DISCOUNT
from imagescope.tasks.records import request_from_json
from imagescope.tasks.spec import VideoSpec

DAY_S = 24 * 3600


def free_images_used(session: Session, account_id: int, spec: ModelSpec) -> int:
    """Free images (a video model's: seconds) the account has had of the model, under any of its names."""
    return session.execute(
        select(func.coalesce(func.sum(LedgerEntry.images), 0)).where(
            LedgerEntry.account_id == account_id,
            LedgerEntry.model.in_(spec.quota_names),
            LedgerEntry.kind == "free",
        )
    ).scalar_one()  # an aggregate: always one row


def free_images_left(
    session: Session, account: Account, spec: ModelSpec, quota: int, now: float | None = None, used: int | None = None
) -> int:
    """The free images (seconds) of the model the account has left: 0 once expired. ``used``:
    ``free_images_used``'s answer when the caller has it already."""
    now = time.time() if now is None else now
    if now > account.activated_at + spec.free_quota_days * DAY_S:
        return 0  # expired
    return max(0, quota - (free_images_used(session, account.id, spec) if used is None else used))


def unit_price(task: Task, spec: ModelSpec) -> float:
    """The price of one image (or one second of video) of ``task``, from its stored request."""
    if spec.video is None and spec.extend_price <= 0:
        return spec.unit_price
    request = request_from_json(task.request)
    if isinstance(request.options, VideoSpec) and spec.video is not None:
        video = request.options
        price = spec.video.price(video.resolution, spec.unit_price)
        return price if video.audio or not spec.video.sound else price * SILENT_DISCOUNT.get(spec.name, 1.0)
    if spec.extend_price > 0 and request.prompt_extend:
        return spec.extend_price
    return spec.unit_price


def charge(session: Session, task: Task, images: int, spec: ModelSpec, quota: int) -> list[LedgerEntry]:
    """Record the charge for ``images`` successful images (a video model's: seconds) of ``task``
    (none for 0)."""
    if images <= 0:
        return []
    account = session.get(Account, task.account_id)
    assert account is not None, task.account_id  # tasks.account_id references accounts.id
    free = images if account.free_only else min(images, free_images_left(session, account, spec, quota))
    now = time.time()
    price_each = unit_price(task, spec)
    entries: list[LedgerEntry] = []
    for kind, count in (("free", free), ("paid", images - free)):
        if count:
            price = 0.0 if kind == "free" else price_each
            entries.append(
                LedgerEntry(
                    task_id=task.id,
                    account_id=task.account_id,
                    api_key_id=task.api_key_id,
                    model=task.model,
                    images=count,
                    unit_price=price_each,
                    kind=kind,
                    amount=round(price * count, 6),
                    at=now,
                )
            )
    session.add_all(entries)
    return entries
