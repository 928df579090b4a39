"""OpenAI's error envelope for every ``/v1`` path::

    {"error": {"message": "...", "type": "invalid_request_error", "param": "size", "code": "..."}}

with the status the service's error kind has everywhere (``http/errors.py``), so the ``openai``
SDK raises its typed exceptions: 400 BadRequestError, 401 AuthenticationError, 403
PermissionDeniedError, 404 NotFoundError, 409 ConflictError, 429 RateLimitError, 5xx
InternalServerError. ``type`` and ``code`` are OpenAI's where it has one for the trouble
(``invalid_api_key``, ``model_not_found``, ``rate_limit_exceeded``, ``insufficient_quota``);
otherwise ``code`` is the service's own (``InvalidParameter``, ``RequestTimeOut``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from imagescope.errors import NotFound, Refused, ServiceError, Throttled
from imagescope.http.errors import status_of


class InvalidRequest(Refused):
    """A 400 naming the body field at fault (OpenAI's ``param``)."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__("invalid_value", message)
        self.param = param


class UnknownModel(NotFound):
    """A model that is not in the catalog, or makes no images from text alone."""

    param = "model"

    def __init__(self, name: str):
        super().__init__("model_not_found", f"The model {name!r} does not exist or does not make images from text.")


# The service's codes that OpenAI has its own name (and type) for.
_OPENAI_CODES = {
    "InvalidApiKey": ("invalid_request_error", "invalid_api_key"),
    "Throttling.RateQuota": ("requests", "rate_limit_exceeded"),
    "Throttling.AllocationQuota": ("insufficient_quota", "insufficient_quota"),
}


class ErrorDetail(BaseModel):
    message: str = Field(description="What went wrong, for a person.")
    type: str = Field(description='"invalid_request_error", "requests", "insufficient_quota" or "server_error".')
    param: str | None = Field(None, description="The body field at fault, if one is.")
    code: str | None = Field(None, description='e.g. "invalid_api_key", "model_not_found", "rate_limit_exceeded".')


class ErrorEnvelope(BaseModel):
    """OpenAI's error body, with the status the ``openai`` SDK maps to its exception types."""

    error: ErrorDetail


_MEANINGS = {
    400: "invalid_request_error: a malformed body, a bad size, n or field (BadRequestError)",
    401: "invalid_api_key: no valid key (AuthenticationError)",
    403: "a workspace other than the key's (PermissionDeniedError)",
    404: "model_not_found, or an unknown /v1 path (NotFoundError)",
    409: "a conflict (ConflictError)",
    411: "a length missing",
    413: "the body passes the route's cap",
    429: "rate_limit_exceeded, insufficient_quota (RateLimitError)",
    500: "server_error: an internal error, a time-out, a canceled task (InternalServerError)",
    503: "server_error: storage or the database is failing; try again",
}

# The ``responses`` of every /v1 route: they replace the DashScope error bodies documented app-wide.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": meaning} for status, meaning in _MEANINGS.items()
}


def error_body(error: ServiceError) -> dict[str, Any]:
    status = status_of(error)
    kind, code = _OPENAI_CODES.get(error.code, ("", error.code))
    if not kind:
        if status >= 500:
            kind = "server_error"
        elif isinstance(error, Throttled):
            kind = "requests"
        else:
            kind = "invalid_request_error"
    message = error.message.encode("utf-8", "backslashreplace").decode()  # as http/errors.py: no lone surrogate
    param = getattr(error, "param", None)
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def error_response(error: ServiceError) -> JSONResponse:
    """The envelope with the error's status (RequestIds adds X-Request-Id, which the SDK reads)."""
    return JSONResponse(error_body(error), status_code=status_of(error))


# A family protocol's refusal names its field first: "parameters.n must be ...", "input.prompt ...".
_NAMED = re.compile(r"^(?:parameters|input)\.(\w+)")


@contextmanager
def about(param: str | None, label: str = "", fields: Collection[str] = ()) -> Iterator[None]:
    """A DashScope refusal (InvalidParameter) said of OpenAI's field ``param`` — or, None, of the
    field the message names (``parameters.n ...``) when it is one of ``fields`` — with its
    DashScope prefix dropped."""
    try:
        yield
    except InvalidRequest:
        raise
    except Refused as refusal:
        if refusal.code != "InvalidParameter":
            raise  # the hosted codes that mean more (BadRequest.InputDownloadFailed, ...) stay
        message = refusal.message
        named = _NAMED.match(message)
        if named is not None:
            message = message.removeprefix(named[0].partition(".")[0] + ".")
            param = param or (named[1] if named[1] in fields else None)
        raise InvalidRequest(f"{label}{message}", param) from None
