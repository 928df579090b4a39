"""``/admin/v1``: administration over HTTP (our addition to the DashScope API).

Guarded by the deployment's admin token (``IMAGESCOPE_ADMIN_TOKEN``), sent as
``Authorization: Bearer …``; a user's API key never opens it. Without a configured
token the admin API does not exist (404).
"""

from __future__ import annotations

import hmac
import time
from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from imagescope.accounting.accounts import AccountInfo, Accounts, UnknownWorkspace, WorkspaceExists
from imagescope.accounting.usage import GRANULARITIES, usage_report
from imagescope.db import Account, LedgerEntry
from imagescope.errors import Conflict, NotFound, Unauthenticated, invalid_parameter, shown, url_not_found
from imagescope.http import answers, reply
from imagescope.http.deps import services_of
from imagescope.http.wire import response_schema


def admin(request: Request) -> Accounts:
    services = services_of(request)
    token = services.settings.admin_token
    if not token:
        raise url_not_found()
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthenticated("InvalidApiKey", "Invalid admin token.")
    return services.accounts


router = APIRouter(prefix="/admin/v1", dependencies=[Depends(admin)])


def _existing(accounts: Accounts, name: str) -> AccountInfo:
    info = accounts.get_account(name)
    if info is None:
        raise NotFound("NotFound", f"Account {shown(name)} does not exist.")
    return info


def _unicode(value: str) -> str:
    """No lone surrogates: a name is stored and shown as UTF-8."""
    try:
        value.encode()
    except UnicodeEncodeError:
        raise ValueError("not valid Unicode") from None
    return value


# Names as stored (String(128) columns); counts within what a database integer holds with room.
Name = Annotated[str, Field(min_length=1, max_length=128), AfterValidator(_unicode)]
Label = Annotated[str, Field(max_length=128), AfterValidator(_unicode)]
MAX_COUNT = 10**9


class AdminBody(BaseModel):
    """Admin bodies take exactly their types: ``"yes"`` is not a boolean, ``"5"`` not a number."""

    model_config = ConfigDict(strict=True)


class NewAccount(AdminBody):
    name: Name


class NewKey(AdminBody):
    name: Label = ""
    workspace: Name | None = None  # id or name; default workspace when absent


class NewWorkspace(AdminBody):
    name: Name


class Limits(AdminBody):
    model: Name = "*"
    submit_rps: int | None = Field(default=None, ge=1, le=MAX_COUNT)
    concurrency: int | None = Field(default=None, ge=1, le=MAX_COUNT)


class Quota(AdminBody):
    model: Name = "*"
    free_quota: int = Field(ge=0, le=MAX_COUNT)


class FreeOnly(AdminBody):
    free_only: bool


@router.get("/accounts", responses={200: response_schema(answers.Accounts)})
def list_accounts(request: Request, accounts: Accounts = Depends(admin)) -> dict[str, Any]:
    return reply(request, {"accounts": [asdict(a) for a in accounts.list_accounts()]})


@router.post("/accounts", responses={200: response_schema(answers.OneAccount)})
def create_account(body: NewAccount, request: Request, accounts: Accounts = Depends(admin)) -> dict[str, Any]:
    return reply(request, {"account": asdict(accounts.create_account(body.name))})


@router.post("/accounts/{name}/keys", responses={200: response_schema(answers.NewKey)})
def create_key(name: str, body: NewKey, request: Request, accounts: Accounts = Depends(admin)) -> dict[str, Any]:
    _existing(accounts, name)
    try:
        key, info = accounts.create_key(name, body.name, body.workspace)
    except UnknownWorkspace as exc:
        raise invalid_parameter(str(exc)) from None
    return reply(request, {"key": key, "key_info": asdict(info)})  # the key is shown this once


@router.get("/keys", responses={200: response_schema(answers.Keys)})
def list_keys(request: Request, accounts: Accounts = Depends(admin)) -> dict[str, Any]:
    return reply(request, {"keys": [asdict(k) for k in accounts.list_keys()]})


@router.delete("/keys/{key_id}", responses={200: response_schema(answers.Revoked)})
def revoke_key(key_id: int, request: Request, accounts: Accounts = Depends(admin)) -> dict[str, Any]:
    if not 0 < key_id < 2**63 or not accounts.revoke(key_id):  # beyond a database integer: no such key
        raise NotFound("NotFound", f"No active key with id {key_id}.")
    return reply(request, {"revoked": key_id})


@router.post("/accounts/{name}/workspaces", responses={200: response_schema(answers.OneWorkspace)})
def create_workspace(
    name: str, body: NewWorkspace, request: Request, accounts: Accounts = Depends(admin)
) -> dict[str, Any]:
    _existing(accounts, name)
    try:
        workspace = accounts.create_workspace(name, body.name)
    except WorkspaceExists as exc:
        raise Conflict("Conflict", f"{exc}.") from None
    return reply(request, {"workspace": asdict(workspace)})


@router.get("/workspaces", responses={200: response_schema(answers.Workspaces)})
def list_workspaces(request: Request, accounts: Accounts = Depends(admin)) -> dict[str, Any]:
    return reply(request, {"workspaces": [asdict(w) for w in accounts.list_workspaces()]})


@router.get("/accounts/{name}/webhook-secret", responses={200: response_schema(answers.OneWebhookSecret)})
def webhook_secret(name: str, request: Request) -> dict[str, Any]:
    """The key the account's completion webhooks are signed with; made now if it has none."""
    return _webhook_secret(request, name, rotate=False)


@router.post("/accounts/{name}/webhook-secret/rotate", responses={200: response_schema(answers.OneWebhookSecret)})
def rotate_webhook_secret(name: str, request: Request) -> dict[str, Any]:
    """A new signing key: every webhook tried from now on, retries included, is signed with it."""
    return _webhook_secret(request, name, rotate=True)


def _webhook_secret(request: Request, name: str, rotate: bool) -> dict[str, Any]:
    info = services_of(request).webhook_secrets.show(name, rotate=rotate)
    if info is None:
        raise NotFound("NotFound", f"Account {shown(name)} does not exist.")
    return reply(request, {"webhook_secret": asdict(info)})


@router.put("/accounts/{name}/limits", responses={200: response_schema(answers.OneAccount)})
def set_limits(name: str, body: Limits, request: Request, accounts: Accounts = Depends(admin)) -> dict[str, Any]:
    _existing(accounts, name)
    accounts.set_model_values(name, body.model, submit_rps=body.submit_rps, concurrency=body.concurrency)
    return reply(request, {"account": asdict(_existing(accounts, name))})


@router.put("/accounts/{name}/quota", responses={200: response_schema(answers.OneAccount)})
def set_quota(name: str, body: Quota, request: Request, accounts: Accounts = Depends(admin)) -> dict[str, Any]:
    _existing(accounts, name)
    accounts.set_model_values(name, body.model, free_quota=body.free_quota)
    return reply(request, {"account": asdict(_existing(accounts, name))})


@router.put("/accounts/{name}/free-only", responses={200: response_schema(answers.OneAccount)})
def set_free_only(name: str, body: FreeOnly, request: Request, accounts: Accounts = Depends(admin)) -> dict[str, Any]:
    _existing(accounts, name)
    accounts.set_free_only(name, body.free_only)
    return reply(request, {"account": asdict(_existing(accounts, name))})


def _window(start: float | None, end: float | None, default_span: float) -> tuple[float, float]:
    end = time.time() if end is None else end
    return (end - default_span if start is None else start), end


@router.get("/usage", responses={200: response_schema(answers.Usage)})
def usage(
    request: Request,
    granularity: str = Query("hour"),
    start: float | None = Query(
        None, allow_inf_nan=False, description="Unix seconds; default: 24 h (hour) or 30 days (day) back"
    ),
    end: float | None = Query(None, allow_inf_nan=False, description="Unix seconds; default: now"),
    account: str | None = None,
    model: str | None = None,
) -> dict[str, Any]:
    if granularity not in GRANULARITIES:
        raise invalid_parameter(f"granularity must be one of: {', '.join(GRANULARITIES)}")
    begin, finish = _window(start, end, 86400 if granularity == "hour" else 30 * 86400)
    rows = usage_report(services_of(request).db, granularity, begin, finish, account, model)
    return reply(
        request, {"granularity": granularity, "start": begin, "end": finish, "usage": [r.to_dict() for r in rows]}
    )


@router.get("/ledger", responses={200: response_schema(answers.Ledger)})
def ledger(
    request: Request,
    account: str | None = None,
    model: str | None = None,
    start: float | None = Query(None, allow_inf_nan=False),
    end: float | None = Query(None, allow_inf_nan=False),
    limit: int = Query(1000, ge=1, le=10000),
) -> dict[str, Any]:
    """Ledger rows, newest first (at most ``limit``), and the totals of every matching row."""
    conditions: list[ColumnElement[bool]] = []
    if account:
        conditions.append(LedgerEntry.account_id == select(Account.id).where(Account.name == account).scalar_subquery())
    if model:
        conditions.append(LedgerEntry.model == model)
    if start is not None:
        conditions.append(LedgerEntry.at >= start)
    if end is not None:
        conditions.append(LedgerEntry.at < end)
    with Session(services_of(request).db) as session:
        entries = session.scalars(
            select(LedgerEntry).where(*conditions).order_by(LedgerEntry.at.desc()).limit(limit)
        ).all()
        images, amount = session.execute(
            select(
                func.coalesce(func.sum(LedgerEntry.images), 0), func.coalesce(func.sum(LedgerEntry.amount), 0.0)
            ).where(*conditions)
        ).one()
    rows = [
        {
            c: getattr(e, c)
            for c in ("task_id", "account_id", "api_key_id", "model", "images", "unit_price", "kind", "amount", "at")
        }
        for e in entries
    ]
    return reply(
        request,
        {
            "entries": rows,
            "total_images": int(images),
            "total_amount": round(float(amount), 6),
        },
    )
