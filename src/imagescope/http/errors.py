"""The error body every failed request answers, as the hosted service shapes it, documented
in ``/openapi.json`` for every route (clients and schema fuzzers read it there)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


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
