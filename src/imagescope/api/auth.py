"""``Authorization: Bearer sk-…`` → the calling account; anything else → 401 InvalidApiKey."""

from __future__ import annotations

from fastapi import Request

from ..accounts import Caller
from ..errors import invalid_api_key


def caller(request: Request) -> Caller:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise invalid_api_key()
    found = request.app.state.services.accounts.authenticate(key.strip())
    if found is None:
        raise invalid_api_key()
    return found
