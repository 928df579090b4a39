"""``Authorization: Bearer sk-…`` → the calling account; anything else → 401 InvalidApiKey.

A key belongs to one workspace of its account. ``X-DashScope-WorkSpace`` may name it;
naming any other workspace is refused with 403 Workspace.AccessDenied, as the hosted
service does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Request

from imagescope.accounting.accounts import Caller
from imagescope.errors import invalid_api_key, workspace_access_denied

if TYPE_CHECKING:  # wiring imports the routes' collaborators; at run time the object is all we need
    from imagescope.wiring import Services

WORKSPACE_HEADER = "x-dashscope-workspace"


def services_of(request: Request) -> Services:
    """The running server's parts, which ``app.create_app`` keeps on ``app.state``."""
    services: Services = request.app.state.services  # app.state is untyped: this names its type
    return services


def bearer_key(request: Request) -> str:
    """The key of ``Authorization: Bearer sk-…``; anything else is 401 InvalidApiKey."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise invalid_api_key()
    return key.strip()


def admitted(request: Request, found: Caller | None) -> Caller:
    """The key's caller, if the key is known and the request names no other workspace."""
    if found is None:
        raise invalid_api_key()
    workspace = request.headers.get(WORKSPACE_HEADER, "").strip()
    if workspace and workspace != found.workspace_id:
        raise workspace_access_denied()
    return found


def caller(request: Request) -> Caller:
    return admitted(request, services_of(request).accounts.authenticate(bearer_key(request)))
