"""Errors as the hosted service reports them: an HTTP status, a ``code`` and a ``message``.

Every error leaves the server as ``{request_id, code, message}`` (see ``app.py``).
"""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


SHOWN_CHARS = 48  # an error message repeats at most this much of a bad value


def shown(value: object) -> str:
    """A bad value as an error message repeats it: its ``repr``, ASCII only, cut short, so a
    1 MB value never makes a 1 MB error and no lone surrogate can break the error body."""
    try:
        text = ascii(value)
    except ValueError:  # an int past Python's digit limit
        return "<a number too long to show>"
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


def invalid_parameter(message: str) -> ApiError:
    return ApiError(400, "InvalidParameter", message)


def invalid_api_key() -> ApiError:
    return ApiError(401, "InvalidApiKey", "Invalid API-key provided.")


def workspace_access_denied() -> ApiError:
    return ApiError(403, "Workspace.AccessDenied", "Workspace access denied.")


def body_invalid() -> ApiError:
    return invalid_parameter("Required body invalid, please check the request body format.")


def synchronous_call_unsupported() -> ApiError:
    return ApiError(403, "AccessDenied", "current user api does not support synchronous calls")


def model_not_found() -> ApiError:
    return ApiError(404, "InvalidParameter", "Model not exist.")


def cancel_unsupported() -> ApiError:
    return ApiError(
        400,
        "UnsupportedOperation",
        "Failed to cancel the task, please confirm if the task is in PENDING status.",
    )


def url_not_found() -> ApiError:
    return ApiError(404, "NotFound", "url error, please check url!")


def internal_error() -> ApiError:
    return ApiError(
        500,
        "InternalError",
        "An internal error has occured, please try again later or contact service support.",
    )


def request_timeout() -> ApiError:
    return ApiError(500, "RequestTimeOut", "Request timed out, please try again later.")


def task_error(code: str, message: str) -> ApiError:
    """A failed task's error, answered by a synchronous call: the caller's fault (400) or ours (500)."""
    status = 400 if code.startswith(("InvalidParameter", "BadRequest", "DataInspection")) else 500
    return ApiError(status, code, message)


# Codes a task (or one of its images) can end with.
INVALID_PARAMETER_CODE = "InvalidParameter"  # the engine refused the job as asked (engines.JobRefused)
INTERNAL_ERROR_CODE = "InternalError"
INTERNAL_ERROR_MESSAGE = internal_error().message
INTERRUPTED_CODE = "InternalError.Interrupted"
INTERRUPTED_MESSAGE = (
    "The task was interrupted by a service restart and could not be completed, please try again."
)


def service_unavailable() -> ApiError:
    """Storage or the database failed for the service's reasons: nothing was accepted. 503 is
    the status HTTP clients treat as "try again" (the dashscope SDK repeats 503 task queries)."""
    return ApiError(503, "ServiceUnavailable", "Service temporarily unavailable, please try again later.")
