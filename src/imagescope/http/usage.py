"""``GET /api/v1/usage``: a key holder's own usage (our addition to the DashScope API).

The hosted console shows an account its usage; the API gave a key holder none, so the web
console had to count from the task listing (kept a day) and needed the admin token for spend
and the free quota. This answers the caller's account only (from its key, never another's):
per model and UTC day, the same report as ``/admin/v1/usage`` (``accounting/usage.py``),
and per model the free quota left as billing applies it.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, Depends, Query, Request

from imagescope.accounting.accounts import Caller
from imagescope.accounting.billing import DAY_S
from imagescope.accounting.usage import free_quota_left, usage_report
from imagescope.http import answers, reply
from imagescope.http.deps import caller, services_of
from imagescope.http.params import query_integer
from imagescope.http.wire import response_schema

router = APIRouter()

MAX_DAYS = 90
DEFAULT_DAYS = 30


@router.get("/api/v1/usage", responses={200: response_schema(answers.OwnUsage)})
def own_usage(
    request: Request,
    who: Caller = Depends(caller),
    days: str | None = Query(
        None, description=f"UTC days to report, today included: 1–{MAX_DAYS} (default {DEFAULT_DAYS})."
    ),
) -> dict[str, Any]:
    span = query_integer(days, "days", 1, MAX_DAYS, DEFAULT_DAYS)
    services = services_of(request)
    now = time.time()
    end = now - now % DAY_S + DAY_S  # the end of today (UTC)
    start = end - span * DAY_S
    rows = usage_report(services.db, "day", start, end, account_id=who.account_id)
    quotas = free_quota_left(services.db, who.account_id, services.catalog, now)
    usage = [
        {
            "date": row.period,
            **{k: v for k, v in row.to_dict().items() if k not in ("period", "account")},
        }
        for row in rows
    ]
    return reply(
        request,
        {
            "days": span,
            "start": start,
            "end": end,
            "usage": usage,
            "free_quota": [asdict(q) for q in quotas],
        },
    )
