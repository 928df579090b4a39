"""Errors as the service reports them: a DashScope ``code`` and a ``message`` written for the
caller. Below ``http/`` code raises these; the subclass says what kind of trouble it is, and
``http/errors.py`` alone turns a kind into an HTTP status::

    ServiceError
    ├── Refused          the request cannot be done as asked (400: InvalidParameter, BadRequest.*)
    ├── Unauthenticated  no valid key (401)
    ├── Forbidden        not allowed (403)
    ├── NotFound         no such model, task, file or route (404)
    ├── Conflict         a name already taken, an upload that would overwrite (409)
    ├── Throttled        a rate or quota limit (429)
    ├── Failed           ours: an internal error, a time-out (500)
    └── Unavailable      storage or the database failing: try again (503)

Every error leaves the server as ``{request_id, code, message}``; anything else raised becomes
the generic InternalError, its text kept in the log.
"""

from __future__ import annotations

from imagescope.inspection import DATA_INSPECTION_FAILED, INPUT_INSPECTION_MESSAGE


class ServiceError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class Refused(ServiceError):
    """The request (or one of its inputs) cannot be done as asked: the caller may ask otherwise."""


class Unauthenticated(ServiceError):
    """No valid API key or admin token."""


class Forbidden(ServiceError):
    """The caller may not do this (another workspace, a forged signature, a synchronous call)."""


class NotFound(ServiceError):
    """No such model, task, file, account or route."""


class Conflict(ServiceError):
    """A name already taken, an upload that would overwrite another."""


class Throttled(ServiceError):
    """A rate or quota limit."""


class Failed(ServiceError):
    """The service's own failure: an internal error, a time-out."""


class Unavailable(ServiceError):
    """Storage or the database is failing for the service's reasons; trying again is right."""


SHOWN_CHARS = 48  # an error message repeats at most this much of a bad value


def shown(value: object) -> str:
    """A bad value as an error message repeats it: its ``repr``, ASCII only, cut short, so a
    1 MB value never makes a 1 MB error and no lone surrogate can break the error body."""
    try:
        text = ascii(value)
    except ValueError:  # an int past Python's digit limit
        return "<a number too long to show>"
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def invalid_parameter(message: str) -> Refused:
    return Refused("InvalidParameter", message)


def invalid_api_key() -> Unauthenticated:
    return Unauthenticated("InvalidApiKey", "Invalid API-key provided.")


def workspace_access_denied() -> Forbidden:
    return Forbidden("Workspace.AccessDenied", "Workspace access denied.")


def body_invalid() -> Refused:
    return invalid_parameter("Required body invalid, please check the request body format.")


def synchronous_call_unsupported() -> Forbidden:
    return Forbidden("AccessDenied", "current user api does not support synchronous calls")


def model_not_found() -> NotFound:
    return NotFound("InvalidParameter", "Model not exist.")  # the hosted service's code, with a 404


def cancel_unsupported() -> Refused:
    return Refused(
        "UnsupportedOperation",
        "Failed to cancel the task, please confirm if the task is in PENDING status.",
    )


def url_not_found() -> NotFound:
    return NotFound("NotFound", "url error, please check url!")


def data_inspection_failed() -> Refused:
    """The prompt or an input image did not pass content inspection (the hosted code and message)."""
    return Refused(DATA_INSPECTION_FAILED, INPUT_INSPECTION_MESSAGE)


def internal_error() -> Failed:
    return Failed(
        "InternalError",
        "An internal error has occured, please try again later or contact service support.",
    )


def request_timeout() -> Failed:
    return Failed("RequestTimeOut", "Request timed out, please try again later.")


def task_error(code: str, message: str) -> ServiceError:
    """A failed task's stored error, raised again by the synchronous call that waited for it: the
    request's fault (its inputs, a refused job) or ours, told apart by the documented code families."""
    if code.startswith(("InvalidParameter", "BadRequest", "DataInspection")):
        return Refused(code, message)
    return Failed(code, message)


# Codes a task (or one of its images) can end with.
INVALID_PARAMETER_CODE = "InvalidParameter"  # the engine refused the job as asked (engines.JobRefused)
INTERNAL_ERROR_CODE = "InternalError"
INTERNAL_ERROR_MESSAGE = internal_error().message
INTERRUPTED_CODE = "InternalError.Interrupted"
INTERRUPTED_MESSAGE = "The task was interrupted by a service restart and could not be completed, please try again."


def service_unavailable() -> Unavailable:
    """Storage or the database failed for the service's reasons: nothing was accepted. Clients
    treat its 503 as "try again" (the dashscope SDK repeats 503 task queries)."""
    return Unavailable("ServiceUnavailable", "Service temporarily unavailable, please try again later.")
