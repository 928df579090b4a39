"""Errors over HTTP: the one place a kind of error (errors.py) becomes a status, the body every
failed request answers (``{request_id, code, message}``), and its documentation in
``/openapi.json`` for every route (clients and schema fuzzers read it there)."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from imagescope.errors import (
    Conflict,
    Failed,
    Forbidden,
    NotFound,
    Refused,
    ServiceError,
    Throttled,
    Unauthenticated,
    Unavailable,
)


class ErrorBody(BaseModel):
    """``{request_id, code, message}`` with the hosted service's HTTP status and code."""

    request_id: str = Field(description="The request's id, also in the X-Request-Id header.")
    code: str = Field(description='The hosted service\'s error code, e.g. "InvalidParameter".')
    message: str = Field(description="What went wrong, for a person; never internal detail.")


_MEANINGS = {
    400: "InvalidParameter and other refusals of the request (BadRequest.*, InvalidObjectName, ...)",
    401: "InvalidApiKey",
    403: "AccessDenied, Workspace.AccessDenied, an expired or forged signature",
    404: "An unknown model, task, file or route",
    409: "Conflict: a name already taken, an upload that would overwrite",
    411: "MissingContentLength (uploads)",
    413: "BadRequest.TooLarge: the body passes its route's cap",
    429: "Throttling.RateQuota and other limits",
    500: "InternalError (generic message), RequestTimeOut",
    503: "ServiceUnavailable: storage or the database is failing; try again",
}

# Every route may answer these; FastAPI documents them on each operation.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": meaning} for status, meaning in _MEANINGS.items()
}


class HttpError(ServiceError):
    """A refusal of the HTTP exchange itself (a body too large, a length missing, a method not
    allowed), whose status is the protocol's, not a kind's."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(code, message)
        self.status = status


# The one place a kind of error becomes an HTTP status (errors.py draws the kinds).
STATUS: dict[type[ServiceError], int] = {
    Refused: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFound: 404,
    Conflict: 409,
    Throttled: 429,
    Failed: 500,
    Unavailable: 503,
}


def status_of(error: ServiceError) -> int:
    if isinstance(error, HttpError):
        return error.status
    for kind in type(error).__mro__:
        if kind in STATUS:
            return STATUS[kind]
    return 500


def error_response(request_id: str, error: ServiceError) -> JSONResponse:
    """``{request_id, code, message}`` with the error's status (RequestIds adds X-Request-Id)."""
    # A message is UTF-8 on the wire: a lone surrogate that slipped into one is shown escaped.
    message = error.message.encode("utf-8", "backslashreplace").decode()
    return JSONResponse(
        {"request_id": request_id, "code": error.code, "message": message}, status_code=status_of(error)
    )
